// ClientSession at --pool-max (issue 15): a new database connection when the target's budget
// has a slot for it, else a place in the target's borrow queue (proxy/pool/connection_budget.h)
// for at most --pool-borrow-timeout, then error 9008. The wait comes after the client
// authenticated (state wait_upstream: client_authenticated() disarmed the handshake deadline),
// so the borrow timeout alone bounds it; a client that goes away leaves the queue in finish().
#include <cstdio>

#include "proxy/ops/metrics.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

// "30.0 s (--pool-max 50 in use)": what the 9008 message says after "waiting".
std::string waited_text(std::chrono::steady_clock::duration waited, int pool_max, std::string_view extra) {
  char text[128];
  std::snprintf(text, sizeof text, "%.1f s%.*s (--pool-max %d in use)", std::chrono::duration<double>(waited).count(),
                static_cast<int>(extra.size()), extra.data(), pool_max);
  return text;
}

}  // namespace

void ClientSession::dial_or_borrow() {
  UpstreamPool& pool = env_.pool();
  if (pool.try_open(account_)) {
    login_wait_.note(LoginWaitReason::dial);
    dial_with_slot();
    acquire_token();
    return;
  }
  const TargetConfig& c = env_.config();
  if (!pool.borrow(pool_key(), wanted_profile(), this)) {
    const std::string full = ": " + std::to_string(c.pool_max_waiters) + " clients wait already (--pool-max-waiters)";
    fail(ClientError::no_connection_free, waited_text({}, c.pool_max, full));
    return;
  }
  borrowing_ = true;
  borrow_started_ = std::chrono::steady_clock::now();
  login_wait_.note(LoginWaitReason::borrow);
  arm(Deadline::borrow, static_cast<uint64_t>(c.pool_borrow_timeout.count()));
}

// An idle connection of this session's key came up on this worker: take it as any login (or, in
// --pool-mode transaction, any next command) does.
void ClientSession::on_borrow_idle() {
  stop_borrowing();
  disarm();
  if (state_ == State::attaching) {
    take_shared();  // session_sharing.cc
    return;
  }
  acquire_upstream();
}

// A slot of --pool-max is this session's now (the pool counted it): dial into it.
void ClientSession::on_borrow_granted() {
  stop_borrowing();
  disarm();
  dial_with_slot();
  acquire_token();
}

void ClientSession::on_borrow_timeout() {
  const auto waited = std::chrono::steady_clock::now() - borrow_started_;
  stop_borrowing();
  process_metrics().counter(MetricId::pool_borrow_timeouts).inc();
  const std::string detail = waited_text(waited, env_.config().pool_max, {});
  if (state_ == State::attaching && refuse_attach(client_error(ClientError::no_connection_free, detail).view())) return;
  fail(ClientError::no_connection_free, detail);
}

void ClientSession::stop_borrowing() {
  if (!borrowing_) return;
  borrowing_ = false;
  env_.pool().cancel_borrow(this);  // a no-op when the pool ended the wait itself
  process_metrics()
      .histogram(MetricId::pool_borrow_wait_duration)
      .observe(std::chrono::steady_clock::now() - borrow_started_);
}

}  // namespace camproxy::proxy
