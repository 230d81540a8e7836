#include "proxy/client_session.h"

#include <unistd.h>

#include <algorithm>

#include "protocol/auth_switch.h"
#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/handshake_response.h"
#include "protocol/handshake_v10.h"
#include "proxy/listen_policy.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/packet_out.h"
#include "proxy/peer_identity.h"
#include "proxy/version.h"
#include "proxy/worker.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;

// Before login a client may send only small packets (§2.4 fields plus attributes): it must
// not make camproxy buffer megabytes before it has even logged in.
constexpr size_t kMaxLoginPacket = 16 * 1024;
// Time a closing session gets to flush its final ERR to a client that stopped reading.
constexpr uint64_t kDrainTimeoutMs = 2000;

// Bits whose meaning depends on the database: offered to applications only when the
// database has them too, because the relay passes the database's bytes through unchanged.
constexpr uint32_t kUpstreamDependentCaps =
    cap::kPoolKey | cap::kMultiStatements | cap::kConnectWithDb | cap::kSessionTrack | cap::kDeprecateEof;
// spec §2.2: compression asked for without being offered is refused (as MySQL Router does).
// Other unoffered bits are masked, as a server does: mysql2 sets QUERY_ATTRIBUTES whatever
// the server offers and then follows the negotiated set.
constexpr uint32_t kRefusedCaps = cap::kCompress | cap::kZstdCompression;

std::string_view plugin_or_default(const std::optional<std::string>& name, uint32_t caps) {
  if (name) return *name;
  // Without CLIENT_PLUGIN_AUTH the response is mysql_native_password's.
  return (caps & cap::kPluginAuth) ? std::string_view{} : protocol::kNativePassword;
}

}  // namespace

ClientSession::ClientSession(Worker& worker) : worker_(worker), client_(*this), inbox_(kMaxLoginPacket) {
  uv_timer_init(worker_.loop(), &timer_);
  timer_.data = this;
}

ClientSession::~ClientSession() = default;

bool ClientSession::accept(uv_stream_t* server, const ListenAddress& listener) {
  int rc = listener.is_unix ? client_.init_pipe(worker_.loop()) : client_.init_tcp(worker_.loop());
  if (rc == 0) rc = uv_accept(server, client_.stream());
  return attached(rc, listener);
}

bool ClientSession::adopt(int fd, const ListenAddress& listener) {
  int rc = client_.init_tcp(worker_.loop());
  if (rc == 0) rc = uv_tcp_open(client_.tcp(), fd);
  if (rc != 0) ::close(fd);  // the handle did not take it
  return attached(rc, listener);
}

// The client's socket is this session's (rc == 0) or not: then everything is closed again.
bool ClientSession::attached(int rc, const ListenAddress& listener) {
  const bool is_unix = listener.is_unix;
  if (rc != 0) {
    if (rc != UV_EAGAIN) log_warn("accept_failed", {{"error", uv_strerror(rc)}});
    state_ = State::closing;
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
  connection_id_ = worker_.ctx().next_connection_id();
  accepted_at_ = std::chrono::steady_clock::now();
  process_metrics().counter(MetricId::client_connections_total).inc();
  process_metrics().gauge(MetricId::client_connections_open).add();
  // A refusal instead of a hang (issue 7): the ERR takes the greeting's place.
  const int64_t already_open = worker_.ctx().open_clients().fetch_add(1);
  worker_.ctx().note_open_clients(already_open + 1);
  if (already_open >= worker_.ctx().process().max_client_connections) {
    fail(ClientError::too_many_clients);
    return;
  }
  if (refused_peer_) {  // the ERR takes the greeting's place
    log_warn("peer_refused", {{"conn", connection_id_}, {"uid", *refused_peer_}});
    fail(ClientError::peer_refused, *refused_peer_);
    return;
  }
  local_users_ = worker_.ctx().local_users();
  log_debug("client_connected", {{"conn", connection_id_}, {"worker", worker_.index()}});
  uv_timer_start(&timer_, on_timer, static_cast<uint64_t>(worker_.ctx().config().handshake_timeout.count()), 0);
  client_.start_reading();
  if (worker_.ctx().profile()) {
    send_greeting();
    return;
  }
  // The first session learns what to mirror from a database greeting; that connection then
  // serves it, logging in once the client has.
  dial_upstream();
}

void ClientSession::dial_upstream() {
  worker_.pool().opened();
  upstream_counted_ = true;
  upstream_greeted_ = false;
  upstream_ = UpstreamConn::create(worker_.loop(), {&worker_.ctx().config(), worker_.ctx().upstream_tls()}, this);
  upstream_->connect();
}

void ClientSession::send_greeting() {
  auto profile = worker_.ctx().profile();
  nonce_ = protocol::make_nonce();
  advertised_caps_ = (cap::kProxyServerDefault | cap::kLocalFiles) & ~(kUpstreamDependentCaps & ~profile->capabilities);
  if (worker_.ctx().client_tls() != nullptr) advertised_caps_ |= cap::kSsl;
  protocol::HandshakeV10 hs;
  hs.server_version = profile->server_version;
  hs.connection_id = connection_id_;
  hs.nonce = nonce_;
  hs.capabilities = advertised_caps_;
  hs.collation = profile->collation;
  hs.status_flags = profile->status_flags;
  hs.auth_plugin_name = std::string(protocol::kCachingSha2Password);
  std::vector<uint8_t> payload;
  protocol::ByteWriter w(payload);
  protocol::encode_handshake_v10(hs, w);
  client_seq_ = send_packet(client_, 0, payload);
  sent_greeting_ = true;
  state_ = State::read_handshake;
  process_client_packets();  // a client that spoke first is handled now
}

void ClientSession::on_data(Transport&, std::span<const uint8_t> data) {
  if (state_ == State::relay) {
    relay_from_client(data);
    return;
  }
  if (state_ == State::draining || state_ == State::closing) return;
  inbox_.append(data);
  process_client_packets();
}

void ClientSession::process_client_packets() {
  while (state_ == State::read_handshake || state_ == State::read_switch) {
    auto packet = inbox_.next();
    if (!packet) {
      if (packet.error() == protocol::ProtoErr::need_more) return;
      if (packet.error() == protocol::ProtoErr::too_large) {
        fail(ClientError::packet_too_large, "at most " + std::to_string(kMaxLoginPacket) + " bytes before login");
      } else {
        fail(ClientError::bad_handshake, packet.error().message());
      }
      return;
    }
    client_seq_ = static_cast<uint8_t>(packet->last_seq_id + 1);
    if (state_ == State::read_handshake) {
      handle_handshake_response(packet->payload);
    } else {
      handle_switch_response(packet->payload);
    }
  }
}

void ClientSession::handle_handshake_response(std::span<const uint8_t> payload) {
  if (protocol::is_ssl_request(payload)) {
    if (worker_.ctx().client_tls() == nullptr || client_.tls_on()) {
      fail(ClientError::tls_not_offered);
      return;
    }
    SSL* ssl = SSL_new(worker_.ctx().client_tls());
    if (ssl == nullptr) {
      fail(ClientError::bad_handshake, "TLS unavailable");
      return;
    }
    SSL_set_accept_state(ssl);
    state_ = State::tls_handshake;
    auto early = inbox_.take_rest();
    client_.start_tls(ssl, early);
    return;
  }
  auto resp = protocol::decode_handshake_response41(payload);
  if (!resp) {
    if (resp.error() == protocol::ProtoErr::protocol_320) {
      // spec §2.4: a pre-4.1 client gets 1251 in the old format (no SQLSTATE), as mysqld does.
      auto e = make_client_error(ClientError::old_auth_protocol, {});
      send_error_and_close(e.view(), /*protocol41=*/false);
      return;
    }
    fail(ClientError::bad_handshake, resp.error().message());
    return;
  }
  if (remote_peer_ && !client_.tls_on()) {  // listen_policy.h: no password scramble in clear
    fail(ClientError::tls_required);
    return;
  }
  if (resp->capabilities & kRefusedCaps & ~advertised_caps_) {
    fail(ClientError::compression_refused);
    return;
  }
  client_caps_ = resp->capabilities & advertised_caps_;
  collation_ = resp->collation;
  max_packet_size_ = resp->max_packet_size;
  user_ = resp->user;
  database_ = resp->database;
  attrs_ = std::move(resp->attrs);
  auto account = worker_.ctx().config().account_for(user_);
  if (!account) {
    fail(ClientError::user_not_mapped, user_);
    return;
  }
  account_ = std::move(*account);
  if (account_.empty()) {
    fail(ClientError::no_account);
    return;
  }
  const std::string_view plugin = plugin_or_default(resp->auth_plugin_name, resp->capabilities);
  const size_t len = resp->auth_response.size();
  if (plugin == "mysql_old_password") {
    fail(ClientError::old_auth_protocol);
    return;
  }
  if (local_users_) {
    const auto& r = resp->auth_response;
    authenticate_locally(plugin, {reinterpret_cast<const uint8_t*>(r.data()), r.size()});
    return;
  }
  // spec §2.5: any password is accepted; the plugin only decides which packets complete
  // the client's side of the exchange.
  if (plugin == protocol::kCachingSha2Password && len == 32) {
    sha2_fast_ack_ = true;
    client_authenticated();
  } else if (plugin == protocol::kCachingSha2Password && (len == 0 || (len == 1 && resp->auth_response[0] == 0))) {
    client_authenticated();
  } else if (plugin == protocol::kNativePassword && len == 20) {
    client_authenticated();
  } else {
    send_auth_switch(plugin == protocol::kCachingSha2Password ? protocol::kCachingSha2Password
                                                              : protocol::kNativePassword);
  }
}

void ClientSession::send_auth_switch(std::string_view plugin) {
  switch_plugin_ = std::string(plugin);
  nonce_ = protocol::make_nonce();
  protocol::AuthSwitchRequest sw;
  sw.plugin_name = switch_plugin_;
  sw.plugin_data.assign(nonce_.begin(), nonce_.end());
  sw.plugin_data.push_back('\0');
  std::vector<uint8_t> out;
  protocol::ByteWriter w(out);
  protocol::encode_auth_switch_request(sw, w);
  client_seq_ = send_packet(client_, client_seq_, out);
  state_ = State::read_switch;
}

void ClientSession::handle_switch_response(std::span<const uint8_t> payload) {
  if (local_users_) {
    authenticate_locally(switch_plugin_, payload);
    return;
  }
  sha2_fast_ack_ = switch_plugin_ == protocol::kCachingSha2Password && payload.size() == 32;
  client_authenticated();
}

// Local authentication (local_users.h): the scramble of the plugin the client chose is checked
// against the stored hashes. A first answer that is no scramble gets one AuthSwitchRequest with
// a fresh nonce: to mysql_native_password for another plugin, to the same plugin for an empty
// answer (MariaDB Connector/C sends one when its plugin is not the greeting's, like libmysql).
// After the switch the answer is checked as it is, so an empty password is a wrong one.
void ClientSession::authenticate_locally(std::string_view plugin, std::span<const uint8_t> response) {
  const bool sha2 = plugin == protocol::kCachingSha2Password;
  const bool scramble = sha2 ? response.size() == 32 : plugin == protocol::kNativePassword && response.size() == 20;
  if (!scramble && state_ != State::read_switch) {
    send_auth_switch(sha2 ? protocol::kCachingSha2Password : protocol::kNativePassword);
    return;
  }
  const auto kind = sha2 ? LocalAuthPlugin::caching_sha2_password : LocalAuthPlugin::native_password;
  if (!local_users_->verify(user_, kind, nonce_, response)) {
    fail(ClientError::local_auth_denied);
    return;
  }
  sha2_fast_ack_ = sha2;  // spec §2.5: AuthMoreData fast_auth_success before the OK
  client_authenticated();
}

void ClientSession::on_tls_ready(Transport&) {
  if (state_ == State::tls_handshake) state_ = State::read_handshake;
}

void ClientSession::client_authenticated() {
  state_ = State::wait_upstream;
  uv_timer_stop(&timer_);
  if (pending_upstream_failure_) {
    fail_with_upstream_error(*pending_upstream_failure_);
    return;
  }
  log_debug("client_authenticated",
            {{"conn", connection_id_}, {"user", user_}, {"account", account_}, {"tls", client_.tls_on()}});
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
  UpstreamPool& pool = worker_.pool();
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
    state_ = State::prepare;
    auto cmds = fix_up_commands(pooled_->profile, wanted_profile(), worker_.ctx().collations());
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
    uv_timer_start(&timer_, on_timer, static_cast<uint64_t>(worker_.ctx().config().connect_timeout.count()), 0);
    return;
  }
  dial_or_refuse();
}

void ClientSession::dial_or_refuse() {
  UpstreamPool& pool = worker_.pool();
  if (!pool.may_open() && !pool.make_room()) {
    fail(ClientError::too_many_connections);
    return;
  }
  dial_upstream();
  acquire_token();
}

void ClientSession::on_pool_wait_over() {
  waiting_for_pool_ = false;
  uv_timer_stop(&timer_);
  if (state_ == State::wait_upstream) acquire_upstream();
}

void ClientSession::stop_waiting_for_pool() {
  if (!waiting_for_pool_) return;
  waiting_for_pool_ = false;
  worker_.pool().cancel_wait(this);
}

void ClientSession::acquire_token() {
  TokenService& tokens = worker_.ctx().tokens();
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
    worker_.add_token_waiter(this);
  }
}

void ClientSession::on_token_published() {
  if (waiting_for_token_ && (state_ == State::wait_upstream || state_ == State::reconnecting)) acquire_token();
}

void ClientSession::stop_waiting_for_token() {
  if (!waiting_for_token_) return;
  waiting_for_token_ = false;
  worker_.remove_token_waiter(this);
}

void ClientSession::on_upstream_greeting(UpstreamConn& u) {
  upstream_greeted_ = true;
  const auto& g = u.greeting();
  auto current = worker_.ctx().profile();
  if (!current || current->server_version != g.server_version || current->capabilities != g.capabilities) {
    worker_.ctx().set_profile(std::make_shared<UpstreamProfile>(
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
  if (state_ == State::wait_upstream) state_ = State::upstream_login;
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
    state_ = State::wait_upstream;
    acquire_upstream();
    return;
  }
  // spec §3.4: 1045 to a login made with the current token means the password rotated
  // ("Refresh Password" or a schedule we have not caught up with): refetch once and retry.
  const bool rejected_token = f.kind == UpstreamFailure::Kind::server_error && f.code == 1045 && token_ != nullptr;
  if (rejected_token && !retried_after_1045_ &&
      worker_.ctx().tokens().request_after_rejection(account_, token_->generation)) {
    process_metrics().counter(MetricId::upstream_auth_retries).inc();
    retried_after_1045_ = true;
    rejected_generation_ = token_->generation;
    seen_generation_ = token_->generation;
    waiting_for_token_ = true;
    worker_.add_token_waiter(this);
    log_info("upstream_login_rejected_refreshing_token", {{"conn", connection_id_}, {"account", account_}});
    token_.reset();
    drop_upstream();
    state_ = State::wait_upstream;
    dial_upstream();
    acquire_token();
    return;
  }
  log_warn("upstream_login_failed", {{"conn", connection_id_},
                                     {"account", account_},
                                     {"kind", to_string(f.kind)},
                                     {"code", f.code},
                                     {"message", f.message}});
  drop_upstream();
  if (state_ == State::read_handshake || state_ == State::tls_handshake || state_ == State::read_switch) {
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

ClientErrorContext ClientSession::error_context(std::string_view detail) const {
  const TargetConfig& c = worker_.ctx().config();
  static thread_local std::string upstream;
  upstream = c.upstream.to_string();
  return {account_, c.instance_id, c.region, upstream, detail, user_};
}

void ClientSession::fail(ClientError kind, std::string_view detail) {
  const auto reason = login_failure_reason(kind);
  if (reason && state_ != State::relay && state_ != State::reconnecting)
    process_metrics().counter(MetricId::client_connections_failed, *reason).inc();
  auto err = make_client_error(kind, error_context(detail));
  log_info("client_login_failed",
           {{"conn", connection_id_}, {"user", user_}, {"code", err.code}, {"message", err.message}});
  send_error_and_close(err.view());
}

void ClientSession::send_error_and_close(const protocol::ErrPacket& err, bool protocol41) {
  if (state_ == State::closing || state_ == State::draining) return;
  const bool mid_tls_handshake = state_ == State::tls_handshake;
  stop_waiting_for_token();
  state_ = State::draining;
  // Mid-TLS-handshake there is no channel for an ERR (plaintext would corrupt the handshake,
  // SSL_write cannot run before it completes): close, as a MySQL server does.
  if (!mid_tls_handshake) {
    // Before the greeting the ERR takes its place (seq 0), as a server refusing a connection
    // does. It keeps its SQLSTATE even then: PyMySQL always skips 6 bytes of '#' + state.
    const uint8_t seq = sent_greeting_ ? client_seq_ : 0;
    send_err(client_, seq, err, protocol41 ? cap::kProtocol41 : 0);
    if (state_ == State::closing) return;  // the write failed and on_error finished the session
  }
  release_upstream();
  if (!client_.has_pending_writes()) {
    finish();
    return;
  }
  client_.stop_reading();
  uv_timer_start(&timer_, on_timer, kDrainTimeoutMs, 0);
}

void ClientSession::on_error(Transport&, int code, const std::string& detail) {
  if (code == UV_EOF) {
    log_debug("client_disconnected", {{"conn", connection_id_}});
  } else {
    log_info("client_connection_error", {{"conn", connection_id_}, {"error", detail}});
  }
  // A login ending here was not counted by fail(): once fail() has queued its ERR the session
  // is draining, and a logged-in session (relaying, applying a COM_CHANGE_USER) is no login.
  const bool logging_in = state_ != State::relay && state_ != State::reconnecting && state_ != State::draining &&
                          state_ != State::closing && changing_user_ == ChangeUser::none;
  if (logging_in) {
    const auto reason = state_ == State::tls_handshake ? ClientFailure::client_tls : ClientFailure::client_closed;
    process_metrics().counter(MetricId::client_connections_failed, reason).inc();
  }
  finish();
}

void ClientSession::on_timer(uv_timer_t* t) {
  auto* self = static_cast<ClientSession*>(t->data);
  if (self->state_ == State::draining) {
    self->finish();
    return;
  }
  if (self->state_ == State::reconnecting) {
    self->reconnect();
    return;
  }
  if (self->waiting_for_pool_) {
    self->stop_waiting_for_pool();
    self->dial_or_refuse();
    return;
  }
  self->fail(ClientError::handshake_timeout);
}

}  // namespace camproxy::proxy
