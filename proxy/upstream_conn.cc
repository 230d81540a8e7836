#include "proxy/upstream_conn.h"

#include <arpa/inet.h>

#include <cstring>

#include "protocol/auth_plugins.h"
#include "protocol/auth_switch.h"
#include "protocol/byte_io.h"
#include "protocol/change_user.h"
#include "protocol/constants.h"
#include "protocol/handshake_response.h"
#include "protocol/ok_err_eof.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/packet_out.h"
#include "proxy/tls.h"
#include "proxy/version.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;

// spec/mysql-protocol.md §3.2: what camproxy always asks for on its own hop. The client's
// format-changing bits are added per login; the rest (COMPRESS, INTERACTIVE, ...) never.
constexpr uint32_t kProxyOwnedCaps = cap::kLongPassword | cap::kLongFlag | cap::kProtocol41 | cap::kTransactions |
                                     cap::kSecureConnection | cap::kPluginAuth | cap::kPluginAuthLenencClientData |
                                     cap::kConnectAttrs;
// Client bits mirrored upstream: they change what the server sends and so must match on both
// hops while bytes are relayed unchanged (§5.4 pool key plus the fix-up bits).
constexpr uint32_t kMirroredCaps = cap::kPoolKey | cap::kMultiStatements | cap::kIgnoreSpace;

// The login phase never needs big packets (greeting, auth data, OK/ERR).
constexpr size_t kMaxLoginPacket = 64 * 1024;

constexpr uint8_t kOkMarker = 0x00;
constexpr uint8_t kMoreDataMarker = 0x01;
constexpr uint8_t kSwitchMarker = 0xFE;
constexpr uint8_t kErrMarker = 0xFF;
constexpr uint8_t kSha2FastAuthOk = 0x03;
constexpr uint8_t kSha2PerformFullAuth = 0x04;
constexpr uint8_t kSha2RequestPublicKey = 0x02;
constexpr uint8_t kSha256RequestPublicKey = 0x01;  // sha256_password asks with 01, not 02 (§3.3)

}  // namespace

std::string_view to_string(UpstreamFailure::Kind kind) {
  switch (kind) {
    case UpstreamFailure::Kind::connect: return "connect";
    case UpstreamFailure::Kind::timeout: return "timeout";
    case UpstreamFailure::Kind::tls: return "tls";
    case UpstreamFailure::Kind::protocol: return "protocol";
    case UpstreamFailure::Kind::server_error: return "server_error";
    case UpstreamFailure::Kind::closed: return "closed";
  }
  return "unknown";
}

UpstreamConn* UpstreamConn::create(uv_loop_t* loop, const Settings& settings, Owner* owner) {
  return new UpstreamConn(loop, settings, owner);
}

UpstreamConn::UpstreamConn(uv_loop_t* loop, const Settings& settings, Owner* owner)
    : loop_(loop), settings_(settings), owner_(owner), transport_(*this), inbox_(kMaxLoginPacket) {
  process_metrics().gauge(MetricId::upstream_connections_open).add();
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
}

UpstreamConn::~UpstreamConn() { process_metrics().gauge(MetricId::upstream_connections_open).sub(); }

void UpstreamConn::arm_timer() {
  uv_timer_start(&timer_, on_timeout, static_cast<uint64_t>(settings_.config->connect_timeout.count()), 0);
}

void UpstreamConn::connect() {
  const HostPort& up = settings_.config->upstream;
  process_metrics().counter(MetricId::upstream_dials).inc();
  dial_started_ = std::chrono::steady_clock::now();
  arm_timer();
  sockaddr_storage addr{};
  if (uv_ip4_addr(up.host.c_str(), up.port, reinterpret_cast<sockaddr_in*>(&addr)) == 0 ||
      uv_ip6_addr(up.host.c_str(), up.port, reinterpret_cast<sockaddr_in6*>(&addr)) == 0) {
    start_connect(reinterpret_cast<const sockaddr*>(&addr));
    return;
  }
  // Host names resolve on the loop's thread pool, never blocking the worker.
  state_ = State::resolving;
  resolving_ = true;
  resolve_req_.data = this;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(loop_, &resolve_req_, on_resolved, up.host.c_str(), std::to_string(up.port).c_str(), &hints);
  if (rc != 0) {
    resolving_ = false;
    fail(UpstreamFailure::Kind::connect, "cannot resolve " + up.host + ": " + uv_strerror(rc));
  }
}

void UpstreamConn::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* self = static_cast<UpstreamConn*>(req->data);
  self->resolving_ = false;
  if (self->state_ == State::closing) {
    uv_freeaddrinfo(res);
    self->maybe_delete();
    return;
  }
  if (status != 0 || res == nullptr) {
    self->fail(UpstreamFailure::Kind::connect,
               "cannot resolve " + self->settings_.config->upstream.host + ": " + uv_strerror(status));
  } else {
    self->start_connect(res->ai_addr);
  }
  uv_freeaddrinfo(res);
}

void UpstreamConn::start_connect(const sockaddr* addr) {
  state_ = State::connecting;
  int rc = transport_.init_tcp(loop_);
  if (rc == 0) {
    uv_tcp_nodelay(transport_.tcp(), 1);
    connect_req_.data = this;
    rc = uv_tcp_connect(&connect_req_, transport_.tcp(), addr, on_connected);
  }
  if (rc != 0) fail(UpstreamFailure::Kind::connect, std::string("connect failed: ") + uv_strerror(rc));
}

void UpstreamConn::on_connected(uv_connect_t* req, int status) {
  if (status == UV_ECANCELED) return;  // closing
  auto* self = static_cast<UpstreamConn*>(req->data);
  if (status != 0) {
    self->fail(UpstreamFailure::Kind::connect, std::string("connect failed: ") + uv_strerror(status));
    return;
  }
  self->state_ = State::greeting;
  self->transport_.start_reading();
}

void UpstreamConn::on_timeout(uv_timer_t* t) {
  auto* self = static_cast<UpstreamConn*>(t->data);
  self->fail(UpstreamFailure::Kind::timeout,
             "no answer within " + std::to_string(self->settings_.config->connect_timeout.count()) + " ms");
}

void UpstreamConn::on_data(Transport&, std::span<const uint8_t> data) {
  if (state_ == State::ready) {
    owner_->on_upstream_data(*this, data);
    return;
  }
  inbox_.append(data);
  if (state_ == State::commands) {
    read_command_replies();
    return;
  }
  while (state_ == State::greeting || state_ == State::auth || state_ == State::reauth) {
    auto packet = inbox_.next();
    if (!packet) {
      if (packet.error() != protocol::ProtoErr::need_more)
        fail(UpstreamFailure::Kind::protocol, "bad packet during login: " + packet.error().message());
      return;
    }
    next_seq_ = static_cast<uint8_t>(packet->last_seq_id + 1);
    if (state_ == State::greeting) {
      handle_greeting(packet->payload);
    } else {
      handle_auth_packet(packet->payload);
    }
  }
  if (state_ != State::ready) {
    if (!inbox_.empty() && state_ != State::tls)
      fail(UpstreamFailure::Kind::protocol, "unexpected bytes from the server during login");
    return;
  }
  // Anything the server sent right after its OK belongs to the relay.
  auto rest = inbox_.take_rest();
  inbox_.release();
  if (!rest.empty()) owner_->on_upstream_data(*this, rest);
}

void UpstreamConn::handle_greeting(std::span<const uint8_t> payload) {
  if (!payload.empty() && payload[0] == kErrMarker) {
    // e.g. 1040 too many connections, 1129 host blocked (spec §3.1): the greeting is an ERR.
    auto err = protocol::decode_err(payload, 0);
    if (err) {
      fail(UpstreamFailure::Kind::server_error, std::string(err->message), err->code, std::string(err->sql_state));
    } else {
      fail(UpstreamFailure::Kind::protocol, "malformed error greeting");
    }
    return;
  }
  auto hs = protocol::decode_handshake_v10(payload);
  if (!hs) {
    fail(UpstreamFailure::Kind::protocol, "cannot read the server greeting: " + hs.error().message());
    return;
  }
  greeting_ = std::move(*hs);
  const auto mode = settings_.config->upstream_tls;
  const bool server_tls = (greeting_.capabilities & cap::kSsl) != 0;
  // spec §3.1 "No downgrade": the greeting is unauthenticated, so a required TLS that the
  // server does not offer is a failure, not a fallback.
  if (mode != UpstreamTlsMode::disable && mode != UpstreamTlsMode::preferred && !server_tls) {
    fail(UpstreamFailure::Kind::tls, "the server does not offer TLS but --upstream-tls requires it");
    return;
  }
  uv_timer_stop(&timer_);
  state_ = State::greeted;
  transport_.stop_reading();
  owner_->on_upstream_greeting(*this);
}

void UpstreamConn::login(UpstreamLogin params) {
  login_ = std::move(params);
  arm_timer();
  transport_.start_reading();
  const uint32_t server = greeting_.capabilities;
  capabilities_ = (kProxyOwnedCaps | (login_.capabilities & kMirroredCaps)) & server & ~cap::kNever;
  if (login_.database && !login_.database->empty()) capabilities_ |= cap::kConnectWithDb & server;
  const bool use_tls = settings_.tls_ctx != nullptr && (server & cap::kSsl) != 0;
  if (!use_tls) {
    send_handshake_response();
    return;
  }
  capabilities_ |= cap::kSsl;
  std::vector<uint8_t> payload;
  protocol::ByteWriter w(payload);
  protocol::encode_ssl_request({capabilities_, login_.max_packet_size, login_.collation}, w);
  next_seq_ = send_packet(transport_, next_seq_, payload);
  SSL* ssl = SSL_new(settings_.tls_ctx);
  if (ssl == nullptr ||
      !configure_upstream_ssl(ssl, settings_.config->upstream_tls, settings_.config->upstream_server_name)) {
    if (ssl) SSL_free(ssl);
    fail(UpstreamFailure::Kind::tls, "cannot set up TLS: " + last_ssl_error());
    return;
  }
  SSL_set_connect_state(ssl);
  state_ = State::tls;
  transport_.start_tls(ssl, {});
}

void UpstreamConn::on_tls_ready(Transport&) {
  if (state_ == State::tls) send_handshake_response();
}

// The plugin to start with and its scramble over the greeting's nonce (a CHANGE_USER is
// scrambled over the same nonce, spec §2.7); a server that wants another plugin switches (§3.3).
std::string UpstreamConn::first_auth_response() {
  plugin_ = greeting_.auth_plugin_name;
  if (plugin_ != protocol::kCachingSha2Password && plugin_ != protocol::kNativePassword) {
    plugin_ = std::string(protocol::kNativePassword);
  }
  nonce_ = greeting_.nonce;
  switched_plugin_ = false;
  awaiting_public_key_ = false;
  auto pw = login_.password->bytes();
  if (pw.empty()) return {};
  if (plugin_ == protocol::kCachingSha2Password) {
    auto s = protocol::sha2_scramble(pw, nonce_);
    return {s.begin(), s.end()};
  }
  auto s = protocol::native_scramble(pw, nonce_);
  return {s.begin(), s.end()};
}

void UpstreamConn::send_handshake_response() {
  state_ = State::auth;
  protocol::HandshakeResponse41 resp;
  resp.auth_response = first_auth_response();
  resp.capabilities = capabilities_;
  resp.max_packet_size = login_.max_packet_size;
  resp.collation = login_.collation;
  resp.user = login_.user;
  if (capabilities_ & cap::kConnectWithDb) resp.database = login_.database;
  resp.auth_plugin_name = plugin_;
  resp.attrs = login_.attrs;
  std::vector<uint8_t> payload;
  protocol::ByteWriter w(payload);
  protocol::encode_handshake_response41(resp, w);
  next_seq_ = send_packet(transport_, next_seq_, payload);
}

void UpstreamConn::change_user(std::shared_ptr<const auth::SecretString> password) {
  login_.password = std::move(password);
  login_.database.reset();
  state_ = State::reauth;
  protocol::ComChangeUser cmd;
  cmd.auth_response = first_auth_response();
  cmd.user = login_.user;
  cmd.collation = login_.collation;
  cmd.auth_plugin_name = plugin_;
  cmd.attrs = login_.attrs;
  std::vector<uint8_t> payload;
  protocol::ByteWriter w(payload);
  protocol::encode_change_user(cmd, capabilities_, w);
  arm_timer();
  next_seq_ = send_packet(transport_, 0, payload);
  transport_.start_reading();
}

void UpstreamConn::send_auth_data(std::span<const uint8_t> data) {
  next_seq_ = send_packet(transport_, next_seq_, data);
}

// Only over TLS (callers check): the payload and the framing buffer are wiped after the write.
void UpstreamConn::send_clear_password(std::span<const uint8_t> password) {
  auto clear = protocol::clear_password_payload(password);
  next_seq_ = send_secret_packet(transport_, next_seq_, clear);
  OPENSSL_cleanse(clear.data(), clear.size());
}

// Answers an AuthSwitchRequest with the first response of `plugin_`; false if impossible.
bool UpstreamConn::send_plugin_response(std::span<const uint8_t, 20> nonce) {
  auto pw = login_.password->bytes();
  if (plugin_ == protocol::kNativePassword) {
    if (pw.empty()) {
      send_auth_data({});
    } else {
      auto s = protocol::native_scramble(pw, nonce);
      send_auth_data(s);
    }
  } else if (plugin_ == protocol::kCachingSha2Password) {
    if (pw.empty()) {
      send_auth_data({});
    } else {
      auto s = protocol::sha2_scramble(pw, nonce);
      send_auth_data(s);
    }
  } else if (plugin_ == protocol::kClearPassword || plugin_ == protocol::kSha256Password) {
    if (transport_.tls_on()) {
      send_clear_password(pw);
    } else if (plugin_ == protocol::kSha256Password) {
      const uint8_t request = kSha256RequestPublicKey;
      awaiting_public_key_ = true;
      send_auth_data({&request, 1});
    } else {
      fail(UpstreamFailure::Kind::tls, "the server asks for mysql_clear_password, which camproxy sends only over TLS");
      return false;
    }
  } else {
    fail(UpstreamFailure::Kind::protocol,
         "the server asks for auth plugin '" + plugin_ + "', which camproxy does not speak");
    return false;
  }
  return true;
}

void UpstreamConn::handle_auth_packet(std::span<const uint8_t> payload) {
  if (payload.empty()) {
    fail(UpstreamFailure::Kind::protocol, "empty packet during login");
    return;
  }
  switch (payload[0]) {
    case kOkMarker: {
      uv_timer_stop(&timer_);
      if (state_ == State::auth)
        process_metrics()
            .histogram(MetricId::upstream_dial_duration)
            .observe(std::chrono::steady_clock::now() - dial_started_);
      state_ = State::ready;
      owner_->on_upstream_ready(*this, payload);
      return;
    }
    case kErrMarker: {
      auto err = protocol::decode_err(payload, capabilities_);
      if (!err) {
        fail(UpstreamFailure::Kind::protocol, "malformed ERR packet during login");
      } else {
        fail(UpstreamFailure::Kind::server_error, std::string(err->message), err->code, std::string(err->sql_state));
      }
      return;
    }
    case kSwitchMarker: {
      auto sw = protocol::decode_auth_switch_request(payload);
      if (!sw || sw->plugin_name.empty()) {
        fail(UpstreamFailure::Kind::protocol, "the server asks for the pre-4.1 password protocol");
        return;
      }
      if (switched_plugin_) {
        fail(UpstreamFailure::Kind::protocol, "the server switched auth plugins twice");
        return;
      }
      switched_plugin_ = true;
      plugin_ = sw->plugin_name;
      auto nonce = protocol::nonce_from_plugin_data(sw->plugin_data);
      if (nonce) nonce_ = *nonce;
      if (!nonce && (plugin_ == protocol::kNativePassword || plugin_ == protocol::kCachingSha2Password)) {
        fail(UpstreamFailure::Kind::protocol, "auth switch without a 20-byte nonce");
        return;
      }
      send_plugin_response(nonce_);
      return;
    }
    case kMoreDataMarker: {
      std::span<const uint8_t> data = payload.subspan(1);
      auto pw = login_.password->bytes();
      if (awaiting_public_key_) {
        awaiting_public_key_ = false;
        std::string_view pem(reinterpret_cast<const char*>(data.data()), data.size());
        auto cipher = protocol::sha2_rsa_encrypt_password(pw, nonce_, pem);
        if (!cipher) {
          fail(UpstreamFailure::Kind::protocol,
               "cannot encrypt the password with the server's key: " + cipher.error().message());
          return;
        }
        send_auth_data(*cipher);
        return;
      }
      if (plugin_ != protocol::kCachingSha2Password || data.size() != 1) {
        fail(UpstreamFailure::Kind::protocol, "unexpected auth data from the server");
        return;
      }
      if (data[0] == kSha2FastAuthOk) return;  // the OK follows
      if (data[0] != kSha2PerformFullAuth) {
        fail(UpstreamFailure::Kind::protocol, "unexpected caching_sha2_password state");
        return;
      }
      // Full authentication: the server's cache lacks this account (first login after a
      // restart or a password change, i.e. after every CAM rotation: §3.3).
      if (transport_.tls_on()) {
        send_clear_password(pw);
      } else {
        const uint8_t request = kSha2RequestPublicKey;
        awaiting_public_key_ = true;
        send_auth_data({&request, 1});
      }
      return;
    }
    default: fail(UpstreamFailure::Kind::protocol, "unexpected packet during login");
  }
}

void UpstreamConn::run_commands(const std::vector<InternalCommand>& commands) {
  state_ = State::commands;
  replies_.emplace(capabilities_, commands);
  // One write for the whole pipeline: each command starts its own sequence at 0.
  static thread_local std::vector<uint8_t> frames;
  frames.clear();
  for (const auto& cmd : commands) protocol::encode_packet(cmd.payload, 0, frames);
  arm_timer();
  transport_.write(frames);
  transport_.start_reading();
}

void UpstreamConn::read_command_replies() {
  while (state_ == State::commands) {
    auto packet = inbox_.next();
    if (!packet) {
      if (packet.error() != protocol::ProtoErr::need_more)
        fail(UpstreamFailure::Kind::protocol, "bad reply to camproxy's command: " + packet.error().message());
      return;
    }
    switch (replies_->on_packet(packet->payload)) {
      case ReplyReader::Step::more: break;
      case ReplyReader::Step::malformed:
        fail(UpstreamFailure::Kind::protocol, "malformed reply to camproxy's command");
        return;
      case ReplyReader::Step::done: {
        uv_timer_stop(&timer_);
        state_ = State::ready;
        if (!inbox_.empty()) {
          fail(UpstreamFailure::Kind::protocol, "unexpected bytes after camproxy's commands");
          return;
        }
        auto results = replies_->results();
        replies_.reset();
        owner_->on_upstream_commands_done(*this, results);
        return;
      }
    }
  }
}

void UpstreamConn::on_drained(Transport&) {
  if (state_ == State::ready) owner_->on_upstream_drained(*this);
}

void UpstreamConn::on_error(Transport&, int code, const std::string& detail) {
  if (state_ == State::ready || state_ == State::commands) {
    state_ = State::failed;
    owner_->on_upstream_failed(*this, {UpstreamFailure::Kind::closed, 0, {}, detail});
    return;
  }
  if (code == Transport::kTlsError) {
    fail(UpstreamFailure::Kind::tls, detail);
  } else if (state_ == State::connecting) {
    fail(UpstreamFailure::Kind::connect, detail);
  } else {
    // A database going down (killed, restarting) drops logins in flight: an outage, not a
    // protocol problem (issue 7 chaos tests; the client gets 9001, the dial counts as connect).
    fail(UpstreamFailure::Kind::closed, "the server closed the connection during login (" + detail + ")");
  }
}

void UpstreamConn::fail(UpstreamFailure::Kind kind, std::string message, uint16_t code, std::string sql_state) {
  if (state_ == State::failed || state_ == State::closing) return;
  // A dial or login that did not make it (a refused CHANGE_USER is counted by its owner).
  if (state_ != State::ready && state_ != State::commands && state_ != State::reauth) {
    DialFailure reason = DialFailure::protocol;
    switch (kind) {
      case UpstreamFailure::Kind::connect:
        reason = state_ == State::resolving ? DialFailure::dns : DialFailure::connect;
        break;
      case UpstreamFailure::Kind::closed: reason = DialFailure::connect; break;
      case UpstreamFailure::Kind::timeout: reason = DialFailure::timeout; break;
      case UpstreamFailure::Kind::tls: reason = DialFailure::tls; break;
      case UpstreamFailure::Kind::server_error: reason = DialFailure::auth; break;
      default: break;
    }
    process_metrics().counter(MetricId::upstream_dial_failures, reason).inc();
  }
  state_ = State::failed;
  uv_timer_stop(&timer_);
  transport_.stop_reading();
  owner_->on_upstream_failed(*this, UpstreamFailure{kind, code, std::move(sql_state), std::move(message)});
}

void UpstreamConn::close() {
  if (state_ == State::closing) return;
  state_ = State::closing;
  owner_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_timer_closed);
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_req_));
  transport_.close();
}

void UpstreamConn::quit() {
  if (state_ == State::ready && !transport_.has_pending_writes()) {
    const uint8_t quit = static_cast<uint8_t>(protocol::Command::kQuit);
    send_packet(transport_, 0, {&quit, 1});
  }
  close();
}

void UpstreamConn::on_timer_closed(uv_handle_t* h) {
  auto* self = static_cast<UpstreamConn*>(h->data);
  self->timer_closed_ = true;
  self->maybe_delete();
}

void UpstreamConn::on_closed(Transport&) {
  transport_closed_ = true;
  maybe_delete();
}

void UpstreamConn::maybe_delete() {
  if (timer_closed_ && transport_closed_ && !resolving_) delete this;
}

}  // namespace camproxy::proxy
