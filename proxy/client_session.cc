#include "proxy/client_session.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "proxy/listen_policy.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/packet_out.h"
#include "proxy/peer_identity.h"
#include "proxy/session_env.h"
#include "proxy/version.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;

// Time a closing session gets to flush its last bytes (a final ERR, the reply before COM_QUIT)
// to a client that stopped reading.
constexpr uint64_t kCloseAfterWriteTimeoutMs = 2000;

}  // namespace

ClientSession::ClientSession(SessionEnv& env) : env_(env), client_(*this) {
  uv_timer_init(env_.loop(), &timer_);
  timer_.data = this;
}

ClientSession::~ClientSession() = default;

bool ClientSession::accept(uv_stream_t* server, const ListenAddress& listener) {
  int rc = listener.is_unix ? client_.init_pipe(env_.loop()) : client_.init_tcp(env_.loop());
  if (rc == 0) rc = uv_accept(server, client_.stream());
  return attached(rc, listener);
}

bool ClientSession::adopt(int fd, const ListenAddress& listener) {
  int rc = client_.init_tcp(env_.loop());
  if (rc == 0) rc = uv_tcp_open(client_.tcp(), fd);
  if (rc != 0) ::close(fd);  // the handle did not take it
  return attached(rc, listener);
}

// The client's socket is this session's (rc == 0) or not: then everything is closed again.
bool ClientSession::attached(int rc, const ListenAddress& listener) {
  const bool is_unix = listener.is_unix;
  if (rc != 0) {
    if (rc != UV_EAGAIN) log_warn("accept_failed", {{"error", uv_strerror(rc)}});
    transition(State::closing);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_timer_closed);
    client_.close();
    return false;
  }
  if (!is_unix) uv_tcp_nodelay(client_.tcp(), 1);
  // A loopback listener's peers are local by construction (no getpeername per connection).
  if (!is_unix && !is_loopback_host(listener.tcp.host)) {
    sockaddr_storage peer{};
    int len = sizeof peer;
    // A peer whose address cannot be read is treated as remote: it must use TLS.
    remote_peer_ =
        uv_tcp_getpeername(client_.tcp(), reinterpret_cast<sockaddr*>(&peer), &len) != 0 || !is_loopback_peer(peer);
  }
  if (!listener.allowed_peer_uids.empty()) {
    uv_os_fd_t fd = -1;
    auto uid = uv_fileno(reinterpret_cast<uv_handle_t*>(client_.stream()), &fd) == 0 ? peer_uid(fd) : std::nullopt;
    const auto& allowed = listener.allowed_peer_uids;
    if (!uid) {
      refused_peer_ = "unknown";
    } else if (std::find(allowed.begin(), allowed.end(), *uid) == allowed.end()) {
      refused_peer_ = std::to_string(*uid);
    }
  }
  return true;
}

void ClientSession::start() {
  connection_id_ = env_.next_connection_id();
  accepted_at_ = std::chrono::steady_clock::now();
  process_metrics().counter(MetricId::client_connections_total).inc();
  process_metrics().gauge(MetricId::client_connections_open).add();
  // A refusal instead of a hang (issue 7): the ERR takes the greeting's place.
  if (!env_.admit_client()) {
    fail(ClientError::too_many_clients);
    return;
  }
  if (refused_peer_) {  // the ERR takes the greeting's place
    log_warn("peer_refused", {{"conn", connection_id_}, {"state", to_string(state_)}, {"uid", *refused_peer_}});
    fail(ClientError::peer_refused, *refused_peer_);
    return;
  }
  local_users_ = env_.local_users();
  log_debug("client_connected", {{"conn", connection_id_}, {"state", to_string(state_)}, {"worker", env_.index()}});
  arm(Deadline::handshake, static_cast<uint64_t>(env_.config().handshake_timeout.count()));
  client_.start_reading();
  if (env_.profile()) {
    send_greeting();
    return;
  }
  // The first session learns what to mirror from a database greeting; that connection then
  // serves it, logging in once the client has.
  dial_upstream();
}

void ClientSession::dial_upstream() {
  env_.pool().opened();
  upstream_counted_ = true;
  upstream_greeted_ = false;
  upstream_ = UpstreamConn::create(env_.loop(), {&env_.config(), env_.upstream_tls()}, this);
  upstream_->connect();
}

std::string_view to_string(ClientSession::State s) {
  using State = ClientSession::State;
  switch (s) {
    case State::wait_profile: return "wait_profile";
    case State::client_login: return "client_login";
    case State::wait_upstream: return "wait_upstream";
    case State::upstream_login: return "upstream_login";
    case State::prepare: return "prepare";
    case State::relay: return "relay";
    case State::reconnecting: return "reconnecting";
    case State::closing_after_write: return "closing_after_write";
    case State::closing: return "closing";
  }
  return "?";
}

// The session's life in one place (docs/architecture.md draws it).
bool ClientSession::legal_transition(State from, State to) {
  if (from == State::closing) return false;
  if (to == State::closing_after_write || to == State::closing) return true;  // any failure, any close
  switch (from) {
    case State::wait_profile: return to == State::client_login;
    case State::client_login: return to == State::wait_upstream;
    // wait_upstream again: a 1045 retry with a refreshed token, or a pooled connection that died.
    case State::wait_upstream: return to == State::upstream_login || to == State::prepare || to == State::wait_upstream;
    case State::upstream_login: return to == State::relay || to == State::wait_upstream;
    case State::prepare: return to == State::relay || to == State::wait_upstream;
    case State::relay: return to == State::prepare || to == State::reconnecting || to == State::relay;
    case State::reconnecting: return to == State::relay || to == State::reconnecting;
    case State::closing_after_write:
    case State::closing: return false;
  }
  return false;
}

void ClientSession::transition(State next) {
  if (!legal_transition(state_, next)) {
    log_error("session_bad_transition",
              {{"conn", connection_id_}, {"from", to_string(state_)}, {"to", to_string(next)}});
  }
  log_debug("session_state", {{"conn", connection_id_}, {"from", to_string(state_)}, {"to", to_string(next)}});
  state_ = next;
}

// The greeting mirrors the database's version and capabilities; the login is the machine's.
void ClientSession::send_greeting() {
  auto profile = env_.profile();
  protocol::GreetingInfo info;
  info.server_version = profile->server_version;
  info.connection_id = connection_id_;
  info.upstream_capabilities = profile->capabilities;
  info.collation = profile->collation;
  info.status_flags = profile->status_flags;
  info.tls_offered = env_.client_tls() != nullptr;
  info.tls_required = remote_peer_;
  info.local_auth = local_users_ != nullptr;
  transition(State::client_login);
  drive_login(login_.greet(info));  // a client that spoke first is handled now
}

void ClientSession::on_data(Transport&, std::span<const uint8_t> data) {
  if (state_ == State::relay) {
    relay_from_client(data);
    return;
  }
  if (state_ == State::closing_after_write || state_ == State::closing) return;
  drive_login(login_.feed(data));
}

// Carries out what the login machine asks for until it waits for the client again.
void ClientSession::drive_login(protocol::ServerHandshake::Action action) {
  using Action = protocol::ServerHandshake::Action;
  for (;;) {
    client_seq_ = login_.next_seq();
    switch (action) {
      case Action::read_more: return;
      case Action::send:
        client_.write(login_.output());
        if (state_ == State::closing) return;  // the write failed and on_error finished the session
        action = login_.step();
        break;
      case Action::start_tls: start_client_tls(); return;
      case Action::check_user:
        if (!map_user_to_account()) return;
        action = login_.accept_user();
        break;
      case Action::verify_password: action = login_.verdict(verify_locally()); break;
      case Action::authenticated:
        sha2_fast_ack_ = login_.login().sha2_fast_ack;
        client_authenticated();
        return;
      case Action::refuse: refuse_login(); return;
    }
  }
}

void ClientSession::start_client_tls() {
  SSL* ssl = SSL_new(env_.client_tls());
  if (ssl == nullptr) {
    fail(ClientError::bad_handshake, "TLS unavailable");
    return;
  }
  SSL_set_accept_state(ssl);
  auto early = login_.tls_early_bytes();
  client_.start_tls(ssl, early);
}

void ClientSession::on_tls_ready(Transport&) {
  if (state_ == State::client_login) drive_login(login_.tls_ready());
}

// The HandshakeResponse41's fields become the session's; its user must map to an account.
bool ClientSession::map_user_to_account() {
  const protocol::ClientLogin& login = login_.login();
  client_caps_ = login.capabilities;
  collation_ = login.collation;
  max_packet_size_ = login.max_packet_size;
  user_ = login.user;
  database_ = login.database;
  attrs_ = login.attrs;
  auto account = env_.config().account_for(user_);
  if (!account) {
    fail(ClientError::user_not_mapped, user_);
    return false;
  }
  account_ = std::move(*account);
  if (account_.empty()) {
    fail(ClientError::no_account);
    return false;
  }
  return true;
}

// Local authentication (local_users.h): the scramble is checked against the stored hashes.
bool ClientSession::verify_locally() const {
  const protocol::PasswordCheck check = login_.password_check();
  const auto kind = check.caching_sha2 ? LocalAuthPlugin::caching_sha2_password : LocalAuthPlugin::native_password;
  protocol::Nonce nonce{};
  std::copy(check.nonce.begin(), check.nonce.end(), nonce.begin());
  return local_users_->verify(user_, kind, nonce, check.response);
}

void ClientSession::refuse_login() {
  using Refusal = protocol::HandshakeRefusal;
  switch (login_.refusal()) {
    case Refusal::pre41_client: {
      // spec §2.4: a pre-4.1 client gets 1251 in the old format (no SQLSTATE), as mysqld does.
      auto e = make_client_error(ClientError::old_auth_protocol, {});
      send_error_and_close(e.view(), /*protocol41=*/false);
      return;
    }
    case Refusal::packet_too_large: fail(ClientError::packet_too_large, login_.detail()); return;
    case Refusal::tls_not_offered: fail(ClientError::tls_not_offered); return;
    case Refusal::tls_required: fail(ClientError::tls_required); return;
    case Refusal::compression_refused: fail(ClientError::compression_refused); return;
    case Refusal::old_password_plugin: fail(ClientError::old_auth_protocol); return;
    case Refusal::local_auth_denied: fail(ClientError::local_auth_denied); return;
    case Refusal::none:
    case Refusal::bad_handshake: fail(ClientError::bad_handshake, login_.detail()); return;
  }
}

void ClientSession::client_authenticated() {
  transition(State::wait_upstream);
  disarm();
  if (pending_upstream_failure_) {
    fail_with_upstream_error(*pending_upstream_failure_);
    return;
  }
  log_debug("client_authenticated", {{"conn", connection_id_},
                                     {"state", to_string(state_)},
                                     {"user", user_},
                                     {"account", account_},
                                     {"tls", client_.tls_on()}});
  acquire_upstream();
}

PoolKey ClientSession::pool_key() const { return {account_, client_caps_ & cap::kPoolKey}; }

SessionProfile ClientSession::wanted_profile() const {
  SessionProfile p;
  if (database_ && !database_->empty()) p.schema = database_;
  p.collation = collation_;
  p.multi_statements = (client_caps_ & cap::kMultiStatements) != 0;
  p.ignore_space = (client_caps_ & cap::kIgnoreSpace) != 0;
  return p;
}

// spec §5.3: a warm connection with the client's key, fixed up to its schema and options, or a
// new one logged in with the current token; the client's OK follows only once it is ready.
void ClientSession::acquire_upstream() {
  UpstreamPool& pool = env_.pool();
  pool.note_demand(pool_key(), wanted_profile());
  if (upstream_ != nullptr) {  // the first session's own connection
    acquire_token();
    return;
  }
  if (auto pc = pool.take(pool_key(), wanted_profile())) {
    pooled_ = std::move(*pc);
    upstream_ = pooled_->conn;
    upstream_counted_ = true;
    upstream_->set_owner(this);
    transition(State::prepare);
    auto cmds = fix_up_commands(pooled_->profile, wanted_profile(), env_.collations());
    if (cmds.empty()) {
      on_upstream_commands_done(*upstream_, {});
    } else {
      upstream_->run_commands(cmds);
    }
    return;
  }
  if (pool.wait_for_returning(pool_key(), this)) {
    waiting_for_pool_ = true;
    // A cleanup waits on the database; should it hang, this client dials (or gets 1040).
    arm(Deadline::pool_wait, static_cast<uint64_t>(env_.config().connect_timeout.count()));
    return;
  }
  dial_or_refuse();
}

void ClientSession::dial_or_refuse() {
  UpstreamPool& pool = env_.pool();
  if (!pool.may_open() && !pool.make_room()) {
    fail(ClientError::too_many_connections);
    return;
  }
  dial_upstream();
  acquire_token();
}

void ClientSession::on_pool_wait_over() {
  waiting_for_pool_ = false;
  disarm();
  if (state_ == State::wait_upstream) acquire_upstream();
}

void ClientSession::stop_waiting_for_pool() {
  if (!waiting_for_pool_) return;
  waiting_for_pool_ = false;
  env_.pool().cancel_wait(this);
}

void ClientSession::acquire_token() {
  TokenService& tokens = env_.tokens();
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
  if (!tokens.request(account_, seen_generation_)) {  // CAM refused the account and was just asked
    stop_waiting_for_token();
    fail_with_cam_error(state.get());
    return;
  }
  if (!waiting_for_token_) {
    waiting_for_token_ = true;
    env_.add_token_waiter(this);
  }
}

void ClientSession::on_token_published() {
  if (waiting_for_token_ && (state_ == State::wait_upstream || state_ == State::reconnecting)) acquire_token();
}

void ClientSession::stop_waiting_for_token() {
  if (!waiting_for_token_) return;
  waiting_for_token_ = false;
  env_.remove_token_waiter(this);
}

void ClientSession::on_upstream_greeting(UpstreamConn& u) {
  upstream_greeted_ = true;
  const auto& g = u.greeting();
  auto current = env_.profile();
  if (!current || current->server_version != g.server_version || current->capabilities != g.capabilities) {
    env_.set_profile(std::make_shared<UpstreamProfile>(
        UpstreamProfile{g.server_version, g.capabilities, g.collation, g.status_flags}));
  }
  if (state_ == State::wait_profile) {
    send_greeting();
    return;
  }
  maybe_start_upstream_login();
}

void ClientSession::maybe_start_upstream_login() {
  if ((state_ != State::wait_upstream && state_ != State::reconnecting) || !token_ || !upstream_greeted_) return;
  if (state_ == State::wait_upstream) transition(State::upstream_login);
  UpstreamLogin login;
  login.user = account_;
  login.password = token_->password;
  login.capabilities = client_caps_;
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
  if (changing_user_ == ChangeUser::reauth) {
    change_user_reauthenticated();
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
    auto cmds = replay_commands();
    if (cmds.empty()) {
      on_upstream_commands_done(u, {});
    } else {
      u.run_commands(cmds);
    }
    return;
  }
  // The database's own OK, renumbered: its status flags and session-state info are the
  // truth the application should start from.
  client_seq_ = send_login_ok(client_, client_seq_, sha2_fast_ack_, ok_payload);
  auto ok = protocol::decode_ok(ok_payload, u.capabilities());
  start_relay(ok ? ok->status_flags : protocol::status::kAutocommit);
}

void ClientSession::on_upstream_failed(UpstreamConn&, const UpstreamFailure& f) {
  if (changing_user_ != ChangeUser::none) {  // no silent re-dial: the client asked for this session
    change_user_failed(f);
    return;
  }
  if (state_ == State::relay || state_ == State::reconnecting) {
    on_relay_upstream_lost(f);
    return;
  }
  if (state_ == State::prepare) {  // a pooled connection died while being fixed up: dial anew
    drop_upstream();
    transition(State::wait_upstream);
    acquire_upstream();
    return;
  }
  // spec §3.4: 1045 to a login made with the current token means the password rotated
  // ("Refresh Password" or a schedule we have not caught up with): refetch once and retry.
  const bool rejected_token = f.kind == UpstreamFailure::Kind::server_error && f.code == 1045 && token_ != nullptr;
  if (rejected_token && !retried_after_1045_ && env_.tokens().request_after_rejection(account_, token_->generation)) {
    process_metrics().counter(MetricId::upstream_auth_retries).inc();
    retried_after_1045_ = true;
    rejected_generation_ = token_->generation;
    seen_generation_ = token_->generation;
    waiting_for_token_ = true;
    env_.add_token_waiter(this);
    log_info("upstream_login_rejected_refreshing_token",
             {{"conn", connection_id_}, {"state", to_string(state_)}, {"account", account_}});
    token_.reset();
    drop_upstream();
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

void ClientSession::fail_with_upstream_error(const UpstreamFailure& f) {
  switch (f.kind) {
    case UpstreamFailure::Kind::connect:
    case UpstreamFailure::Kind::timeout:
    case UpstreamFailure::Kind::closed: fail(ClientError::upstream_unreachable, f.message); return;
    case UpstreamFailure::Kind::tls: fail(ClientError::upstream_tls, f.message); return;
    case UpstreamFailure::Kind::protocol: fail(ClientError::upstream_protocol, f.message); return;
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

// The ERR of `kind` with this session's account, user and target in its text.
OwnedErr ClientSession::client_error(ClientError kind, std::string_view detail) const {
  const TargetConfig& c = env_.config();
  const std::string upstream = c.upstream.to_string();
  return make_client_error(kind, {account_, c.instance_id, c.region, upstream, detail, user_});
}

namespace {
ClientFailure failure_reason(ClientError kind) {
  switch (kind) {
    case ClientError::cam_rejected:
    case ClientError::cam_unavailable: return ClientFailure::cam;
    case ClientError::upstream_unreachable:
    case ClientError::upstream_tls:
    case ClientError::upstream_auth_rejected:
    case ClientError::upstream_protocol:
    case ClientError::too_many_connections:
    case ClientError::lost_during_command:
    case ClientError::lost_with_state: return ClientFailure::upstream;
    case ClientError::handshake_timeout: return ClientFailure::handshake_timeout;
    case ClientError::peer_refused: return ClientFailure::peer_refused;
    case ClientError::local_auth_denied: return ClientFailure::local_auth;
    case ClientError::tls_required: return ClientFailure::client_tls;
    default: return ClientFailure::client_protocol;
  }
}
}  // namespace

void ClientSession::fail(ClientError kind, std::string_view detail) {
  if (state_ != State::relay && state_ != State::reconnecting)
    process_metrics().counter(MetricId::client_connections_failed, failure_reason(kind)).inc();
  auto err = client_error(kind, detail);
  log_info("client_login_failed", {{"conn", connection_id_},
                                   {"state", to_string(state_)},
                                   {"user", user_},
                                   {"code", err.code},
                                   {"message", err.message}});
  send_error_and_close(err.view());
}

void ClientSession::send_error_and_close(const protocol::ErrPacket& err, bool protocol41) {
  if (state_ == State::closing || state_ == State::closing_after_write) return;
  const bool mid_tls_handshake =
      state_ == State::client_login && login_.state() == protocol::ServerHandshakeState::tls_handshake;
  stop_waiting_for_token();
  transition(State::closing_after_write);
  // Mid-TLS-handshake there is no channel for an ERR (plaintext would corrupt the handshake,
  // SSL_write cannot run before it completes): close, as a MySQL server does.
  if (!mid_tls_handshake) {
    // Before the greeting the ERR takes its place (seq 0), as a server refusing a connection
    // does. It keeps its SQLSTATE even then: PyMySQL always skips 6 bytes of '#' + state.
    const uint8_t seq = client_seq_;
    send_err(client_, seq, err, protocol41 ? cap::kProtocol41 : 0);
    if (state_ == State::closing) return;  // the write failed and on_error finished the session
  }
  close_after_write();
}

// The one way a session ends gracefully: what is queued for the client is written first (for at
// most kCloseAfterWriteTimeoutMs), then finish(). The database connection is released now.
void ClientSession::close_after_write() {
  transition(State::closing_after_write);
  release_upstream();
  if (!client_.has_pending_writes()) {
    finish();
    return;
  }
  client_.stop_reading();
  arm(Deadline::close_after_write, kCloseAfterWriteTimeoutMs);
}

void ClientSession::on_error(Transport&, int code, const std::string& detail) {
  if (code == UV_EOF) {
    log_debug("client_disconnected", {{"conn", connection_id_}, {"state", to_string(state_)}});
  } else {
    log_info("client_connection_error", {{"conn", connection_id_}, {"state", to_string(state_)}, {"error", detail}});
  }
  finish();
}

// One handle serves the session's deadlines: they never overlap, and a new one replaces the last.
void ClientSession::arm(Deadline deadline, uint64_t ms) {
  armed_ = deadline;
  uv_timer_start(&timer_, on_timer, ms, 0);
}

void ClientSession::disarm() {
  armed_ = Deadline::none;
  uv_timer_stop(&timer_);
}

void ClientSession::on_timer(uv_timer_t* t) {
  auto* self = static_cast<ClientSession*>(t->data);
  const Deadline expired = std::exchange(self->armed_, Deadline::none);
  switch (expired) {
    case Deadline::none: return;
    case Deadline::handshake: self->fail(ClientError::handshake_timeout); return;
    case Deadline::pool_wait:  // a cleanup hangs on the database: this client dials (or gets 1040)
      self->stop_waiting_for_pool();
      self->dial_or_refuse();
      return;
    case Deadline::reconnect_backoff: self->reconnect(); return;
    case Deadline::close_after_write: self->finish(); return;
  }
}

}  // namespace camproxy::proxy
