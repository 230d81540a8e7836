#include "protocol/server_handshake.h"

#include <algorithm>

#include "protocol/auth_switch.h"
#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/handshake_response.h"
#include "protocol/handshake_v10.h"
#include "protocol/packet.h"

namespace camproxy::protocol {
namespace {

// Bits whose meaning depends on the database: offered to applications only when the
// database has them too, because the relay passes the database's bytes through unchanged.
// CLIENT_MYSQL (kLongPassword) is one: a MariaDB greeting clears it to say that extended
// capabilities follow (spec §3.1), and camproxy's greeting says the same then.
constexpr uint32_t kUpstreamDependentCaps = cap::kPoolKey | cap::kMultiStatements | cap::kConnectWithDb |
                                            cap::kSessionTrack | cap::kDeprecateEof | cap::kLongPassword;
// spec §2.2: compression asked for without being offered is refused (as MySQL Router does).
// Other unoffered bits are masked, as a server does: mysql2 sets QUERY_ATTRIBUTES whatever
// the server offers and then follows the negotiated set.
constexpr uint32_t kRefusedCaps = cap::kCompress | cap::kZstdCompression;

std::string_view plugin_or_default(const std::optional<std::string>& name, uint32_t caps) {
  if (name) return *name;
  // Without CLIENT_PLUGIN_AUTH the response is mysql_native_password's.
  return (caps & cap::kPluginAuth) ? std::string_view{} : kNativePassword;
}

std::span<const uint8_t> bytes_of(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

}  // namespace

std::string_view to_string(ServerHandshakeState s) noexcept {
  switch (s) {
    case ServerHandshakeState::wait_greeting: return "wait_greeting";
    case ServerHandshakeState::read_response: return "read_response";
    case ServerHandshakeState::tls_handshake: return "tls_handshake";
    case ServerHandshakeState::check_user: return "check_user";
    case ServerHandshakeState::read_switch: return "read_switch";
    case ServerHandshakeState::verify: return "verify";
    case ServerHandshakeState::authenticated: return "authenticated";
    case ServerHandshakeState::refused: return "refused";
  }
  return "?";
}

std::string_view to_string(ServerHandshakeAction a) noexcept {
  switch (a) {
    case ServerHandshakeAction::read_more: return "read_more";
    case ServerHandshakeAction::send: return "send";
    case ServerHandshakeAction::start_tls: return "start_tls";
    case ServerHandshakeAction::check_user: return "check_user";
    case ServerHandshakeAction::verify_password: return "verify_password";
    case ServerHandshakeAction::authenticated: return "authenticated";
    case ServerHandshakeAction::refuse: return "refuse";
  }
  return "?";
}

std::string_view to_string(HandshakeRefusal r) noexcept {
  switch (r) {
    case HandshakeRefusal::none: return "none";
    case HandshakeRefusal::bad_handshake: return "bad_handshake";
    case HandshakeRefusal::packet_too_large: return "packet_too_large";
    case HandshakeRefusal::tls_not_offered: return "tls_not_offered";
    case HandshakeRefusal::tls_required: return "tls_required";
    case HandshakeRefusal::compression_refused: return "compression_refused";
    case HandshakeRefusal::pre41_client: return "pre41_client";
    case HandshakeRefusal::old_password_plugin: return "old_password_plugin";
    case HandshakeRefusal::local_auth_denied: return "local_auth_denied";
  }
  return "?";
}

ServerHandshake::Action ServerHandshake::greet(const GreetingInfo& info) {
  if (state_ != State::wait_greeting) return Action::read_more;
  info_ = info;
  nonce_ = make_nonce_();
  advertised_caps_ =
      (cap::kProxyServerDefault | cap::kLocalFiles) & ~(kUpstreamDependentCaps & ~info.upstream_capabilities);
  if (info.tls_offered) advertised_caps_ |= cap::kSsl;
  if ((advertised_caps_ & cap::kLongPassword) == 0) {
    advertised_mariadb_caps_ = info.upstream_mariadb_capabilities & mariadb_cap::kRelayable;
  }
  HandshakeV10 hs;
  hs.server_version = info.server_version;
  hs.connection_id = info.connection_id;
  hs.nonce = nonce_;
  hs.capabilities = advertised_caps_;
  hs.mariadb_ext_caps = advertised_mariadb_caps_;
  hs.collation = info.collation;
  hs.status_flags = info.status_flags;
  hs.auth_plugin_name = std::string(kCachingSha2Password);
  output_.clear();
  const size_t start = begin_packet(output_);
  ByteWriter w(output_);
  encode_handshake_v10(hs, w);
  seq_ = end_packet(output_, start, 0);
  transition(State::read_response);
  return Action::send;
}

ServerHandshake::Action ServerHandshake::feed(std::span<const uint8_t> bytes) {
  if (state_ == State::refused) return Action::read_more;
  input_.erase(input_.begin(), input_.begin() + static_cast<ptrdiff_t>(consumed_));
  consumed_ = 0;
  input_.insert(input_.end(), bytes.begin(), bytes.end());
  // A client that has not seen the greeting has no business sending more than one packet.
  if (state_ == State::wait_greeting && input_.size() > kHeaderSize + kMaxLoginPacket) {
    return refuse(HandshakeRefusal::packet_too_large,
                  "at most " + std::to_string(kMaxLoginPacket) + " bytes before login");
  }
  return step();
}

// Reads the next client packet in the two states that wait for one.
ServerHandshake::Action ServerHandshake::step() {
  if (state_ != State::read_response && state_ != State::read_switch) return Action::read_more;
  const std::span<const uint8_t> unread(input_.data() + consumed_, input_.size() - consumed_);
  auto decoded = decode_packet(unread, kMaxLoginPacket, scratch_);
  if (!decoded) {
    if (decoded.error() == ProtoErr::need_more) return Action::read_more;
    if (decoded.error() == ProtoErr::too_large) {
      return refuse(HandshakeRefusal::packet_too_large,
                    "at most " + std::to_string(kMaxLoginPacket) + " bytes before login");
    }
    return refuse(HandshakeRefusal::bad_handshake, decoded.error().message());
  }
  consumed_ += decoded->consumed;
  seq_ = static_cast<uint8_t>(decoded->packet.last_seq_id + 1);
  const auto payload = decoded->packet.payload;
  if (state_ == State::read_response) return on_response(payload);
  // The answer to the AuthSwitchRequest: checked as it is, so an empty password is a wrong one.
  response_.assign(payload.begin(), payload.end());
  if (info_.local_auth) {
    transition(State::verify);
    return Action::verify_password;
  }
  return authenticated(plugin_ == kCachingSha2Password && payload.size() == 32);
}

ServerHandshake::Action ServerHandshake::on_response(std::span<const uint8_t> payload) {
  if (is_ssl_request(payload)) return on_ssl_request();
  auto resp = decode_handshake_response41(payload);
  if (!resp) {
    // spec §2.4: a pre-4.1 client gets 1251 in the old format (no SQLSTATE), as mysqld does.
    if (resp.error() == ProtoErr::protocol_320) return refuse(HandshakeRefusal::pre41_client);
    return refuse(HandshakeRefusal::bad_handshake, resp.error().message());
  }
  // listen_policy: a remote peer sends no password scramble in clear.
  if (info_.tls_required && !tls_on_) return refuse(HandshakeRefusal::tls_required);
  if (resp->capabilities & kRefusedCaps & ~advertised_caps_) return refuse(HandshakeRefusal::compression_refused);
  login_.capabilities = resp->capabilities & advertised_caps_;
  login_.mariadb_capabilities = resp->mariadb_ext_caps & advertised_mariadb_caps_;  // 0 unless CLIENT_MYSQL clear
  login_.max_packet_size = resp->max_packet_size;
  login_.collation = resp->collation;
  login_.user = std::move(resp->user);
  login_.database = std::move(resp->database);
  login_.attrs = std::move(resp->attrs);
  plugin_ = plugin_or_default(resp->auth_plugin_name, resp->capabilities);
  const auto response = bytes_of(resp->auth_response);
  response_.assign(response.begin(), response.end());
  transition(State::check_user);
  return Action::check_user;
}

ServerHandshake::Action ServerHandshake::on_ssl_request() {
  if (!info_.tls_offered || tls_on_) return refuse(HandshakeRefusal::tls_not_offered);
  transition(State::tls_handshake);
  return Action::start_tls;
}

ServerHandshake::Action ServerHandshake::tls_ready() {
  if (state_ != State::tls_handshake) return Action::read_more;
  tls_on_ = true;
  transition(State::read_response);
  return step();
}

ServerHandshake::Action ServerHandshake::accept_user() {
  if (state_ != State::check_user) return Action::read_more;
  if (plugin_ == "mysql_old_password") return refuse(HandshakeRefusal::old_password_plugin);
  return choose_auth(plugin_, response_);
}

// The first auth response. With local authentication, the scramble of the plugin the client
// chose is checked; a first answer that is no scramble gets one AuthSwitchRequest with a fresh
// nonce: to mysql_native_password for another plugin, to the same plugin for an empty answer
// (MariaDB Connector/C sends one when its plugin is not the greeting's, like libmysql).
// spec §2.5: without it any password is accepted; the plugin only decides which packets
// complete the client's side of the exchange.
ServerHandshake::Action ServerHandshake::choose_auth(std::string_view plugin, std::span<const uint8_t> response) {
  const bool sha2 = plugin == kCachingSha2Password;
  const std::string_view switch_to = sha2 ? kCachingSha2Password : kNativePassword;
  const size_t len = response.size();
  if (info_.local_auth) {
    const bool scramble = sha2 ? len == 32 : plugin == kNativePassword && len == 20;
    if (!scramble) return send_auth_switch(switch_to);
    plugin_ = switch_to;
    transition(State::verify);
    return Action::verify_password;
  }
  if (sha2 && len == 32) return authenticated(true);
  if (sha2 && (len == 0 || (len == 1 && response[0] == 0))) return authenticated(false);
  if (plugin == kNativePassword && len == 20) return authenticated(false);
  return send_auth_switch(switch_to);
}

ServerHandshake::Action ServerHandshake::send_auth_switch(std::string_view plugin) {
  plugin_ = std::string(plugin);
  nonce_ = make_nonce_();
  AuthSwitchRequest sw;
  sw.plugin_name = plugin_;
  sw.plugin_data.assign(nonce_.begin(), nonce_.end());
  sw.plugin_data.push_back('\0');
  output_.clear();
  const size_t start = begin_packet(output_);
  ByteWriter w(output_);
  encode_auth_switch_request(sw, w);
  seq_ = end_packet(output_, start, seq_);
  transition(State::read_switch);
  return Action::send;
}

PasswordCheck ServerHandshake::password_check() const { return {plugin_ == kCachingSha2Password, nonce_, response_}; }

ServerHandshake::Action ServerHandshake::verdict(bool password_ok) {
  if (state_ != State::verify) return Action::read_more;
  if (!password_ok) return refuse(HandshakeRefusal::local_auth_denied);
  return authenticated(plugin_ == kCachingSha2Password);  // spec §2.5: fast_auth_success first
}

ServerHandshake::Action ServerHandshake::authenticated(bool sha2_fast_ack) {
  login_.sha2_fast_ack = sha2_fast_ack;
  std::fill(response_.begin(), response_.end(), uint8_t{0});
  response_.clear();
  transition(State::authenticated);
  return Action::authenticated;
}

ServerHandshake::Action ServerHandshake::refuse(HandshakeRefusal why, std::string detail) {
  refusal_ = why;
  detail_ = std::move(detail);
  transition(State::refused);
  return Action::refuse;
}

std::vector<uint8_t> ServerHandshake::take_rest() {
  std::vector<uint8_t> rest(input_.begin() + static_cast<ptrdiff_t>(consumed_), input_.end());
  std::vector<uint8_t>().swap(input_);
  std::vector<uint8_t>().swap(scratch_);
  consumed_ = 0;
  return rest;
}

}  // namespace camproxy::protocol
