// ClientSession's login toward the application: the session drives protocol/server_handshake
// (greeting, SSLRequest, HandshakeResponse41, AuthSwitch, local authentication) and maps its
// actions to I/O, the account mapping and ClientErrors.
#include <algorithm>

#include "protocol/client_auth.h"
#include "protocol/constants.h"
#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;

}  // namespace

// The greeting mirrors the database's version and capabilities; the login is the machine's.
void ClientSession::send_greeting() {
  auto profile = env_.profile();
  protocol::GreetingInfo info;
  info.server_version = profile->server_version;
  info.connection_id = connection_id_;
  info.upstream_capabilities = profile->capabilities;
  info.upstream_mariadb_capabilities = profile->mariadb_capabilities;
  info.collation = profile->collation;
  info.status_flags = profile->status_flags;
  info.tls_offered = env_.client_tls() != nullptr;
  info.tls_required = remote_peer_;
  info.local_auth = local_users_ != nullptr;
  // The client's time starts with the greeting: the first session's wait for the database's
  // greeting has the dial's own deadline (--connect-timeout).
  arm(Deadline::handshake, static_cast<uint64_t>(env_.config().handshake_timeout.count()));
  transition(State::client_login);
  drive_login(login_.greet(info));  // a client that spoke first is handled now
}

void ClientSession::on_data(Transport&, std::span<const uint8_t> data) {
  if (state_ == State::relay) {
    relay_from_client(data);
    return;
  }
  if (state_ == State::detaching || state_ == State::detached || state_ == State::attaching) {
    on_shared_data(data);
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
  client_mariadb_caps_ = login.mariadb_capabilities;
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
      auto e = client_error(ClientError::old_auth_protocol, {});
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
  env_.login_finished(this);
  if (pending_upstream_failure_) {
    fail_with_upstream_error(*pending_upstream_failure_);
    return;
  }
  log_debug("client_authenticated", {{"conn", connection_id_},
                                     {"state", to_string(state_)},
                                     {"user", user_},
                                     {"account", account_},
                                     {"tls", client_.tls_on()}});
  if (login_needs_connection()) {
    acquire_upstream();
    return;
  }
  answer_login_locally();
}

// --pool-mode transaction (docs/operations.md "Transaction pooling"): a login takes no database
// connection when its answer needs none, only its first command does. One is still taken, as in
// session mode, for a schema this worker has not seen the account log in to (the server's 1049 or
// 1044 must refuse the login itself), for a CLIENT_INTERACTIVE client (its wait_timeout is
// read at login: session_idle.cc), while no usable CAM token is at hand (CAM's refusal is a login
// error), and by the session whose dial taught the greeting.
bool ClientSession::login_needs_connection() const {
  if (env_.config().pool_mode != PoolMode::transaction || upstream_ != nullptr) return true;
  if ((client_caps_ & cap::kInteractive) != 0) return true;
  if (database_ && !database_->empty() && !env_.pool().checked_schemas().contains(account_, *database_)) return true;
  const auto token = env_.tokens().current(account_);
  return !token || !token->usable(std::chrono::steady_clock::now());
}

// The OK a pooled login sends (send_ok(): the greeting's session flags, the SCHEMA tracker for a
// database the client named), then the session as after any response that left it shareable:
// detached, its first command taking a connection of its key (session_sharing.cc). Its tracker
// reads replies with the capabilities every connection of its pool key negotiates.
void ClientSession::answer_login_locally() {
  const auto profile = env_.profile();  // the greeting was mirrored from it
  const uint16_t status = profile->status_flags & protocol::status::kSessionFlags;
  send_ok(status);
  if (state_ == State::closing) return;  // the write failed and on_error finished the session
  const protocol::NegotiatedCaps caps =
      protocol::negotiate_capabilities(client_caps_, client_mariadb_caps_, database_ && !database_->empty(),
                                       profile->capabilities, profile->mariadb_capabilities);
  tracker_.emplace(caps.capabilities, status, protocol::TrackerLimits{}, caps.mariadb_capabilities);
  multi_statements_ = (client_caps_ & cap::kMultiStatements) != 0;
  start_session();
  env_.pool().note_demand(pool_key(), wanted_profile());
  log_debug("session_started", {{"conn", connection_id_},
                                {"state", to_string(state_)},
                                {"user", user_},
                                {"account", account_},
                                {"client_tls", client_.tls_on()},
                                {"thread_id", 0}});
  registry_entry_->shared.store(true);
  transition(State::detached);
  set_shared(true);
  idle_since_ms_ = uv_now(env_.loop());
  arm_idle();
  const std::vector<uint8_t> rest = login_.take_rest();  // a client that sent its first command early
  if (!rest.empty()) on_shared_data(rest);
}

void ClientSession::start_session() {
  sharing_ = env_.config().pool_mode == PoolMode::transaction;
  process_metrics()
      .histogram(MetricId::client_handshake_duration)
      .observe(std::chrono::steady_clock::now() - accepted_at_);
  login_wait_.finish();
  replay_.schema = database_ && !database_->empty() ? database_ : std::nullopt;
  registry_entry_ = env_.sessions().add(connection_id_, user_);
  if (sharing_) statements_ = std::make_shared<StatementMap>();  // session_statements.cc
  framer_.hold_statements(sharing_);
}

}  // namespace camproxy::proxy
