// ClientSession getting its database connection (spec §5.3): a pooled one fixed up to the
// client's profile, or a new one dialed and logged in with the current CAM token (one refetch
// and retry after 1045, spec §3.4); its failures become the client's ERR.
#include "protocol/constants.h"
#include "protocol/ok_err_eof.h"
#include "proxy/net/packet_out.h"
#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"
#include "proxy/ops/version.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;

}  // namespace

void ClientSession::dial_upstream() {
  env_.pool().count_opened(account_);
  dial_with_slot();
}

void ClientSession::dial_with_slot() {
  upstream_counted_ = true;
  dial_account_ = account_;
  upstream_ = UpstreamConn::create(env_.loop(), {&env_.config(), env_.upstream_tls()}, this);
  upstream_->connect();
}

PoolKey ClientSession::pool_key() const { return {account_, client_caps_ & cap::kPoolKey, client_mariadb_caps_}; }

SessionProfile ClientSession::wanted_profile() const {
  SessionProfile p;
  if (database_ && !database_->empty()) p.schema = database_;
  p.collation = collation_;
  p.multi_statements = (client_caps_ & cap::kMultiStatements) != 0;
  p.ignore_space = (client_caps_ & cap::kIgnoreSpace) != 0;
  return p;
}

// spec §5.3: a connection whose reset is on its way and leaves it as the client wants (taken
// first: the client's first command rides behind the reset, and no reset costs a round trip of
// its own), a warm connection with the client's key fixed up to its schema and options, or a
// new one logged in with the current token; the client's OK follows once it is ready (or, for
// the connection being reset, once its outcome is promised: take_over_returning()).
void ClientSession::acquire_upstream() {
  UpstreamPool& pool = env_.pool();
  pool.note_demand(pool_key(), wanted_profile());
  if (upstream_ != nullptr) {               // the first session's own connection
    pool.recount(dial_account_, account_);  // dialed before the client named its account
    dial_account_ = account_;
    login_wait_.note(LoginWaitReason::dial);
    acquire_token();
    return;
  }
  if (auto h = pool.take_returning(pool_key(), wanted_profile())) {
    take_over_returning(std::move(*h));
    return;
  }
  if (auto pc = pool.take(pool_key(), wanted_profile())) {
    pooled_ = std::move(*pc);
    upstream_ = pooled_->conn;
    upstream_counted_ = true;
    upstream_->set_owner(this);
    transition(State::prepare);
    start_prep(ConnectionPrep::Purpose::checkout, checkout_have(*pooled_),
               {.profile = wanted_profile(), .replayed_sets = {}, .autocommit_off = false});
    if (prep_) login_wait_.note(LoginWaitReason::fixup);  // still engaged: commands went out before the OK
    return;
  }
  if (pool.wait_for_returning(pool_key(), this)) {
    waiting_for_pool_ = true;
    login_wait_.note(LoginWaitReason::pool_wait);
    pool_wait_started_ = std::chrono::steady_clock::now();
    process_metrics().gauge(MetricId::pool_waiting_clients).add();
    // A cleanup waits on the database; should it hang, this client dials (or borrows).
    arm(Deadline::pool_wait, static_cast<uint64_t>(env_.config().connect_timeout.count()));
    return;
  }
  dial_or_borrow();
}

// The login OK is a direct login's for this client (the greeting's session flags, the SCHEMA
// tracker for a database it named): after COM_RESET_CONNECTION the session is the server's
// default one, with the profile hand_over() promised. The cleanup's replies go to prep_
// (session_prep.cc, handover_prepared()); the client's commands are written behind it.
void ClientSession::take_over_returning(UpstreamPool::Handover h) {
  pooled_ = std::move(h.pc);
  upstream_ = pooled_->conn;
  upstream_counted_ = true;
  upstream_->set_owner(this);
  prep_.emplace(std::move(h.prep));
  log_debug("pool_handover",
            {{"conn", connection_id_}, {"state", to_string(state_)}, {"thread_id", upstream_->thread_id()}});
  const auto profile = env_.profile();
  const uint16_t status =
      (profile ? profile->status_flags : protocol::status::kAutocommit) & protocol::status::kSessionFlags;
  send_ok(status);
  start_relay(status);
}

void ClientSession::on_pool_wait_over() {
  waiting_for_pool_ = false;
  count_pool_wait();
  disarm();
  if (state_ == State::wait_upstream) acquire_upstream();
  if (state_ == State::attaching) take_shared();
}

void ClientSession::stop_waiting_for_pool() {
  if (!waiting_for_pool_) return;
  waiting_for_pool_ = false;
  count_pool_wait();
  env_.pool().cancel_wait(this);
}

void ClientSession::count_pool_wait() {
  process_metrics().gauge(MetricId::pool_waiting_clients).sub();
  process_metrics()
      .histogram(MetricId::pool_wait_duration)
      .observe(std::chrono::steady_clock::now() - pool_wait_started_);
}

void ClientSession::acquire_token() {
  TokenSource& tokens = env_.tokens();
  auto state = tokens.current(account_);
  const auto now = std::chrono::steady_clock::now();
  if (state && state->usable(now) && state->generation != rejected_generation_) {
    stop_waiting_for_token();
    token_ = std::move(state);
    maybe_start_upstream_login();
    return;
  }
  if (waiting_for_token_ && state && state->generation > seen_generation_) {
    // The fetch this session waited for has finished without a usable token.
    stop_waiting_for_token();
    fail_with_cam_error(state.get());
    return;
  }
  if (!waiting_for_token_) seen_generation_ = state ? state->generation : 0;
  switch (tokens.request(account_, seen_generation_)) {
    case TokenDemand::wait: break;
    case TokenDemand::rejected:  // CAM refused the account and may not be asked again yet
      stop_waiting_for_token();
      fail_with_cam_error(state.get());
      return;
    case TokenDemand::limited:
      stop_waiting_for_token();
      fail(ClientError::cam_rate_limited);
      return;
  }
  if (!waiting_for_token_) {
    waiting_for_token_ = true;
    env_.add_token_waiter(this);
  }
}

void ClientSession::on_token_published() {
  if (waiting_for_token_ &&
      (state_ == State::wait_upstream || state_ == State::reconnecting || state_ == State::attaching))
    acquire_token();
}

void ClientSession::stop_waiting_for_token() {
  if (!waiting_for_token_) return;
  waiting_for_token_ = false;
  env_.remove_token_waiter(this);
}

void ClientSession::on_upstream_greeting(UpstreamConn& u) {
  const auto& g = u.greeting();
  auto current = env_.profile();
  if (!current || current->server_version != g.server_version || current->capabilities != g.capabilities ||
      current->mariadb_capabilities != g.mariadb_ext_caps) {
    env_.set_profile(std::make_shared<GreetingProfile>(
        GreetingProfile{g.server_version, g.capabilities, g.mariadb_ext_caps, g.collation, g.status_flags}));
  }
  if (state_ == State::wait_profile) {
    send_greeting();
    // Another session's greeting taught the profile first: this dial only raced it. Its client
    // may never log in (a flood of half-open connections at start), so the --pool-max slot is
    // freed now; a login takes a pooled or new connection as any later session does.
    if (current != nullptr) drop_upstream();
    return;
  }
  maybe_start_upstream_login();
}

void ClientSession::maybe_start_upstream_login() {
  const bool greeted = upstream_ != nullptr && upstream_->awaiting_login();
  const bool wants = state_ == State::wait_upstream || state_ == State::reconnecting || state_ == State::attaching;
  if (!wants || !token_ || !greeted) return;
  if (state_ == State::wait_upstream) transition(State::upstream_login);
  UpstreamLogin login;
  login.user = account_;
  login.password = token_->password;
  login.capabilities = client_caps_;
  login.mariadb_capabilities = client_mariadb_caps_;
  login.collation = collation_;
  login.database = database_;
  login.max_packet_size = max_packet_size_ != 0 ? max_packet_size_ : 16 * 1024 * 1024;
  login.attrs.emplace_back("_client_name", "camproxy");
  login.attrs.emplace_back("_client_version", kVersion);
  for (const auto& [k, v] : attrs_) {
    if (k == "program_name") login.attrs.emplace_back(k, v);
  }
  upstream_->login(std::move(login));
}

void ClientSession::on_upstream_ready(UpstreamConn& u, std::span<const uint8_t> ok_payload) {
  if (prep_) {  // COM_CHANGE_USER accepted (a cleanup for the client's own COM_CHANGE_USER)
    drive_prep(prep_->on_ready());
    return;
  }
  pooled_ = PooledConn{.conn = &u,
                       .key = pool_key(),
                       .profile = wanted_profile(),
                       .created = std::chrono::steady_clock::now(),
                       .idle_since = std::chrono::steady_clock::now(),
                       .login_collation = collation_,  // what maybe_start_upstream_login() logged in with
                       .last_look = std::nullopt};
  if (state_ == State::reconnecting) {  // a replacement: re-create the session, the client saw nothing
    start_prep(ConnectionPrep::Purpose::reconnect, pooled_->profile, replay_want(pooled_->profile));
    return;
  }
  if (state_ == State::attaching) {  // dialed for a session's next command (session_sharing.cc)
    start_attach_prep();
    return;
  }
  // The database's own OK, renumbered: its status flags and session-state info are the
  // truth the application should start from.
  client_seq_ = send_login_ok(client_, client_seq_, sha2_fast_ack_, ok_payload);
  auto ok = protocol::decode_ok(ok_payload, u.capabilities());
  start_relay(ok ? ok->status_flags : protocol::status::kAutocommit);
}

void ClientSession::on_upstream_failed(UpstreamConn&, const UpstreamFailure& f) {
  // A replay's connection lost is a loss while reconnecting (retried within the window).
  if (state_ == State::relay || state_ == State::reconnecting) {
    on_relay_upstream_lost(f);
    return;
  }
  if (prep_) {  // a checkout's, or a client's COM_CHANGE_USER's (no silent re-dial for that one)
    drive_prep(prep_->on_failed(f));
    return;
  }
  if (state_ == State::detaching || state_ == State::attaching) {  // session_sharing.cc
    if (state_ == State::attaching && refetch_token_after_1045(f)) {
      take_shared();  // a connection of the key, or a dial with the new token
      return;
    }
    drop_upstream();
    client_seq_ = 1;  // the reply to the client's next (held) command
    if (state_ == State::detaching) {
      fail(ClientError::lost_with_state, "the connection was lost while reading LAST_INSERT_ID(): " + f.message);
    } else {
      fail_with_upstream_error(f);
    }
    return;
  }
  // Once per client login.
  if (!retried_after_1045_ && refetch_token_after_1045(f)) {
    retried_after_1045_ = true;
    transition(State::wait_upstream);
    dial_upstream();
    acquire_token();
    return;
  }
  log_warn("upstream_login_failed", {{"conn", connection_id_},
                                     {"state", to_string(state_)},
                                     {"account", account_},
                                     {"kind", to_string(f.kind)},
                                     {"code", f.code},
                                     {"message", f.message}});
  drop_upstream();
  if (state_ == State::client_login) {
    // The client is mid-login: answer its next packet with the error, in sequence.
    pending_upstream_failure_ = f;
    return;
  }
  fail_with_upstream_error(f);
}

// spec §3.4: 1045 to a login made with the current token means the password rotated ("Refresh
// Password" or a schedule we have not caught up with): the token is refetched (never twice for
// one token) and the caller logs in again; the connection is dropped. False: not such a failure,
// or CAM may not be asked now.
bool ClientSession::refetch_token_after_1045(const UpstreamFailure& f) {
  const bool rejected_token = f.kind == UpstreamFailure::Kind::server_error && f.code == 1045 && token_ != nullptr;
  if (!rejected_token || token_->generation == rejected_generation_ ||
      !env_.tokens().request_after_rejection(account_, token_->generation))
    return false;
  process_metrics().counter(MetricId::upstream_auth_retries).inc();
  rejected_generation_ = token_->generation;
  seen_generation_ = token_->generation;
  waiting_for_token_ = true;
  env_.add_token_waiter(this);
  log_info("upstream_login_rejected_refreshing_token",
           {{"conn", connection_id_}, {"state", to_string(state_)}, {"account", account_}});
  token_.reset();
  drop_upstream();
  return true;
}

void ClientSession::fail_with_upstream_error(const UpstreamFailure& f) {
  switch (f.kind) {
    case UpstreamFailure::Kind::connect:
    case UpstreamFailure::Kind::timeout:
    case UpstreamFailure::Kind::closed: fail(ClientError::upstream_unreachable, f.message); return;
    case UpstreamFailure::Kind::tls: fail(ClientError::upstream_tls, f.message); return;
    case UpstreamFailure::Kind::protocol: fail(ClientError::upstream_protocol, f.message); return;
    case UpstreamFailure::Kind::unsafe_auth: fail(ClientError::upstream_unsafe_auth, f.message); return;
    case UpstreamFailure::Kind::server_error:
      if (f.code == 1045) {
        fail(ClientError::upstream_auth_rejected, f.message);
        return;
      }
      // Other login errors (unknown database 1049, too many connections 1040, ...) are the
      // server's own words for the application: pass them on unchanged.
      send_error_and_close({f.code, f.sql_state.empty() ? std::string_view("HY000") : f.sql_state, f.message});
      return;
  }
}

void ClientSession::fail_with_cam_error(const TokenState* state) {
  if (state == nullptr || !state->error) {
    fail(ClientError::cam_unavailable, "the token expired and no new one was issued");
    return;
  }
  const auth::CamError& e = *state->error;
  std::string detail = e.code + ": " + e.message;
  if (!e.request_id.empty()) detail += " (RequestId " + e.request_id + ")";
  fail(e.error_class == auth::ErrorClass::user_notification ? ClientError::cam_rejected : ClientError::cam_unavailable,
       detail);
}

bool ClientSession::upstream_reusable() const {
  if (upstream_ == nullptr || !pooled_) return false;
  if (state_ == State::relay || (state_ == State::closing_after_write && tracker_)) {
    // at_rest: not while a handed-over cleanup still runs (its outcome is unknown).
    return tracker_ && tracker_->idle() && !tracker_->failed() && framer_.at_boundary() && upstream_->at_rest();
  }
  // Prepare: only once its fix-ups have answered (a client leaving mid-fix-up closes it).
  return state_ == State::prepare && upstream_->at_rest();
}

// upstream_ with its pool record, for the pool: the session no longer holds or counts it.
PooledConn ClientSession::give_up_upstream() {
  PooledConn pc = std::move(*pooled_);
  pooled_.reset();
  pc.conn = upstream_;
  upstream_ = nullptr;
  upstream_counted_ = false;
  return pc;
}

// The session is done with its database connection: reset and pooled when it is safe.
void ClientSession::release_upstream() {
  if (upstream_ == nullptr) return;
  if (prep_ && prep_->purpose() == ConnectionPrep::Purpose::handover && !upstream_->relay_behind_commands()) {
    // Taken mid-reset and left before sending anything (a connect-and-quit client): the pool
    // finishes the reset it started.
    PooledConn pc = give_up_upstream();
    ConnectionPrep prep = std::move(*prep_);
    prep_.reset();
    env_.pool().take_back({std::move(pc), std::move(prep)});
    return;
  }
  prep_.reset();  // a connection being prepared is not at rest: it is closed below
  if (upstream_reusable()) {
    PooledConn pc = give_up_upstream();
    if (tracker_) {  // the client ran commands: what it left (a reset keeps both, spec §5.1)
      pc.profile.schema = replay_.schema;
      pc.profile.multi_statements = multi_statements_;
    }
    pc.role_may_be_set = role_may_be_set_;
    env_.pool().give_back(std::move(pc), collation_, !schema_uncertain_);
    return;
  }
  drop_upstream();
}

void ClientSession::drop_upstream() {
  if (upstream_ == nullptr) return;
  prep_.reset();
  upstream_->close();
  upstream_ = nullptr;
  if (upstream_counted_) env_.pool().count_closed(pooled_ ? pooled_->key.account : dial_account_);
  pooled_.reset();
  upstream_counted_ = false;
}

}  // namespace camproxy::proxy
