// ClientSession's transparent reconnect (spec §7.1, §7.2): when the database connection dies
// between commands with nothing unreplayable, a new one takes over unseen (schema, SETs and
// autocommit replayed), retried with a backoff within --reconnect-window.
#include <algorithm>

#include "protocol/constants.h"
#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;

constexpr uint64_t kFirstReconnectDelayMs = 50;
constexpr uint64_t kMaxReconnectDelayMs = 1000;

}  // namespace

// spec §7.1, §7.2: between commands with nothing unreplayable, a new connection takes over
// unseen; otherwise the client gets a clear error and its connection is closed.
void ClientSession::on_relay_upstream_lost(const UpstreamFailure& f) {
  drop_upstream();
  // Until a replacement relays (start_relay), the session has no database thread for KILL.
  if (registry_entry_) env_.sessions().set_thread(registry_entry_, 0);
  if (state_ == State::reconnecting) {
    // A restarting server refuses connections for a few seconds: the idle client waits (its
    // next command stays unread) while camproxy retries, within the reconnect window.
    const bool transient = f.kind != UpstreamFailure::Kind::server_error && f.kind != UpstreamFailure::Kind::tls &&
                           f.kind != UpstreamFailure::Kind::unsafe_auth;
    if (transient && std::chrono::steady_clock::now() < reconnect_deadline_) {
      reconnect_delay_ms_ = std::min<uint64_t>(reconnect_delay_ms_ * 2, kMaxReconnectDelayMs);
      arm(Deadline::reconnect_backoff, reconnect_delay_ms_);
      return;
    }
    fail(ClientError::lost_with_state, "the reconnect failed: " + f.message);
    return;
  }
  if (registry_entry_ && registry_entry_->killed.load()) {
    log_info("session_killed", {{"conn", connection_id_}, {"state", to_string(state_)}});
    close_after_write();
    return;
  }
  // The server ended the connection for its wait_timeout (the client's own, or the server's
  // default): the client's idle timeout, to be closed as directly (session_idle.cc), not a loss
  // to hide.
  if (state_ == State::relay && idle_timeout_due()) {
    close_idle_session();
    return;
  }
  // (A lookup of the session's wait_timeout running: the client's held bytes wait on it.)
  const bool between_commands = tracker_ && tracker_->idle() && framer_.at_boundary() && pending_effects_.empty() &&
                                wait_timeout_lookup_ != WaitTimeoutLookup::running;
  const bool in_transaction = tracker_ && tracker_->in_transaction();
  log_info("upstream_lost", {{"conn", connection_id_},
                             {"state", to_string(state_)},
                             {"reason", f.message},
                             {"between_commands", between_commands},
                             {"in_transaction", in_transaction},
                             {"unreplayable", replay_.reason}});
  const bool replayable = state_ == State::relay && between_commands && !in_transaction && !replay_.unreplayable;
  process_metrics()
      .counter(MetricId::upstream_disconnects, replayable ? UpstreamLoss::reconnected : UpstreamLoss::session_closed)
      .inc();
  if (replayable) {
    reconnect_deadline_ = std::chrono::steady_clock::now() + env_.config().reconnect_window;
    reconnect_delay_ms_ = kFirstReconnectDelayMs;
    reconnect();
    return;
  }
  client_seq_ = 1;  // the reply to the client's next (or current) command
  if (between_commands) {
    fail(ClientError::lost_with_state, in_transaction ? "an open transaction" : replay_.reason);
  } else if (!response_started_) {
    fail(ClientError::lost_during_command, f.message);
  } else {
    close_after_write();  // mid-response: nothing can be added to the stream
  }
}

void ClientSession::reconnect() {
  transition(State::reconnecting);
  client_seq_ = 1;  // any error from here is the reply to the client's next command
  client_.stop_reading();
  log_info("reconnecting", {{"conn", connection_id_},
                            {"state", to_string(state_)},
                            {"schema", replay_.schema.value_or("")},
                            {"replayed_sets", replay_.sets.size()}});
  SessionProfile want = wanted_profile();
  want.schema = replay_.schema;
  want.multi_statements = multi_statements_;
  UpstreamPool& pool = env_.pool();
  if (auto pc = pool.take(pool_key(), want)) {
    pooled_ = std::move(*pc);
    upstream_ = pooled_->conn;
    upstream_counted_ = true;
    upstream_->set_owner(this);
    start_prep(ConnectionPrep::Purpose::reconnect, checkout_have(*pooled_), replay_want(want));
    return;
  }
  database_ = replay_.schema;
  client_caps_ = multi_statements_ ? client_caps_ | cap::kMultiStatements : client_caps_ & ~cap::kMultiStatements;
  dial_upstream();
  acquire_token();
}

// The replacement gets `profile`, then the session's SETs and autocommit again (spec §7.2).
ConnectionPrep::Want ClientSession::replay_want(SessionProfile profile) const {
  return {.profile = std::move(profile),
          .replayed_sets = replay_.sets,
          .autocommit_off = tracker_ && (tracker_->status_flags() & protocol::status::kAutocommit) == 0};
}

}  // namespace camproxy::proxy
