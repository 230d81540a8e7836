#include "protocol/client_auth.h"

#include <openssl/crypto.h>

#include "protocol/auth_plugins.h"
#include "protocol/auth_switch.h"
#include "protocol/byte_io.h"
#include "protocol/change_user.h"
#include "protocol/constants.h"
#include "protocol/handshake_response.h"
#include "protocol/ok_err_eof.h"

namespace camproxy::protocol {
namespace {

using Kind = ClientAuthFailure::Kind;

// spec/mysql-protocol.md §3.2: what camproxy always asks for on its own hop. The client's
// format-changing bits are added per login; the rest (COMPRESS, INTERACTIVE, ...) never.
constexpr uint32_t kProxyOwnedCaps = cap::kLongPassword | cap::kLongFlag | cap::kProtocol41 | cap::kTransactions |
                                     cap::kSecureConnection | cap::kPluginAuth | cap::kPluginAuthLenencClientData |
                                     cap::kConnectAttrs;
// Client bits mirrored upstream: they change what the server sends and so must match on both
// hops while bytes are relayed unchanged (§5.4 pool key plus the fix-up bits).
constexpr uint32_t kMirroredCaps = cap::kPoolKey | cap::kMultiStatements | cap::kIgnoreSpace;

bool is_scramble_plugin(std::string_view plugin) { return plugin == kNativePassword || plugin == kCachingSha2Password; }

}  // namespace

std::string_view to_string(ClientAuth::State state) {
  switch (state) {
    case ClientAuth::State::greeting: return "greeting";
    case ClientAuth::State::greeted: return "greeted";
    case ClientAuth::State::tls: return "tls";
    case ClientAuth::State::auth: return "auth";
    case ClientAuth::State::switched: return "switched";
    case ClientAuth::State::await_result: return "await_result";
    case ClientAuth::State::done: return "done";
    case ClientAuth::State::failed: return "failed";
  }
  return "unknown";
}

std::string_view to_string(ClientAuthStep::Kind kind) {
  switch (kind) {
    case ClientAuthStep::Kind::send: return "send";
    case ClientAuthStep::Kind::start_tls: return "start_tls";
    case ClientAuthStep::Kind::read: return "read";
    case ClientAuthStep::Kind::greeted: return "greeted";
    case ClientAuthStep::Kind::done: return "done";
    case ClientAuthStep::Kind::failed: return "failed";
  }
  return "unknown";
}

std::string_view to_string(ClientAuthFailure::Kind kind) {
  switch (kind) {
    case Kind::protocol: return "protocol";
    case Kind::tls: return "tls";
    case Kind::server_error: return "server_error";
    case Kind::unsupported_plugin: return "unsupported_plugin";
    case Kind::unsafe_auth: return "unsafe_auth";
  }
  return "unknown";
}

ClientAuth::~ClientAuth() { wipe_out(); }

void ClientAuth::wipe_out() {
  if (!out_.empty()) OPENSSL_cleanse(out_.data(), out_.size());
  out_.clear();
}

bool ClientAuth::wants_packet() const {
  switch (state_) {
    case State::greeting:
    case State::auth:
    case State::switched:
    case State::await_result: return true;
    default: return false;
  }
}

ClientAuthStep ClientAuth::send(State next, bool secret) {
  state_ = next;
  ClientAuthStep step{ClientAuthStep::Kind::send, out_, next_seq_, secret, {}};
  ++next_seq_;
  return step;
}

ClientAuthStep ClientAuth::fail(Kind kind, std::string message) {
  state_ = State::failed;
  password_ = {};
  ClientAuthStep step;
  step.kind = ClientAuthStep::Kind::failed;
  step.failure.kind = kind;
  step.failure.message = std::move(message);
  return step;
}

ClientAuthStep ClientAuth::feed(std::span<const uint8_t> payload, uint8_t seq) {
  wipe_out();
  if (state_ == State::failed) return fail(Kind::protocol, "the login has already failed");
  if (!wants_packet()) return fail(Kind::protocol, "unexpected bytes from the server during login");
  next_seq_ = static_cast<uint8_t>(seq + 1);
  if (state_ == State::greeting) return on_greeting(payload);
  if (payload.empty()) return fail(Kind::protocol, "empty packet during login");
  switch (payload[0]) {
    case kOkHeader: {
      state_ = State::done;
      password_ = {};
      ClientAuthStep step;
      step.kind = ClientAuthStep::Kind::done;
      step.payload = payload;
      return step;
    }
    case kErrHeader: return on_err(payload);
    case kAuthSwitchHeader: return on_switch(payload);
    case kAuthMoreDataHeader: return on_more_data(payload.subspan(1));
    default: return fail(Kind::protocol, "unexpected packet during login");
  }
}

ClientAuthStep ClientAuth::on_err(std::span<const uint8_t> payload) {
  // An ERR greeting (e.g. 1040 too many connections, 1129 host blocked, spec §3.1) comes before
  // any capabilities are negotiated (capabilities_ is 0): mysqld writes it without a SQLSTATE.
  const bool greeting = state_ == State::greeting;
  auto err = decode_err(payload, capabilities_);
  if (!err) return fail(Kind::protocol, greeting ? "malformed error greeting" : "malformed ERR packet during login");
  ClientAuthStep step = fail(Kind::server_error, std::string(err->message));
  step.failure.code = err->code;
  step.failure.sql_state = std::string(err->sql_state);
  return step;
}

ClientAuthStep ClientAuth::on_greeting(std::span<const uint8_t> payload) {
  if (!payload.empty() && payload[0] == kErrHeader) return on_err(payload);
  auto hs = decode_handshake_v10(payload);
  if (!hs) return fail(Kind::protocol, "cannot read the server greeting: " + hs.error().message());
  greeting_ = std::move(*hs);
  // spec §3.1 "No downgrade": the greeting is unauthenticated, so a required TLS that the
  // server does not offer is a failure, not a fallback.
  if (policy_.tls_required && (greeting_.capabilities & cap::kSsl) == 0)
    return fail(Kind::tls, "the server does not offer TLS but --upstream-tls requires it");
  state_ = State::greeted;
  return {ClientAuthStep::Kind::greeted, {}, 0, false, {}};
}

NegotiatedCaps negotiate_capabilities(uint32_t login_caps, uint32_t login_mariadb_caps, bool with_database,
                                      uint32_t server_caps, uint32_t server_mariadb_caps) {
  NegotiatedCaps out;
  out.capabilities = (kProxyOwnedCaps | (login_caps & kMirroredCaps)) & server_caps & ~cap::kNever;
  if (with_database) out.capabilities |= cap::kConnectWithDb & server_caps;
  // spec §3.1: extended capabilities travel only when both sides clear CLIENT_MYSQL (a MariaDB
  // server clears it in its greeting, and kProxyOwnedCaps & server then keeps it clear).
  out.mariadb_capabilities = (out.capabilities & cap::kLongPassword) == 0
                                 ? login_mariadb_caps & server_mariadb_caps & mariadb_cap::kRelayable
                                 : 0;
  return out;
}

ClientAuthStep ClientAuth::start(LoginRequest login, std::span<const uint8_t> password) {
  wipe_out();
  if (state_ != State::greeted) return fail(Kind::protocol, "login started before the greeting");
  login_ = std::move(login);
  password_ = password;
  const uint32_t server = greeting_.capabilities;
  const NegotiatedCaps caps =
      negotiate_capabilities(login_.capabilities, login_.mariadb_capabilities,
                             login_.database && !login_.database->empty(), server, greeting_.mariadb_ext_caps);
  capabilities_ = caps.capabilities;
  mariadb_capabilities_ = caps.mariadb_capabilities;
  tls_ = policy_.tls_available && (server & cap::kSsl) != 0;
  if (!tls_) return handshake_response();
  capabilities_ |= cap::kSsl;
  ByteWriter w(out_);
  encode_ssl_request({capabilities_, login_.max_packet_size, login_.collation, mariadb_capabilities_}, w);
  ClientAuthStep step = send(State::tls);
  step.kind = ClientAuthStep::Kind::start_tls;
  return step;
}

ClientAuthStep ClientAuth::tls_ready() {
  wipe_out();
  if (state_ != State::tls) return fail(Kind::protocol, "TLS ready outside the TLS step");
  return handshake_response();
}

// The plugin to start with and its scramble over the greeting's nonce (a CHANGE_USER is
// scrambled over the same nonce, spec §2.7); a server that wants another plugin switches (§3.3).
std::string ClientAuth::first_auth_response() {
  plugin_ = greeting_.auth_plugin_name;
  if (!is_scramble_plugin(plugin_)) plugin_ = std::string(kNativePassword);
  nonce_ = greeting_.nonce;
  if (password_.empty()) return {};
  if (plugin_ == kCachingSha2Password) {
    auto s = sha2_scramble(password_, nonce_);
    return {s.begin(), s.end()};
  }
  auto s = native_scramble(password_, nonce_);
  return {s.begin(), s.end()};
}

ClientAuthStep ClientAuth::handshake_response() {
  HandshakeResponse41 resp;
  resp.auth_response = first_auth_response();
  resp.capabilities = capabilities_;
  resp.max_packet_size = login_.max_packet_size;
  resp.collation = login_.collation;
  resp.mariadb_ext_caps = mariadb_capabilities_;
  resp.user = login_.user;
  if (capabilities_ & cap::kConnectWithDb) resp.database = login_.database;
  resp.auth_plugin_name = plugin_;
  resp.attrs = login_.attrs;
  ByteWriter w(out_);
  encode_handshake_response41(resp, w);
  return send(State::auth);
}

ClientAuthStep ClientAuth::change_user(std::span<const uint8_t> password) {
  wipe_out();
  if (state_ != State::done) return fail(Kind::protocol, "COM_CHANGE_USER before the login is done");
  password_ = password;
  login_.database.reset();
  ComChangeUser cmd;
  cmd.auth_response = first_auth_response();
  cmd.user = login_.user;
  cmd.collation = login_.collation;
  cmd.auth_plugin_name = plugin_;
  cmd.attrs = login_.attrs;
  ByteWriter w(out_);
  encode_change_user(cmd, capabilities_, w);
  next_seq_ = 0;  // a command starts its own sequence (spec §1)
  return send(State::auth);
}

ClientAuthStep ClientAuth::on_switch(std::span<const uint8_t> payload) {
  if (state_ == State::switched) return fail(Kind::protocol, "the server switched auth plugins twice");
  if (state_ != State::auth) return fail(Kind::protocol, "unexpected packet during login");
  auto sw = decode_auth_switch_request(payload);
  if (!sw || sw->plugin_name.empty()) return fail(Kind::protocol, "the server asks for the pre-4.1 password protocol");
  plugin_ = sw->plugin_name;
  // mysql_clear_password and sha256_password may come without a nonce: the greeting's stays.
  auto nonce = nonce_from_plugin_data(sw->plugin_data);
  if (nonce) {
    nonce_ = *nonce;
  } else if (is_scramble_plugin(plugin_)) {
    return fail(Kind::protocol, "auth switch without a 20-byte nonce");
  }
  return plugin_response();
}

// The answer to an AuthSwitchRequest: the first response of plugin_ (spec §3.3).
ClientAuthStep ClientAuth::plugin_response() {
  if (plugin_ == kNativePassword || plugin_ == kCachingSha2Password) {
    if (!password_.empty()) {
      if (plugin_ == kNativePassword) {
        auto s = native_scramble(password_, nonce_);
        out_.assign(s.begin(), s.end());
      } else {
        auto s = sha2_scramble(password_, nonce_);
        out_.assign(s.begin(), s.end());
      }
    }
    return send(State::switched);
  }
  if (plugin_ == kClearPassword) {
    if (tls_verified()) {
      out_ = clear_password_payload(password_);
      return send(State::await_result, true);
    }
    return fail(Kind::unsafe_auth,
                "the database asks for mysql_clear_password, which would hand it the token in clear; camproxy "
                "sends that only over TLS that verified the database (--upstream-tls verify-identity or verify-ca)");
  }
  if (plugin_ == kSha256Password) return send_password("sha256_password");
  return fail(Kind::unsupported_plugin,
              "the server asks for auth plugin '" + plugin_ + "', which camproxy does not speak");
}

// The password itself, for caching_sha2_password full authentication or sha256_password (spec
// §3.3): P || 00 over verified TLS, else RSA-OAEP with the operator's key. Without either the
// peer may be anyone: its own RSA key or an unverified certificate would give it the token.
ClientAuthStep ClientAuth::send_password(std::string_view why) {
  if (tls_verified()) {
    out_ = clear_password_payload(password_);
    return send(State::await_result, true);
  }
  if (!policy_.rsa_public_key.empty()) {
    auto cipher = sha2_rsa_encrypt_password(password_, nonce_, policy_.rsa_public_key);
    if (!cipher)
      return fail(Kind::protocol, "cannot encrypt the token with --upstream-rsa-key-file: " + cipher.error().message());
    out_ = std::move(*cipher);
    return send(State::await_result);
  }
  return fail(Kind::unsafe_auth, "the database asks for the token itself (" + std::string(why) +
                                     ") over a connection that has not verified it; camproxy sends it only over "
                                     "TLS that verified the database (--upstream-tls verify-identity or verify-ca) "
                                     "or encrypted with the database's RSA key (--upstream-rsa-key-file)");
}

ClientAuthStep ClientAuth::on_more_data(std::span<const uint8_t> data) {
  if (state_ == State::await_result || plugin_ != kCachingSha2Password || data.size() != 1)
    return fail(Kind::protocol, "unexpected auth data from the server");
  if (data[0] == kSha2FastAuthSuccess) {
    state_ = State::await_result;  // the OK follows
    return {};
  }
  if (data[0] != kSha2PerformFullAuth) return fail(Kind::protocol, "unexpected caching_sha2_password state");
  // Full authentication: the server's cache lacks this account (first login after a restart
  // or a password change, i.e. after every CAM rotation: §3.3).
  return send_password("caching_sha2_password full authentication");
}

}  // namespace camproxy::protocol
