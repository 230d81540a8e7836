// When to call CAM again (spec/tencentcloud-cam.md §5): the proactive refresh after each token, the
// backoff after transient failures, and the rate limit of reactive refetches after a
// MySQL 1045. Pure arithmetic: no clock is read and no random number drawn inside;
// callers pass the time and a uniform draw u in [0, 1) (e.g.
// std::uniform_real_distribution<double>(0, 1)(rng)). Not thread-safe: one owner each.
#pragma once

#include <chrono>
#include <cstdint>

namespace camproxy::auth {

using std::chrono::milliseconds;

// Proactive refresh. spec/tencentcloud-cam.md §5: a token's password is the one in
// force until NextRotationTime; the next password exists only once the server has
// rotated (the rotation itself takes LastRotationTimeCost, ~0.3 s in §3's example).
// A fetch *before* the rotation returns the same password again, so camproxy fetches
// once, just *after* it:
//   delay = min(lifetime, max_lifetime) + settle + u * min(lifetime * jitter_fraction, max_jitter)
// lifetime is CamToken::lifetime_ms (NextRotationTime - CurrentTime, server clock, so
// local skew cancels); a zero, negative or missing lifetime counts as the SDKs' 5 s
// (kFallbackLifetimeMs), so an overdue rotation is re-checked every ~6 s, never in a
// busy loop. The jitter spreads a fleet over up to 30 s (CAM allows 100 calls/s). A
// login between the rotation and this fetch gets 1045 and takes the reactive path, or
// finds the token expired and fetches on demand (single-flight).
struct ProactiveRefreshConfig {
  milliseconds settle{1000};
  double jitter_fraction = 0.1;
  milliseconds max_jitter{30000};
  // spec §5: the SDK timers refuse delays over 24 h (MaxDelay). Longer rotation periods
  // (up to 30 days) are re-checked daily, which also notices revoked credentials.
  milliseconds max_lifetime{24 * 3600 * 1000};
  milliseconds floor{1000};
};

milliseconds proactive_refresh_delay(std::int64_t lifetime_ms, double u, const ProactiveRefreshConfig& config = {});

// Exponential backoff with full jitter for transient failures (network, timeouts,
// HTTP 5xx, InternalError, RequestLimitExceeded): after the n-th consecutive failure
// the wait is uniform in [floor, cap_n], cap_n = min(max, initial * multiplier^(n-1)).
// The floor keeps a draw of u = 0 from retrying at once.
struct BackoffConfig {
  milliseconds initial{1000};
  milliseconds max{60000};
  double multiplier = 2.0;
  milliseconds floor{250};
};

class Backoff {
 public:
  explicit Backoff(BackoffConfig config = {}) : config_(config) {}

  // Counts one more failure and returns how long to wait before the next attempt.
  milliseconds next(double u);
  // After a success.
  void reset() { failures_ = 0; }
  std::uint32_t failures() const { return failures_; }
  // The upper bound of the draw after `failures` consecutive failures (>= 1).
  milliseconds cap(std::uint32_t failures) const;

 private:
  BackoffConfig config_;
  std::uint32_t failures_ = 0;
};

// Token bucket: `burst` tokens, one more every `refill_every`. Used for reactive refetches of
// one key (a login rejected with 1045 while its token is still the current one: a truly broken
// account must not hammer CAM) and for the process-wide limit on CAM calls
// (proxy/tokens/cam_call_budget.h). Starts full. Counts every decision.
struct RefetchLimitConfig {
  std::uint32_t burst = 2;
  milliseconds refill_every{5000};
};

class RefetchLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RefetchLimiter(RefetchLimitConfig config = {}) : config_(config), tokens_(config.burst) {}

  // Takes a token if more than `keep` are available at `now`: a caller of lower priority
  // leaves `keep` tokens for the others.
  bool try_acquire(Clock::time_point now, std::uint32_t keep = 0);
  // The earliest time try_acquire can succeed (`now` if it can already).
  Clock::time_point next_allowed(Clock::time_point now) const;

  std::uint64_t allowed() const { return allowed_; }
  std::uint64_t denied() const { return denied_; }

 private:
  struct Bucket {
    std::uint32_t tokens;
    Clock::time_point last_refill;
  };
  Bucket refilled(Clock::time_point now) const;

  RefetchLimitConfig config_;
  std::uint32_t tokens_;
  Clock::time_point last_refill_{};
  std::uint64_t allowed_ = 0, denied_ = 0;
};

}  // namespace camproxy::auth
