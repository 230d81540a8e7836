// ClientSession under --pool-mode transaction (docs/operations.md "Transaction pooling"). After a
// response that leaves the session shareable (no transaction, nothing pinned: pin_tracker.h, the
// tracker and the framer at rest) its database connection goes back to the pool at once, without a
// reset, recorded with the state it now has (PooledConn::profile and ::carried). The session then
// relays with no connection; its client's next bytes are held while a connection of its key is
// taken (or dialed) and brought to the session's state by the reconnect's machinery
// (ConnectionPrep purpose attach): only what differs from what the connection's last session
// left when that is a prefix of this session's own SETs, else after a reset, everything. The
// fix-ups go out in one write, and the client's command with them when none of them can fail in a
// way that lets it run in another state (ConnectionPrep::let_commands_follow()); else after
// their replies.
#include <algorithm>
#include <charconv>

#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/ok_err_eof.h"
#include "protocol/packet.h"
#include "proxy/net/packet_out.h"
#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;

// A connection that fails while being brought to the session's state is replaced this often
// before the client gets an error.
constexpr int kMaxAttachAttempts = 3;

bool is_prefix(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// A whole COM_QUIT (spec/mysql-protocol.md §4.3): payload length 1, seq 0, command 0x01.
bool is_quit(std::span<const uint8_t> d) {
  return d.size() == 5 && d[0] == 1 && d[1] == 0 && d[2] == 0 && d[3] == 0 && d[4] == 0x01;
}

uint64_t parse_u64(const std::optional<std::string>& text) {
  uint64_t v = 0;
  if (text) std::from_chars(text->data(), text->data() + text->size(), v);
  return v;
}

}  // namespace

SessionProfile ClientSession::session_profile() const {
  SessionProfile p = wanted_profile();
  p.schema = replay_.schema;
  p.multi_statements = multi_statements_;
  return p;
}

// What a taken connection has, for a prep of a session: a shared one may carry its last
// session's state, which a checkout or a reconnect must not inherit (cleaned first).
ConnectionPrep::Have ClientSession::checkout_have(const PooledConn& pc) const {
  const UpstreamPool& pool = env_.pool();
  return {.profile = pc.profile,
          .login_collation = pc.login_collation,
          .last_look = pc.last_look,
          .reset_refused = pool.reset_refused(),
          .reset_worked = pool.reset_worked(),
          .reset_collation = pool.reset_collation(),
          .schema_known = true,
          .role_may_be_set = pc.role_may_be_set,
          .foreign_state = !pc.carried.empty()};
}

void ClientSession::set_pinned(bool pinned) {
  if (pinned == pinned_counted_) return;
  pinned_counted_ = pinned;
  Gauge& g = process_metrics().gauge(MetricId::pool_pinned_sessions);
  pinned ? g.add() : g.sub();
}

void ClientSession::set_shared(bool shared) {
  if (shared == shared_counted_) return;
  shared_counted_ = shared;
  Gauge& g = process_metrics().gauge(MetricId::pool_shared_sessions);
  shared ? g.add() : g.sub();
}

// Each response: what pins the session now, and whether LAST_INSERT_ID() may have moved.
void ClientSession::note_shared_response(const CommandEffects& fx) {
  const auto& r = tracker_->last_response();
  uint16_t pins = fx.sql.pins;
  if (fx.sql.schema_uncertain) pins |= pin_bit(PinReason::unfollowable);
  const auto started = pins_.on_response({.pins = pins,
                                          .unlock_tables = fx.sql.unlock_tables,
                                          .reset = fx.reset,
                                          .error = r.error,
                                          .status_flags = r.status_flags,
                                          .warnings = r.warnings,
                                          .affected_rows = r.affected_rows});
  if (started) process_metrics().counter(MetricId::pool_pins, *started).inc();
  set_pinned(pins_.pinned());
  if (fx.reset && !r.error) {
    last_insert_id_ = 0;  // COM_RESET_CONNECTION sets it back (§5.1)
    last_insert_id_dirty_ = false;
    // ... and the character set to the connection's login one, which may not be this client's:
    // unknown, so the next session that takes it has it cleaned and set.
    if (pooled_) pooled_->profile.collation = 0;
  }
  if ((!r.error && r.last_insert_id != 0) || fx.sql.last_insert_id_may_change) last_insert_id_dirty_ = true;
}

// Nothing ties the session to its connection now: no command in flight, no transaction, no pin.
bool ClientSession::shareable() const {
  if (!sharing_ || state_ != State::relay || upstream_ == nullptr || !pooled_ || !upstream_->at_rest()) return false;
  const bool at_rest = tracker_->idle() && !tracker_->failed() && framer_.at_boundary() && pending_effects_.empty() &&
                       kills_pending_ == 0 && !quit_requested_;
  return at_rest && !tracker_->in_transaction() && !pins_.pinned() && !schema_uncertain_ &&
         !statements_hold_connection();
}

// After a response (or a command camproxy answered itself): give the connection back.
void ClientSession::maybe_detach() {
  if (!shareable()) return;
  if (last_insert_id_dirty_) {
    read_last_insert_id();
    return;
  }
  detach();
}

// LAST_INSERT_ID() must follow the session (SET last_insert_id at the next attach), and an OK's
// insert id is not always its value (an INSERT that names its AUTO_INCREMENT value reports that
// value and leaves LAST_INSERT_ID() alone): it is read after a statement that may have changed it,
// once the client has its whole response. The client waits on it only when its next command
// comes within that round trip (held, as while detached).
void ClientSession::read_last_insert_id() {
  transition(State::detaching);
  upstream_->run_commands({make_query("SELECT LAST_INSERT_ID()", true)});
}

void ClientSession::last_insert_id_read(const std::vector<InternalResult>& results) {
  if (results.size() != 1 || !results.front().ok) {
    client_seq_ = 1;  // the reply to the client's next command
    fail(ClientError::lost_with_state, "reading LAST_INSERT_ID() before sharing the connection failed");
    return;
  }
  last_insert_id_ = parse_u64(results.front().column(0));
  last_insert_id_dirty_ = false;
  client_.start_reading();  // had the relay's back-pressure stopped it, nothing else would restart it now
  detach();
}

void ClientSession::detach() {
  PooledConn pc = give_up_upstream();
  pc.profile.schema = replay_.schema;
  pc.profile.multi_statements = multi_statements_;
  pc.role_may_be_set = role_may_be_set_;
  pc.carried = {.sets = replay_.sets,
                .autocommit_off = (tracker_->status_flags() & protocol::status::kAutocommit) == 0,
                .last_insert_id = last_insert_id_};
  log_debug("session_detached",
            {{"conn", connection_id_}, {"state", to_string(state_)}, {"thread_id", pc.conn->thread_id()}});
  env_.sessions().set_thread(registry_entry_, 0);
  registry_entry_->shared.store(true);
  transition(State::detached);
  set_shared(true);
  env_.pool().share(std::move(pc));
  arm_idle();
  if (!held_.empty()) on_shared_data({});  // the client's next command came while LAST_INSERT_ID() was read
}

void ClientSession::on_shared_data(std::span<const uint8_t> data) {
  held_.insert(held_.end(), data.begin(), data.end());
  if (state_ != State::detached) return;
  if (is_quit(held_)) {  // a session between commands quits without a connection
    finish();
    return;
  }
  attach();
}

void ClientSession::attach() {
  if (registry_entry_->killed.load()) {  // KILL CONNECTION while it held no connection
    log_info("session_killed", {{"conn", connection_id_}, {"state", to_string(state_)}});
    finish();
    return;
  }
  if (armed_ == Deadline::idle) disarm();
  transition(State::attaching);
  client_.stop_reading();
  client_seq_ = 1;  // an error from here is the reply to the held command
  attach_attempts_ = 0;
  pipelined_attach_ = false;
  // A connection dialed for the session logs in with what it has now (as a reconnect's).
  database_ = replay_.schema;
  client_caps_ = multi_statements_ ? client_caps_ | cap::kMultiStatements : client_caps_ & ~cap::kMultiStatements;
  take_shared();
}

// Any free connection of the key: taken and brought to the session's state, or dialed.
void ClientSession::take_shared() {
  UpstreamPool& pool = env_.pool();
  if (auto pc = pool.take(pool_key(), session_profile())) {
    pooled_ = std::move(*pc);
    upstream_ = pooled_->conn;
    upstream_counted_ = true;
    upstream_->set_owner(this);
    start_attach_prep();
    return;
  }
  if (pool.wait_for_returning(pool_key(), this)) {
    waiting_for_pool_ = true;
    pool_wait_started_ = std::chrono::steady_clock::now();
    process_metrics().gauge(MetricId::pool_waiting_clients).add();
    arm(Deadline::pool_wait, static_cast<uint64_t>(env_.config().connect_timeout.count()));
    return;
  }
  dial_or_borrow();  // session_borrow.cc
}

// The connection's recorded state is followed when the session's SETs extend what its last
// session left on the same base; anything else is cleaned first and re-created whole.
void ClientSession::start_attach_prep() {
  const SessionProfile want = session_profile();
  const CarriedState& c = pooled_->carried;
  const bool autocommit_off = (tracker_->status_flags() & protocol::status::kAutocommit) == 0;
  const bool follows = pooled_->profile.collation == want.collation &&
                       pooled_->profile.ignore_space == want.ignore_space && is_prefix(c.sets, replay_.sets) &&
                       (!c.autocommit_off || autocommit_off);
  ConnectionPrep::Have have = checkout_have(*pooled_);
  have.foreign_state = !follows;
  ConnectionPrep::Want w{
      .profile = want, .replayed_sets = {}, .autocommit_off = autocommit_off && !(follows && c.autocommit_off)};
  const auto first = static_cast<std::ptrdiff_t>(follows ? c.sets.size() : 0);
  w.replayed_sets.assign(replay_.sets.begin() + first, replay_.sets.end());
  if (last_insert_id_ != (follows ? c.last_insert_id : 0)) w.last_insert_id = last_insert_id_;
  start_prep(ConnectionPrep::Purpose::attach, std::move(have), std::move(w));
  // The fix-ups went out: the client's command follows them at once when nothing among them can
  // fail and leave it running in another state (ConnectionPrep::let_commands_follow()).
  if (prep_ && held_is_one_plain_command() && prep_->let_commands_follow()) relay_held_command(true);
}

// held_ is exactly one command that camproxy forwards as it is and that has a reply (the fix-ups'
// outcome is known before the client is read again): COM_CHANGE_USER and COM_RESET_CONNECTION
// start preps of their own, and bytes pipelined behind a command are left to the unpipelined path.
bool ClientSession::held_is_one_plain_command() const {
  if (held_.size() < protocol::kHeaderSize + 1 ||
      protocol::kHeaderSize + protocol::read_frame_header(held_.data()).payload_len != held_.size())
    return false;
  const auto command = static_cast<protocol::Command>(held_[protocol::kHeaderSize]);
  return command != protocol::Command::change_user && command != protocol::Command::reset_connection &&
         command != protocol::Command::quit && command != protocol::Command::stmt_close &&
         command != protocol::Command::stmt_send_long_data;
}

void ClientSession::attached_prepared(const ConnectionPrep& prep) {
  if (prep.state() != ConnectionPrep::State::done) {
    const auto& f = prep.failure();
    log_info("attach_failed", {{"conn", connection_id_},
                               {"state", to_string(state_)},
                               {"kind", to_string(f.kind)},
                               {"message", f.message},
                               {"pipelined", pipelined_attach_}});
    if (pipelined_attach_) {
      // The command behind the fix-ups went out and its reply is never relayed: only a lost
      // connection (or a reset refused by a server that accepted them before) gets here, never a
      // fix-up that failed and let the command run in another state (let_commands_follow()).
      pipelined_attach_ = false;
      drop_upstream();
      fail(ClientError::lost_during_command, "re-creating the session on a shared connection failed: " + f.message);
      return;
    }
    drop_upstream();
    // A connection that failed is replaced; a fix-up the server refused (e.g. 1049: the schema
    // was dropped) would be refused again: the held command never ran, and the client is told.
    const bool connection_failed =
        f.kind == ConnectionPrep::Failure::Kind::lost || f.kind == ConnectionPrep::Failure::Kind::incomplete;
    if (connection_failed && ++attach_attempts_ < kMaxAttachAttempts) {
      take_shared();
      return;
    }
    fail(ClientError::lost_with_state, "re-creating the session on a shared connection failed: " + f.message);
    return;
  }
  if (prep.cleanup()) env_.pool().note_cleaned(*pooled_, prep);  // counted; a reset that worked is learned
  pooled_->profile = prep.profile();
  pooled_->carried = {};
  log_debug("session_attached", {{"conn", connection_id_},
                                 {"state", to_string(state_)},
                                 {"thread_id", upstream_->thread_id()},
                                 {"cleaned", prep.cleanup().has_value()},
                                 {"pipelined", pipelined_attach_}});
  if (std::exchange(pipelined_attach_, false)) {  // relaying since the fix-ups went out
    client_.start_reading();
    maybe_detach();  // a command camproxy answered itself (a KILL) left nothing to wait for
    return;
  }
  relay_held_command(false);
}

// The session relays again on its new connection, starting with the held command: behind the
// fix-ups still running (`pipelined`: their replies go to prep_, the command's follow them), or
// after them.
void ClientSession::relay_held_command(bool pipelined) {
  pipelined_attach_ = pipelined;
  transition(State::relay);
  set_shared(false);
  registry_entry_->shared.store(false);
  env_.sessions().set_thread(registry_entry_, upstream_->thread_id());
  upstream_->start_reading();
  // Pipelined: the client is read again once the fix-ups have answered (on_upstream_drained too).
  if (!pipelined) client_.start_reading();
  const std::vector<uint8_t> held = std::exchange(held_, {});
  relay_from_client(held);
}

// The borrow queue gave up on the session's next command (error 9008, session_borrow.cc): the
// command gets the ERR and the session waits, still without a connection, for the client's retry
// (issue 15). Only a lone command can be answered so; with more pipelined behind it, or one that
// expects no reply, the caller closes the session instead.
bool ClientSession::refuse_attach(const protocol::ErrPacket& err) {
  if (held_.size() < protocol::kHeaderSize + 1 ||
      protocol::kHeaderSize + protocol::read_frame_header(held_.data()).payload_len != held_.size())
    return false;
  const auto command = static_cast<protocol::Command>(held_[protocol::kHeaderSize]);
  if (command == protocol::Command::stmt_close || command == protocol::Command::stmt_send_long_data) return false;
  held_.clear();
  send_err(client_, 1, err, client_caps_ | cap::kProtocol41);
  transition(State::detached);
  client_.start_reading();
  arm_idle();
  return true;
}

// spec §7.3 for a session that holds no connection now: nothing of it runs, so KILL QUERY has
// nothing to stop and KILL CONNECTION marks it (it closes at its next command, which a client of a
// dedicated connection killed while idle also learns only then). Answered OK, as the server does.
bool ClientSession::answer_kill_of_shared(const KillStatement& kill, const KillTarget& target) {
  if (!target.entry->shared.load() || !tracker_->idle()) return false;
  if (kill.target == KillStatement::Target::connection) target.entry->killed.store(true);
  log_info("kill", {{"conn", connection_id_},
                    {"state", to_string(state_)},
                    {"target_conn", kill.id},
                    {"target_session", target.entry->connection_id()},
                    {"thread_id", 0},
                    {"query_only", kill.target == KillStatement::Target::query}});
  std::vector<uint8_t> payload;
  protocol::ByteWriter w(payload);
  protocol::encode_ok({0, 0, tracker_->status_flags(), 0, {}, {}, 0x00}, client_caps_ | cap::kProtocol41, w);
  send_packet(client_, 1, payload);
  return true;
}

}  // namespace camproxy::proxy
