// ClientSession bringing its database connection to the client's profile (spec §5): the driver
// of its ConnectionPrep, like the pool's (UpstreamPool::drive), for its uses: a checkout of a
// pooled connection, a client's COM_CHANGE_USER, the transparent reconnect's replay, and a
// pool's cleanup handed over to the session while it runs (UpstreamPool::take_returning).
// While prep_ is engaged, upstream_'s answers are the machine's (the UpstreamConn::Owner
// callbacks below); each purpose then acts on its outcome.
#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/ok_err_eof.h"
#include "proxy/net/packet_out.h"
#include "proxy/ops/log.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;
using Failure = ConnectionPrep::Failure;

}  // namespace

void ClientSession::start_prep(ConnectionPrep::Purpose purpose, ConnectionPrep::Have have, ConnectionPrep::Want want) {
  prep_.emplace(purpose, std::move(have), std::move(want), env_.collations());
  drive_prep(prep_->start());
}

void ClientSession::start_prep(ConnectionPrep::Purpose purpose, const SessionProfile& have, ConnectionPrep::Want want) {
  ConnectionPrep::Have with_profile;
  with_profile.profile = have;
  start_prep(purpose, std::move(with_profile), std::move(want));
}

// Carries out the prep's next step on upstream_; on its outcome, the purpose's handler runs
// with prep_ already disengaged (it may close the session, or start another connection).
void ClientSession::drive_prep(ConnectionPrep::Step step) {
  if (step.refused_reset) env_.pool().note_reset_refused(*step.refused_reset);
  const auto outcome = carry_out(*prep_, std::move(step), *upstream_, [&] { return env_.tokens().current(account_); });
  if (!outcome) return;
  const ConnectionPrep prep = std::move(*prep_);
  prep_.reset();
  switch (prep.purpose()) {
    case ConnectionPrep::Purpose::checkout: checkout_prepared(prep); return;
    case ConnectionPrep::Purpose::change_user: change_user_prepared(prep); return;
    case ConnectionPrep::Purpose::reconnect: reconnect_prepared(prep); return;
    case ConnectionPrep::Purpose::handover: handover_prepared(prep); return;
    case ConnectionPrep::Purpose::attach: attached_prepared(prep); return;
    case ConnectionPrep::Purpose::return_to_pool: return;  // the pool's, never the session's
  }
}

void ClientSession::on_upstream_commands_done(UpstreamConn&, const std::vector<InternalResult>& results) {
  if (prep_) {
    drive_prep(prep_->on_commands_done(results));
  } else if (state_ == State::detaching) {
    last_insert_id_read(results);
  } else if (wait_timeout_lookup_ == WaitTimeoutLookup::running) {
    wait_timeout_looked_up(results);
  }
}

// The session's status flags once prepared: the last fix-up's OK, or (none ran) the greeting's.
uint16_t ClientSession::prepared_status(const ConnectionPrep& prep) const {
  const auto profile = env_.profile();
  const uint16_t greeted = profile ? profile->status_flags : protocol::status::kAutocommit;
  return prep.status_flags().value_or(greeted) & protocol::status::kSessionFlags;
}

// The OK that ends a login or a COM_CHANGE_USER camproxy answered itself: what the server's own
// would be for this client (its session flags, the SCHEMA tracker for a database it named), not
// what the fix-ups' replies said (a SET NAMES tracks variables a direct login does not send).
void ClientSession::send_ok(uint16_t status_flags) {
  std::vector<uint8_t> ok;
  protocol::ByteWriter w(ok);
  protocol::encode_login_ok(status_flags, database_, client_caps_ | cap::kProtocol41, w);
  client_seq_ = send_login_ok(client_, client_seq_, sha2_fast_ack_, ok);
}

// The OK of a client's COM_RESET_CONNECTION as MariaDB 10.11 sends it: the session's status
// flags and nothing else, with or without SESSION_TRACK.
void ClientSession::send_reset_ok(uint16_t status_flags) {
  std::vector<uint8_t> ok;
  protocol::ByteWriter w(ok);
  protocol::encode_ok({0, 0, status_flags, 0, {}, {}, 0x00}, client_caps_ | cap::kProtocol41, w);
  client_seq_ = send_packet(client_, client_seq_, ok);
}

void ClientSession::checkout_prepared(const ConnectionPrep& prep) {
  if (prep.state() == ConnectionPrep::State::done) {
    pooled_->profile = prep.profile();
    const uint16_t status = prepared_status(prep);
    send_ok(status);
    start_relay(status);
    return;
  }
  const Failure& f = prep.failure();
  if (f.kind == Failure::Kind::schema_refused) {  // e.g. 1049: the server's own error, as at a direct login
    send_error_and_close({f.code, f.sql_state, f.message});
    return;
  }
  // The pooled connection died (or answered short) while being fixed up: another one.
  drop_upstream();
  transition(State::wait_upstream);
  acquire_upstream();
}

void ClientSession::change_user_prepared(const ConnectionPrep& prep) {
  const bool reset = client_cleanup_ == ClientCleanup::reset;
  const std::string_view command = reset ? "COM_RESET_CONNECTION" : "COM_CHANGE_USER";
  if (prep.state() == ConnectionPrep::State::done) {
    pooled_->profile = prep.profile();
    replay_ = {};
    replay_.schema = pooled_->profile.schema;
    // The cleanup ended a role, unless it was the client's own reset (MariaDB keeps it then).
    if (!reset || prep.cleanup() == PoolCleanup::change_user) role_may_be_set_ = false;
    pins_ = {};           // and every pin's cause, and LAST_INSERT_ID()
    forget_statements();  // and every prepared statement
    set_pinned(false);
    last_insert_id_ = 0;
    last_insert_id_dirty_ = false;
    client_wait_timeout_.reset();  // both give the server's default back
    if (armed_ == Deadline::idle) disarm();
    const uint16_t status = prepared_status(prep);
    if (reset) {
      send_reset_ok(status);
    } else {
      send_ok(status);
    }
    (reset ? log_debug : log_info)(reset ? "reset_connection" : "change_user",
                                   {{"conn", connection_id_},
                                    {"state", to_string(state_)},
                                    {"user", user_},
                                    {"upstream_change_user", prep.cleanup() == PoolCleanup::change_user}});
    transition(State::relay);
    tracker_.emplace(upstream_->capabilities(), status, protocol::TrackerLimits{}, upstream_->mariadb_capabilities());
    idle_response_ended();  // idle from this reply, as after any other
    client_.start_reading();
    return;
  }
  // No silent re-dial: the client asked for this session's connection.
  const Failure& f = prep.failure();
  switch (f.kind) {
    case Failure::Kind::schema_refused: send_error_and_close({f.code, f.sql_state, f.message}); return;
    case Failure::Kind::no_token:
      fail(ClientError::lost_with_state, "no usable CAM token to clean the connection for " + std::string(command));
      return;
    case Failure::Kind::token_rejected:
      env_.tokens().request_after_rejection(account_, prep.token_generation());  // rotated: refetch
      break;
    default: break;
  }
  fail(ClientError::lost_with_state,
       "cleaning the database connection for " + std::string(command) + " failed: " + f.message);
}

void ClientSession::reconnect_prepared(const ConnectionPrep& prep) {
  if (prep.state() != ConnectionPrep::State::done) {
    client_seq_ = 1;
    fail(ClientError::lost_with_state, "replaying the session failed: " + prep.failure().message);
    return;
  }
  pooled_->profile = prep.profile();
  const uint16_t status = prep.status_flags().value_or(tracker_->status_flags());
  pending_effects_.clear();
  kills_pending_ = 0;
  start_relay(status);
  arm_idle();
  client_.start_reading();
  log_info("reconnected",
           {{"conn", connection_id_}, {"state", to_string(state_)}, {"thread_id", upstream_->thread_id()}});
}

// The cleanup behind which the client's first commands were written has answered. Done: the
// connection is as the client was told (the replies to its commands follow). Failed: the
// commands written behind it ran on a connection that may hold another client's state, so their
// replies are never relayed; the connection is given up as lost (session_reconnect.cc): replaced
// unseen when the client has sent nothing yet, else the client gets 9004 and is closed.
void ClientSession::handover_prepared(const ConnectionPrep& prep) {
  if (prep.state() == ConnectionPrep::State::done) {
    env_.pool().note_cleaned(*pooled_, prep);
    pooled_->profile = prep.profile();
    pooled_->last_look = prep.last_look();
    return;
  }
  const Failure& f = prep.failure();
  log_info("pool_handover_failed", {{"conn", connection_id_},
                                    {"state", to_string(state_)},
                                    {"thread_id", upstream_->thread_id()},
                                    {"kind", to_string(f.kind)},
                                    {"code", f.code},
                                    {"message", f.message}});
  on_relay_upstream_lost(
      {UpstreamFailure::Kind::closed, f.code, f.sql_state, "the pooled connection's cleanup failed: " + f.message});
}

}  // namespace camproxy::proxy
