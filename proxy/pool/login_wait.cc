#include "proxy/pool/login_wait.h"

namespace camproxy::proxy {

void LoginWait::note(LoginWaitReason reason, Clock::time_point now) {
  if (reason_ || finished_) return;
  reason_ = reason;
  since_ = now;
}

void LoginWait::finish(Clock::time_point now) {
  if (finished_) return;
  finished_ = true;
  if (!reason_) return;
  process_metrics().counter(MetricId::login_upstream_waits, *reason_).inc();
  process_metrics().histogram(MetricId::login_upstream_wait_duration).observe(now - since_);
}

}  // namespace camproxy::proxy
