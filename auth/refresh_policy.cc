#include "auth/refresh_policy.h"

#include <algorithm>
#include <cmath>

#include "auth/cam_response.h"

namespace camproxy::auth {
namespace {

double unit(double u) { return std::isfinite(u) ? std::clamp(u, 0.0, 1.0) : 0.0; }

milliseconds scaled(milliseconds span, double factor) {
  return milliseconds(static_cast<std::int64_t>(static_cast<double>(span.count()) * factor));
}

}  // namespace

milliseconds proactive_refresh_delay(std::int64_t lifetime_ms, double u, const ProactiveRefreshConfig& config) {
  const milliseconds lifetime =
      std::min(milliseconds(lifetime_ms > 0 ? lifetime_ms : kFallbackLifetimeMs), config.max_lifetime);
  const milliseconds jitter_span = std::min(scaled(lifetime, std::max(config.jitter_fraction, 0.0)), config.max_jitter);
  const milliseconds delay = lifetime + config.settle + scaled(jitter_span, unit(u));
  return std::max(delay, config.floor);
}

milliseconds Backoff::cap(std::uint32_t failures) const {
  double cap = static_cast<double>(config_.initial.count());
  const double max = static_cast<double>(config_.max.count());
  for (std::uint32_t i = 1; i < failures && cap < max; ++i) cap *= config_.multiplier;
  return milliseconds(static_cast<std::int64_t>(std::min(cap, max)));
}

milliseconds Backoff::next(double u) {
  if (failures_ < UINT32_MAX) ++failures_;
  const milliseconds upper = std::max(cap(failures_), config_.floor);
  return config_.floor + scaled(upper - config_.floor, unit(u));
}

RefetchLimiter::Bucket RefetchLimiter::refilled(Clock::time_point now) const {
  // A full bucket banks no time; a clock that went backwards refills nothing.
  if (tokens_ >= config_.burst) return {tokens_, now};
  if (now <= last_refill_ || config_.refill_every.count() <= 0) return {tokens_, last_refill_};
  const auto periods = static_cast<std::uint64_t>((now - last_refill_) / config_.refill_every);
  if (periods == 0) return {tokens_, last_refill_};
  if (periods >= config_.burst - tokens_) return {config_.burst, now};
  return {tokens_ + static_cast<std::uint32_t>(periods),
          last_refill_ + config_.refill_every * static_cast<std::int64_t>(periods)};
}

bool RefetchLimiter::try_acquire(Clock::time_point now, std::uint32_t keep) {
  const Bucket bucket = refilled(now);
  tokens_ = bucket.tokens;
  last_refill_ = bucket.last_refill;
  if (tokens_ <= keep) {
    ++denied_;
    return false;
  }
  --tokens_;
  ++allowed_;
  return true;
}

RefetchLimiter::Clock::time_point RefetchLimiter::next_allowed(Clock::time_point now) const {
  const Bucket bucket = refilled(now);
  if (bucket.tokens > 0) return now;
  return bucket.last_refill + config_.refill_every;
}

}  // namespace camproxy::auth
