// ClientSession's relay phase: forwarding with back-pressure while the response tracker
// follows every command; COM_QUIT and KILL answered by camproxy (COM_CHANGE_USER in
// session_change_user.cc); the database connection's state followed for reuse and for a
// transparent reconnect (session_reconnect.cc).
#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/ok_err_eof.h"
#include "proxy/net/packet_out.h"
#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;
using protocol::Command;
using protocol::TrackerEvent;

// Recorded SET statements beyond these make the session unreplayable instead of growing.
constexpr size_t kMaxReplaySets = 64;
constexpr size_t kMaxReplayBytes = 16 * 1024;

// What one client read turns into upstream: the framer's pieces are collected and written with
// one write(2), not one per piece (a held command header would otherwise go out alone).
thread_local std::vector<uint8_t> t_upstream_batch;

std::string_view command_text(std::span<const uint8_t> payload) {
  return {reinterpret_cast<const char*>(payload.data()) + 1, payload.size() - 1};
}

}  // namespace

void ClientSession::start_relay(uint16_t status_flags) {
  transition(State::relay);
  tracker_.emplace(upstream_->capabilities(), status_flags, protocol::TrackerLimits{},
                   upstream_->mariadb_capabilities());
  multi_statements_ = (client_caps_ & cap::kMultiStatements) != 0;
  const bool first_start = !registry_entry_;
  if (first_start) {
    start_session();  // session_login.cc
    // The login's schema worked on a real connection (not one whose hand-over cleanup still
    // runs): later logins to it need none (transaction mode, session_login.cc).
    if (replay_.schema && !prep_) env_.pool().checked_schemas().add(account_, *replay_.schema);
  }
  env_.sessions().set_thread(registry_entry_, upstream_->thread_id());
  // Debug, like client_connected: at info a connection-per-request application would write a
  // line per request (failures are logged at info and above; counts are in the metrics).
  log_debug("session_started", {{"conn", connection_id_},
                                {"state", to_string(state_)},
                                {"user", user_},
                                {"account", account_},
                                {"client_tls", client_.tls_on()},
                                {"upstream_tls", upstream_->tls_on()},
                                {"thread_id", upstream_->thread_id()},
                                {"retried_after_1045", retried_after_1045_}});
  auto rest = login_.take_rest();  // a client that sent its first command early
  upstream_->start_reading();
  if (first_start && (client_caps_ & cap::kInteractive) != 0) {
    wait_timeout_lookup_ = WaitTimeoutLookup::interactive_login;  // session_idle.cc
    if (look_up_wait_timeout_when_idle()) {
      held_client_bytes_ = std::move(rest);
      return;
    }
    wait_timeout_lookup_ = WaitTimeoutLookup::none;
  }
  if (!rest.empty()) relay_from_client(rest);
  maybe_detach();
}

void ClientSession::relay_from_client(std::span<const uint8_t> data) {
  static Counter& bytes_up = process_metrics().counter(MetricId::relay_bytes, RelayDirection::client_to_upstream);
  bytes_up.inc(data.size());
  relay_client_bytes(data);
}

void ClientSession::relay_client_bytes(std::span<const uint8_t> data) {
  if (hold_for_reprepare(data)) return;                      // session_statements.cc
  if (wait_timeout_lookup_ == WaitTimeoutLookup::running) {  // relayed after it (session_idle.cc)
    held_client_bytes_.insert(held_client_bytes_.end(), data.begin(), data.end());
    client_.stop_reading();
    return;
  }
  t_upstream_batch.clear();
  // Once the tracker has faulted, the client's bytes are no longer known to be commands (file
  // data or an auth exchange may be open): they all pass as they are (pinned, see the fault).
  const auto raw = [this] {
    return state_ == State::relay && (tracker_->pending_local_infile() || tracker_->failed());
  };
  const auto unread = framer_.feed(data, raw, [this](const CommandFramer::Piece& piece) {
    if (state_ != State::relay) return;
    if (reset_held_) forward_held_reset();  // pipelined with what follows it: the server's own reset
    if (piece.kind == CommandFramer::Piece::Kind::forward) {
      track_and_queue_upstream(piece.bytes);
    } else {
      on_command_start(piece);
    }
  });
  stmt_.held.insert(stmt_.held.end(), unread.begin(), unread.end());  // behind a command waiting for a re-prepare
  if (upstream_ != nullptr && !t_upstream_batch.empty()) upstream_->write(t_upstream_batch);
  if (t_upstream_batch.capacity() > 256 * 1024) std::vector<uint8_t>().swap(t_upstream_batch);
  if (quit_requested_) {
    finish();
    return;
  }
  if (reset_held_) {
    reset_held_ = false;
    reset_connection();  // session_change_user.cc
    return;
  }
  if (upstream_ != nullptr && upstream_->has_pending_writes()) client_.stop_reading();
  maybe_detach();  // every command of the read was answered here (a KILL camproxy answers itself)
}

// A COM_RESET_CONNECTION the client pipelined with more commands goes to the server as before:
// camproxy's own answer would have to wait for the cleanup and hold the commands behind it.
void ClientSession::forward_held_reset() {
  static constexpr uint8_t kResetFrame[] = {0x01, 0x00, 0x00, 0x00, static_cast<uint8_t>(Command::reset_connection)};
  reset_held_ = false;
  next_effects_ = {};
  next_effects_.reset = true;
  track_and_queue_upstream(kResetFrame);
}

void ClientSession::on_command_start(const CommandFramer::Piece& piece) {
  const auto payload = piece.bytes.subspan(protocol::kHeaderSize);
  next_effects_ = {};
  if (payload.empty()) {
    track_and_queue_upstream(piece.bytes);
    return;
  }
  if (statements_ && upstream_ != nullptr) {  // session_statements.cc
    close_stale_statements();
    if (on_statement_command(piece)) return;
  }
  switch (static_cast<Command>(payload[0])) {
    case Command::quit:  // the connection goes back to the pool instead (§4.3)
      framer_.skip_packet();
      quit_requested_ = true;
      return;
    case Command::change_user:
      framer_.skip_packet();
      change_user(piece.whole ? payload : std::span<const uint8_t>{});
      return;
    case Command::process_kill:
      if (piece.whole && payload.size() == 5) {
        const uint32_t id = *protocol::ByteReader(payload.subspan(1)).u32();  // 4 bytes: checked above
        handle_kill({KillStatement::Target::connection, id}, piece.bytes);
        return;
      }
      break;
    case Command::query:
      if (!piece.whole) {
        next_effects_.sql.unreplayable = true;
        next_effects_.sql.reason = "a statement too long to inspect";
        next_effects_.sql.pins |= pin_bit(PinReason::unfollowable);
        schema_uncertain_ = true;
        role_may_be_set_ = true;
        break;
      }
      if (auto kill = parse_kill(command_text(payload))) {
        handle_kill(*kill, piece.bytes);
        return;
      }
      next_effects_.sql = classify_statements(command_text(payload));
      // Whether it succeeds or not (a multi-statement may fail after its SET ROLE).
      if (next_effects_.sql.role_may_change) role_may_be_set_ = true;
      break;
    case Command::init_db:
      if (piece.whole) next_effects_.sql.schema = std::string(command_text(payload));
      break;
    case Command::set_option:
      if (piece.whole && payload.size() == 3) next_effects_.multi_statements = payload[1] == 0;
      break;
    case Command::reset_connection:
      if (tracker_->idle() && piece.whole) {  // answered by camproxy, once this read is relayed
        framer_.skip_packet();
        reset_held_ = true;
        return;
      }
      next_effects_.reset = true;
      break;
    case Command::stmt_prepare:
      next_effects_.sql.unreplayable = true;
      next_effects_.sql.reason = "a prepared statement";
      next_effects_.sql.pins |= pin_bit(PinReason::prepared_statement);
      role_may_be_set_ = true;  // its text is not read: it may be a SET ROLE
      break;
    default: break;
  }
  track_and_queue_upstream(piece.bytes);
}

void ClientSession::track_and_queue_upstream(std::span<const uint8_t> bytes) {
  // Feed the tracker first, so a command is known before its response can arrive.
  for (auto rest = bytes;;) {
    const auto step = tracker_->feed_to_server(rest);
    rest = rest.subspan(step.consumed);
    if (step.event == TrackerEvent::none) break;
    on_tracker_event(step.event);
  }
  t_upstream_batch.insert(t_upstream_batch.end(), bytes.begin(), bytes.end());
}

void ClientSession::on_upstream_data(UpstreamConn&, std::span<const uint8_t> data) {
  if (state_ != State::relay) return;
  static Counter& bytes_down = process_metrics().counter(MetricId::relay_bytes, RelayDirection::upstream_to_client);
  bytes_down.inc(data.size());
  if (kills_pending_ != 0 || stmt_.replies != 0) {
    relay_rewriting_replies(data);
  } else {
    for (auto rest = data;;) {
      const auto step = tracker_->feed_from_server(rest);
      rest = rest.subspan(step.consumed);
      if (step.event == TrackerEvent::none) break;
      on_tracker_event(step.event);
    }
    client_.write(data);
  }
  response_started_ = !tracker_->idle();
  if (quit_requested_) {  // the reply before COM_QUIT (or that ended the transaction) is out
    close_after_write();
    return;
  }
  look_up_wait_timeout_when_idle();  // session_idle.cc
  if (client_.has_pending_writes()) upstream_->stop_reading();
  resume_after_reprepare();  // session_statements.cc
  maybe_detach();
}

// While a KILL's or a prepare's reply is due: every response is relayed but those, whose bytes
// (the tracker says where each ends) are replaced by camproxy's own answer to a KILL, in the same
// place, or rewritten (session_statements.cc).
void ClientSession::relay_rewriting_replies(std::span<const uint8_t> data) {
  static thread_local std::vector<uint8_t> out;
  out.clear();
  for (auto rest = data;;) {
    const CommandEffects* front = pending_effects_.empty() ? nullptr : &pending_effects_.front();
    const bool kill_reply = front != nullptr && front->kill;
    const std::optional<StatementReply> stmt = front != nullptr ? front->stmt : std::nullopt;
    const auto step = tracker_->feed_from_server(rest);
    if (step.event == TrackerEvent::fault) {  // no longer followed: the rest passes as it is
      out.insert(out.end(), rest.begin(), rest.end());
      on_tracker_event(step.event);
      break;
    }
    const auto bytes = rest.first(step.consumed);
    if (stmt && stmt->kind != StatementReply::Kind::execute) {
      rewrite_statement_reply(*stmt, bytes, out);
    } else if (!kill_reply) {
      out.insert(out.end(), bytes.begin(), bytes.end());
    }
    rest = rest.subspan(step.consumed);
    if (step.event == TrackerEvent::none) break;
    if (kill_reply && step.event == TrackerEvent::response_end) answer_kill(*pending_effects_.front().kill, out);
    on_tracker_event(step.event);
  }
  client_.write(out);
}

// The database's answer to a rewritten KILL, in camproxy's words (seq 1, as the server's): an
// OK, or an ERR naming the application's id, never the database thread's. A refused KILL
// changes nothing: the target keeps its transparent reconnect.
void ClientSession::answer_kill(const KillSent& kill, std::vector<uint8_t>& out) {
  std::vector<uint8_t> payload;
  protocol::ByteWriter w(payload);
  const auto& r = tracker_->last_response();
  if (r.error) {
    if (kill.marked) kill.marked->killed.store(false);
    log_info("kill_refused",
             {{"conn", connection_id_}, {"target_conn", kill.client_id}, {"code", static_cast<int>(r.error_code)}});
    protocol::encode_err(client_error(ClientError::kill_refused, std::to_string(kill.client_id)).view(),
                         client_caps_ | cap::kProtocol41, w);
  } else {
    protocol::encode_ok({0, 0, r.status_flags, r.warnings, {}, {}, 0x00}, client_caps_ | cap::kProtocol41, w);
  }
  protocol::encode_packet(payload, 1, out);
}

void ClientSession::on_tracker_event(TrackerEvent e) {
  switch (e) {
    case TrackerEvent::command:
      response_started_ = false;
      idle_command_started();
      if (tracker_->last_command().expects_response) pending_effects_.push_back(std::move(next_effects_));
      next_effects_ = {};
      return;
    case TrackerEvent::response_end: {
      idle_response_ended();
      if (process_draining_ && tracker_->idle() && !tracker_->in_transaction()) {
        quit_requested_ = true;  // the transaction ended during the drain: close after this reply
      }
      if (pending_effects_.empty()) {
        tracker_->clear_session_changes();
        return;
      }
      CommandEffects fx = std::move(pending_effects_.front());
      pending_effects_.pop_front();
      if (fx.kill) --kills_pending_;
      if (fx.stmt) on_statement_reply(*fx.stmt);
      const bool schema_tracked = follow_tracked_schema(fx.sql);
      if (fx.sql.schema_uncertain) schema_uncertain_ = true;
      if (tracker_->last_response().error) {
        // A multi-statement may have run its USE before the statement that failed.
        if (schema_tracked) {
          replay_.schema = std::move(fx.sql.schema);
        } else if (fx.sql.schema && multi_statements_) {
          schema_uncertain_ = true;
        }
        if (sharing_) note_shared_response(fx);
        return;
      }
      if (fx.reset) {
        forget_statements();
        replay_.sets.clear();
        replay_.sets_bytes = 0;
        replay_.unreplayable = false;
      }
      if (fx.multi_statements) multi_statements_ = *fx.multi_statements;
      if (fx.sql.schema) replay_.schema = std::move(fx.sql.schema);
      for (auto& set : fx.sql.replayable_sets) {
        replay_.sets_bytes += set.size();
        replay_.sets.push_back(std::move(set));
      }
      if (replay_.sets.size() > kMaxReplaySets || replay_.sets_bytes > kMaxReplayBytes) {
        fx.sql.unreplayable = true;
        fx.sql.reason = "too many SET statements to replay";
        fx.sql.pins |= pin_bit(PinReason::unfollowable);
      }
      if (sharing_) note_shared_response(fx);
      if (fx.sql.unreplayable && !replay_.unreplayable) {
        replay_.unreplayable = true;
        replay_.reason = std::string(fx.sql.reason);
      }
      return;
    }
    case TrackerEvent::fault:
      // The session can no longer be followed (protocol/response_tracker.h): from now on it is
      // pinned to its database connection: bytes pass both ways as they are (no command is
      // answered by camproxy, no KILL rewritten), no idle timer, no reconnect, and the
      // connection is closed, not pooled, when the client leaves (tracker_->idle() stays false).
      log_warn(
          "relay_tracker_fault",
          {{"conn", connection_id_}, {"state", to_string(state_)}, {"fault", protocol::to_string(tracker_->fault())}});
      if (armed_ == Deadline::idle) disarm();
      pending_effects_.clear();
      kills_pending_ = 0;
      stmt_.replies = 0;
      return;
    default: return;
  }
}

// The server's own word on the current schema: SESSION_TRACK_SCHEMA entries (spec §4.5; on by
// default in MariaDB 10.11 and MySQL 8) in the OKs of a connection with CLIENT_SESSION_TRACK,
// which the client asked for (the pool key carries its capabilities). It follows what the SQL text
// cannot: a USE in a multi-statement that failed after it, a USE of an odd name (a DROP DATABASE
// gets no entry unless it was the current one). An empty one (the current database dropped) settles nothing: only
// COM_CHANGE_USER brings a connection to no schema, so the session stays uncertain.
bool ClientSession::follow_tracked_schema(SessionEffects& sql) {
  const bool reported = tracker_->session_changes().schema && !tracker_->schema().empty();
  tracker_->clear_session_changes();
  if (!reported) return false;
  sql.schema = std::string(tracker_->schema());
  sql.schema_uncertain = false;
  schema_uncertain_ = false;
  return true;
}

// spec §7.3: the id is camproxy's (from its greeting) or the database thread now serving a
// session (CONNECTION_ID(), SHOW PROCESSLIST); either way the statement is rewritten for the
// thread serving that session now. Nothing else is ever killed: an id naming no session (a pooled
// connection's thread, another target's session) is 1094, and a session of another user is 1095,
// the server's own rule (through camproxy every session is the same database account).
void ClientSession::handle_kill(const KillStatement& kill, std::span<const uint8_t>) {
  framer_.skip_packet();
  using Target = KillStatement::Target;
  if (kill.target == Target::user || kill.target == Target::query_id) {
    answer_locally(
        client_error(ClientError::unsupported_command, kill.target == Target::user ? "KILL USER" : "KILL QUERY ID")
            .view());
    return;
  }
  const KillTarget target = env_.sessions().find_for_kill(kill.id);
  std::optional<ClientError> refusal;
  if (target.outcome != KillTarget::Outcome::found) {
    refusal = ClientError::unknown_thread;
  } else if (target.user != user_) {
    refusal = ClientError::kill_denied;
  } else if (target.thread_id == 0) {  // reconnecting, or between commands under --pool-mode transaction
    if (answer_kill_of_shared(kill, target)) return;
    refusal = ClientError::unknown_thread;
  }
  if (refusal) {
    if (target.outcome != KillTarget::Outcome::unknown) {
      log_info("kill_refused_locally", {{"conn", connection_id_},
                                        {"state", to_string(state_)},
                                        {"target_conn", kill.id},
                                        {"ambiguous", target.outcome == KillTarget::Outcome::ambiguous},
                                        {"other_user", *refusal == ClientError::kill_denied}});
    }
    answer_locally(client_error(*refusal, std::to_string(kill.id)).view());
    return;
  }
  const std::shared_ptr<SessionEntry>& entry = target.entry;
  const uint32_t thread = target.thread_id;
  // Marked before the database answers: the target's connection may drop before this reply
  // comes, and it must not reconnect then. A refusal unmarks it (answer_kill).
  std::shared_ptr<SessionEntry> marked;
  if (kill.target == Target::connection && !entry->killed.exchange(true)) marked = entry;
  log_info("kill", {{"conn", connection_id_},
                    {"state", to_string(state_)},
                    {"target_conn", kill.id},
                    {"target_session", entry->connection_id()},
                    {"thread_id", thread},
                    {"query_only", kill.target == Target::query}});
  auto cmd = make_query((kill.target == Target::query ? "KILL QUERY " : "KILL CONNECTION ") + std::to_string(thread));
  static thread_local std::vector<uint8_t> frame;
  frame.clear();
  protocol::encode_packet(cmd.payload, 0, frame);
  next_effects_ = {};
  next_effects_.kill = KillSent{kill.id, std::move(marked)};
  ++kills_pending_;
  track_and_queue_upstream(frame);
}

// A reply camproxy makes itself to a command it did not forward (seq 1, as a server's).
void ClientSession::answer_locally(const protocol::ErrPacket& err) {
  if (!tracker_->idle()) {
    // Pipelined behind commands still running: the reply would overtake theirs.
    send_error_and_close(err);
    return;
  }
  send_err(client_, 1, err, client_caps_ | cap::kProtocol41);
}

void ClientSession::on_drained(Transport&) {
  if (state_ == State::closing_after_write) {
    finish();
  } else if (state_ == State::relay) {
    upstream_->start_reading();
  }
}

void ClientSession::on_upstream_drained(UpstreamConn&) {
  if (state_ == State::relay && wait_timeout_lookup_ != WaitTimeoutLookup::running && !pipelined_attach_)
    client_.start_reading();
}

}  // namespace camproxy::proxy
