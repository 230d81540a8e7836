#pragma once
// The process-wide limit on CAM calls (--cam-rate-limit, --cam-burst): one token bucket that
// every target's TokenService takes from before each BuildDataFlowAuthToken call, so that no
// number of client user names can make camproxy exceed it (CAM allows a whole fleet 100 calls
// per second). Thread-safe: logins take from it on the worker threads, refreshes on the control
// thread.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "auth/refresh_policy.h"

namespace camproxy::proxy {

class CamCallBudget {
 public:
  using Clock = std::chrono::steady_clock;

  // A login for an account neither configured nor ever issued a token (a new pass-through
  // name) leaves this many tokens in the bucket: the configured and known accounts' fetches and
  // refreshes always find one within one refill period, whatever the flood.
  static constexpr uint32_t kKeptForConfigured = 1;

  explicit CamCallBudget(auth::RefetchLimitConfig limit = {20, std::chrono::milliseconds(200)}) : bucket_(limit) {}
  // Before any call is made (App start): --cam-rate-limit calls per second, bursts of --cam-burst.
  void configure(int per_second, int burst) {
    std::lock_guard lock(mu_);
    bucket_ =
        auth::RefetchLimiter({static_cast<uint32_t>(burst), std::chrono::milliseconds(1000) / std::max(per_second, 1)});
  }

  bool try_take(Clock::time_point now, uint32_t keep) {
    std::lock_guard lock(mu_);
    return bucket_.try_acquire(now, keep);
  }
  // When a caller with keep 0 will find a token.
  Clock::time_point next_allowed(Clock::time_point now) const {
    std::lock_guard lock(mu_);
    return bucket_.next_allowed(now);
  }

 private:
  mutable std::mutex mu_;
  auth::RefetchLimiter bucket_;
};

}  // namespace camproxy::proxy
