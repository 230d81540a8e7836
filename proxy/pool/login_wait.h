#pragma once
// A client login that waited for the database before its OK: no pooled connection was ready for
// it as it was (it dialled, waited for one being reset or warmed, or had one fixed up with
// commands). Counted once, under the first reason, and timed from that first wait to the OK, in
// camproxy_login_upstream_waits_total and camproxy_login_upstream_wait_seconds. A login served
// at once from the pool notes nothing and counts nothing.
#include <chrono>
#include <optional>

#include "proxy/ops/metrics.h"

namespace camproxy::proxy {

class LoginWait {
 public:
  using Clock = std::chrono::steady_clock;

  // The login waits for `reason` from `now`; a later reason of the same login is not counted.
  void note(LoginWaitReason reason, Clock::time_point now = Clock::now());
  // The client gets its OK: counts and times the wait, if there was one (once).
  void finish(Clock::time_point now = Clock::now());

 private:
  std::optional<LoginWaitReason> reason_;
  Clock::time_point since_;
  bool finished_ = false;
};

}  // namespace camproxy::proxy
