// The server side of the login that camproxy plays toward applications (spec/mysql-protocol.md
// §2), as a sans-I/O machine: fed the client's bytes, it says what the driver must do next.
//
//   ServerHandshake hs;
//   Action a = hs.greet(greeting);            // the database's profile is known
//   on bytes from the client:  a = hs.feed(bytes);
//   loop on a:
//     send              write output() to the client, then a = hs.step()
//     read_more         wait for bytes (or nothing to do)
//     start_tls         start a TLS server handshake fed tls_early_bytes(); when it is done,
//                       a = hs.tls_ready()
//     check_user        login().user is known: the driver maps it to an account, then
//                       a = hs.accept_user(), or refuses the client itself
//     verify_password   local authentication: a = hs.verdict(<check of password_check()>)
//     authenticated     login() is complete; the driver sends the OK at next_seq()
//     refuse            refusal() says why; the driver sends the ERR at next_seq() and closes
//
// Covers: the greeting (HandshakeV10, §2.1) with the capabilities offered (§2.2), SSLRequest
// (§2.3), HandshakeResponse41 (§2.4) including the pre-4.1 refusal, one AuthSwitchRequest
// (§2.5), any-password acceptance (§2.5), local authentication, TLS required for remote peers.
// Packets are reassembled here, each at most kMaxLoginPacket bytes. Bytes that follow the login
// (a client that pipelines) stay buffered for take_rest().
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/auth_plugins.h"
#include "protocol/connect_attrs.h"

namespace camproxy::protocol {

enum class ServerHandshakeState : uint8_t {
  wait_greeting,  // nothing sent; client bytes are only buffered until greet()
  read_response,  // greeting sent (next_seq() >= 1): waiting for SSLRequest or HandshakeResponse41
  tls_handshake,  // SSLRequest read: the driver runs TLS; bytes after it went to tls_early_bytes()
  check_user,     // HandshakeResponse41 read and accepted so far: login() holds its fields
  read_switch,    // AuthSwitchRequest sent (switch_plugin(), fresh nonce()): waiting for its answer
  verify,         // local authentication: waiting for verdict() on password_check()
  authenticated,  // login() is complete; later bytes are kept for take_rest()
  refused,        // refusal() says why; input is ignored
};
std::string_view to_string(ServerHandshakeState s) noexcept;

enum class ServerHandshakeAction : uint8_t {
  read_more,  // nothing to do until more bytes (or a driver call) arrive
  send,       // write output(), then call step()
  start_tls,
  check_user,
  verify_password,
  authenticated,
  refuse,
};
std::string_view to_string(ServerHandshakeAction a) noexcept;

enum class HandshakeRefusal : uint8_t {
  none,
  bad_handshake,        // a packet that does not decode (detail() says how)
  packet_too_large,     // a login packet over kMaxLoginPacket
  tls_not_offered,      // SSLRequest without TLS offered, or a second one
  tls_required,         // a remote peer logging in without TLS (no scramble in clear)
  compression_refused,  // spec §2.2: compression asked for without being offered
  pre41_client,         // spec §2.4: no CLIENT_PROTOCOL_41: ERR 1251 without SQLSTATE
  old_password_plugin,  // mysql_old_password: ERR 1251 in the 4.1 format
  local_auth_denied,    // local authentication: wrong password
};
std::string_view to_string(HandshakeRefusal r) noexcept;

// What the greeting says and how the login is checked. Fixed inputs give fixed bytes.
struct GreetingInfo {
  std::string server_version;
  uint32_t connection_id = 0;
  uint32_t upstream_capabilities = 0;  // the database's: bits that depend on it are offered only then
  // The database's MariaDB extended capabilities (its greeting has CLIENT_MYSQL clear): those
  // of mariadb_cap::kRelayable it has are offered (spec §3.1).
  uint32_t upstream_mariadb_capabilities = 0;
  uint8_t collation = 0;
  uint16_t status_flags = 0;
  bool tls_offered = false;   // a certificate is configured: CLIENT_SSL is offered
  bool tls_required = false;  // a remote peer: the login must come over TLS
  bool local_auth = false;    // passwords are checked (verify_password); else any is accepted
};

// The client's login, filled when the HandshakeResponse41 is read (check_user on).
struct ClientLogin {
  uint32_t capabilities = 0;  // the client's, masked to the ones offered
  // The client's MariaDB extended capabilities, masked to the ones offered (0 for a client that
  // sets CLIENT_MYSQL, or when none were offered).
  uint32_t mariadb_capabilities = 0;
  uint32_t max_packet_size = 0;
  uint8_t collation = 0;
  std::string user;
  std::optional<std::string> database;
  ConnectAttrs attrs;
  bool sha2_fast_ack = false;  // spec §2.5: AuthMoreData fast_auth_success precedes the OK
};

// A scramble to check against the stored hashes (local authentication).
struct PasswordCheck {
  bool caching_sha2 = false;  // caching_sha2_password, else mysql_native_password
  std::span<const uint8_t> nonce;
  std::span<const uint8_t> response;
};

class ServerHandshake {
 public:
  using State = ServerHandshakeState;
  using Action = ServerHandshakeAction;
  using NonceSource = Nonce (*)();

  // `make_nonce` is replaced by tests to get fixed bytes.
  explicit ServerHandshake(NonceSource make_nonce = &protocol::make_nonce) : make_nonce_(make_nonce) {}

  Action greet(const GreetingInfo& info);
  Action feed(std::span<const uint8_t> bytes);
  Action step();
  Action tls_ready();
  Action accept_user();
  Action verdict(bool password_ok);

  State state() const { return state_; }
  std::span<const uint8_t> output() const { return output_; }
  std::vector<uint8_t> tls_early_bytes() { return take_rest(); }
  const ClientLogin& login() const { return login_; }
  PasswordCheck password_check() const;
  HandshakeRefusal refusal() const { return refusal_; }
  const std::string& detail() const { return detail_; }
  // Seq id of the next packet to the client: 0 before the greeting (an ERR takes its place).
  uint8_t next_seq() const { return seq_; }
  uint32_t advertised_capabilities() const { return advertised_caps_; }
  uint32_t advertised_mariadb_capabilities() const { return advertised_mariadb_caps_; }
  const Nonce& nonce() const { return nonce_; }
  bool tls_on() const { return tls_on_; }
  // Bytes received after the last packet read; the buffers are released.
  std::vector<uint8_t> take_rest();

 private:
  Action on_response(std::span<const uint8_t> payload);
  Action on_ssl_request();
  Action choose_auth(std::string_view plugin, std::span<const uint8_t> response);
  Action send_auth_switch(std::string_view plugin);
  Action authenticated(bool sha2_fast_ack);
  Action refuse(HandshakeRefusal why, std::string detail = {});
  void transition(State next) { state_ = next; }

  NonceSource make_nonce_;
  State state_ = State::wait_greeting;
  GreetingInfo info_;
  uint32_t advertised_caps_ = 0;
  uint32_t advertised_mariadb_caps_ = 0;
  Nonce nonce_{};
  uint8_t seq_ = 0;
  bool tls_on_ = false;
  std::vector<uint8_t> input_;  // unread client bytes from consumed_ on
  size_t consumed_ = 0;
  std::vector<uint8_t> scratch_;  // a multi-frame packet, joined
  std::vector<uint8_t> output_;
  ClientLogin login_;
  std::string plugin_;             // of the response being checked (switch_plugin after a switch)
  std::vector<uint8_t> response_;  // the auth response being checked
  HandshakeRefusal refusal_ = HandshakeRefusal::none;
  std::string detail_;
};

}  // namespace camproxy::protocol
