// LoginWait: a login that waited is counted once, under its first reason, and timed from that
// first wait to its OK; a login that never waited counts nothing.
#include "proxy/pool/login_wait.h"

#include <gtest/gtest.h>

namespace camproxy::proxy {
namespace {

using namespace std::chrono_literals;

uint64_t waits(LoginWaitReason r) { return process_metrics().counter(MetricId::login_upstream_waits, r).value(); }
uint64_t timed() {
  uint64_t n = 0;
  for (uint64_t c : process_metrics().histogram(MetricId::login_upstream_wait_duration).snapshot().counts) n += c;
  return n;
}

TEST(LoginWait, CountedOnceUnderTheFirstReasonAndTimedFromIt) {
  const uint64_t pool_wait = waits(LoginWaitReason::pool_wait), dial = waits(LoginWaitReason::dial);
  const uint64_t timed_before = timed();
  const auto sum_before = process_metrics().histogram(MetricId::login_upstream_wait_duration).snapshot().sum_ns;
  const auto t0 = LoginWait::Clock::now();
  LoginWait w;
  w.note(LoginWaitReason::pool_wait, t0);
  w.note(LoginWaitReason::dial, t0 + 1ms);  // the wait ran out and it dialled: still one login
  w.finish(t0 + 3ms);
  w.finish(t0 + 9ms);  // a later relay start (a reconnect) is not another login
  EXPECT_EQ(waits(LoginWaitReason::pool_wait), pool_wait + 1);
  EXPECT_EQ(waits(LoginWaitReason::dial), dial);
  EXPECT_EQ(timed(), timed_before + 1);
  EXPECT_EQ(process_metrics().histogram(MetricId::login_upstream_wait_duration).snapshot().sum_ns - sum_before,
            3'000'000u);
}

TEST(LoginWait, ALoginServedAtOnceCountsNothing) {
  const uint64_t fixup = waits(LoginWaitReason::fixup), timed_before = timed();
  LoginWait w;
  w.finish();
  w.note(LoginWaitReason::fixup);  // after the OK: not a login's wait
  w.finish();
  EXPECT_EQ(waits(LoginWaitReason::fixup), fixup);
  EXPECT_EQ(timed(), timed_before);
}

}  // namespace
}  // namespace camproxy::proxy
