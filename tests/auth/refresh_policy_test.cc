// Refresh scheduling arithmetic (issue 3): proactive delay, backoff, reactive limiter.
#include "auth/refresh_policy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace camproxy::auth {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::int64_t kDay = 24 * 3600 * 1000;

TEST(ProactiveRefresh, LandsJustAfterTheRotationWithBoundedJitter) {
  const struct {
    const char* name;
    std::int64_t lifetime_ms;
    double u;
    std::int64_t expected_ms;
  } rows[] = {
      // lifetime + settle 1 s + u * min(10 % of lifetime, 30 s)
      {"24h, no jitter", kDay, 0.0, kDay + 1000},
      {"24h, half jitter (30 s cap)", kDay, 0.5, kDay + 1000 + 15000},
      {"24h, top of the draw", kDay, 0.999999, kDay + 1000 + 29999},
      {"90 s, no jitter", 90000, 0.0, 91000},
      {"90 s, half jitter (9 s span)", 90000, 0.5, 95500},
      {"5 s (the SDK fallback)", 5000, 0.0, 6000},
      {"5 s, half jitter", 5000, 0.5, 6250},
      // Missing, zero or past rotation times: the SDKs' 5 s, not a busy loop.
      {"zero", 0, 0.0, 6000},
      {"negative", -120000, 0.0, 6000},
      {"most negative", std::numeric_limits<std::int64_t>::min(), 0.0, 6000},
      // Rotation periods go up to 30 days; the wait is capped at the SDKs' 24 h.
      {"30 days", 30 * kDay, 0.0, kDay + 1000},
      {"int64 max", std::numeric_limits<std::int64_t>::max(), 1.0, kDay + 1000 + 30000},
      // u outside [0, 1) is clamped; NaN counts as 0.
      {"u above 1", 90000, 7.0, 100000},
      {"u below 0", 90000, -3.0, 91000},
      {"u NaN", 90000, std::nan(""), 91000},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(proactive_refresh_delay(row.lifetime_ms, row.u).count(), row.expected_ms);
  }
}

TEST(ProactiveRefresh, NeverBeforeTheRotationNorBelowTheFloor) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0, 1);
  for (const std::int64_t lifetime :
       {std::int64_t{1}, std::int64_t{999}, std::int64_t{5000}, std::int64_t{60000}, std::int64_t{3600000}, kDay}) {
    for (int i = 0; i < 200; ++i) {
      const milliseconds d = proactive_refresh_delay(lifetime, unit(rng));
      EXPECT_GT(d.count(), lifetime);
      EXPECT_LE(d.count(), lifetime + 1000 + 30000);
    }
  }
  ProactiveRefreshConfig no_settle;
  no_settle.settle = milliseconds(0);
  EXPECT_EQ(proactive_refresh_delay(1, 0.0, no_settle), milliseconds(1000))
      << "a 1 ms lifetime without settle still waits the 1 s floor";
  EXPECT_EQ(proactive_refresh_delay(90000, 0.0, no_settle), milliseconds(90000));
}

TEST(Backoff, DoublesUpToTheCapWithFullJitterAboveTheFloor) {
  Backoff top;  // u = 1: the cap itself
  const std::int64_t caps[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
  for (const std::int64_t cap : caps) EXPECT_EQ(top.next(1.0).count(), cap);
  EXPECT_EQ(top.failures(), 9u);
  top.reset();
  EXPECT_EQ(top.failures(), 0u);
  EXPECT_EQ(top.next(1.0).count(), 1000);

  Backoff bottom;  // u = 0: never an immediate retry
  for (int i = 0; i < 5; ++i) EXPECT_EQ(bottom.next(0.0).count(), 250);

  Backoff half;
  EXPECT_EQ(half.next(0.5).count(), 250 + 375);   // [250, 1000]
  EXPECT_EQ(half.next(0.5).count(), 250 + 875);   // [250, 2000]
  EXPECT_EQ(half.next(0.5).count(), 250 + 1875);  // [250, 4000]
}

TEST(Backoff, RandomDrawsStayWithinTheirStepAndTheCapNeverOverflows) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> unit(0, 1);
  Backoff b;
  for (std::uint32_t n = 1; n <= 40; ++n) {
    const milliseconds d = b.next(unit(rng));
    EXPECT_GE(d.count(), 250);
    EXPECT_LE(d, b.cap(n));
    EXPECT_LE(d.count(), 60000);
  }
  EXPECT_EQ(b.cap(1).count(), 1000);
  EXPECT_EQ(b.cap(4'000'000'000u).count(), 60000);
}

TEST(RefetchLimiter, BurstOfTwoThenOnePerFiveSecondsAndCounts) {
  using Clock = RefetchLimiter::Clock;
  const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1000);
  RefetchLimiter limiter;  // burst 2, one per 5 s
  EXPECT_TRUE(limiter.try_acquire(t0));
  EXPECT_TRUE(limiter.try_acquire(t0));
  EXPECT_FALSE(limiter.try_acquire(t0));
  EXPECT_EQ(limiter.next_allowed(t0), t0 + seconds(5));
  EXPECT_FALSE(limiter.try_acquire(t0 + milliseconds(4999)));
  EXPECT_EQ(limiter.next_allowed(t0 + seconds(5)), t0 + seconds(5));
  EXPECT_TRUE(limiter.try_acquire(t0 + seconds(5)));
  EXPECT_FALSE(limiter.try_acquire(t0 + seconds(7)));
  EXPECT_EQ(limiter.next_allowed(t0 + seconds(7)), t0 + seconds(10));
  EXPECT_TRUE(limiter.try_acquire(t0 + seconds(10)));
  // A long quiet spell refills the bucket, but never beyond the burst.
  const Clock::time_point later = t0 + std::chrono::minutes(10);
  EXPECT_EQ(limiter.next_allowed(later), later);
  EXPECT_TRUE(limiter.try_acquire(later));
  EXPECT_TRUE(limiter.try_acquire(later));
  EXPECT_FALSE(limiter.try_acquire(later));
  EXPECT_EQ(limiter.allowed(), 6u);
  EXPECT_EQ(limiter.denied(), 4u);
  // A clock that goes backwards refills nothing and breaks nothing.
  EXPECT_FALSE(limiter.try_acquire(t0));
  EXPECT_EQ(limiter.denied(), 5u);
}

TEST(RefetchLimiter, ConfigurableBurstAndRate) {
  using Clock = RefetchLimiter::Clock;
  const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1);
  RefetchLimiter one({1, seconds(30)});
  EXPECT_TRUE(one.try_acquire(t0));
  EXPECT_FALSE(one.try_acquire(t0 + seconds(29)));
  EXPECT_TRUE(one.try_acquire(t0 + seconds(30)));
  EXPECT_FALSE(one.try_acquire(t0 + seconds(30)));
}

// The process-wide CAM limit's defaults (proxy/tokens/cam_call_budget.h): 5 per second, bursts
// of 20, and logins for unconfigured accounts keep one token for the configured ones.
TEST(RefetchLimiter, KeepLeavesTokensForHigherPriorityCallers) {
  using Clock = RefetchLimiter::Clock;
  const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1);
  RefetchLimiter cam({20, milliseconds(200)});
  int taken = 0;
  while (cam.try_acquire(t0, 1)) ++taken;
  EXPECT_EQ(taken, 19);  // the 20th stays for a caller with keep 0
  EXPECT_FALSE(cam.try_acquire(t0 + milliseconds(199), 1));
  EXPECT_TRUE(cam.try_acquire(t0, 0));  // the kept one
  EXPECT_FALSE(cam.try_acquire(t0, 0));
  // A flood over ten seconds gets at most the refill: 5 per second.
  int flood = 0;
  for (int ms = 1; ms <= 10000; ++ms) flood += cam.try_acquire(t0 + milliseconds(ms), 1) ? 1 : 0;
  EXPECT_LE(flood, 50);
  EXPECT_GE(flood, 48);
  EXPECT_TRUE(cam.try_acquire(t0 + milliseconds(10000), 0));  // and a refresh still finds its token
}

}  // namespace
}  // namespace camproxy::auth
