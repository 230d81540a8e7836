// The client side of the MySQL login as a sans-I/O machine: what camproxy says to the database
// (spec/mysql-protocol.md §2.1-§2.7, §3.1-§3.3, §5.2). It owns no socket, timer or TLS session:
// its driver (proxy/pool/upstream_conn.cc) feeds it whole server packets and does what each call
// returns.
//
//   greeting --feed(HandshakeV10)--> greeted --start()--> auth ------------------+
//       |                                 \--start()--> tls --tls_ready()--> auth |
//       +--feed(ERR, e.g. 1040)--> failed                                         |
//   auth     --feed(AuthSwitchRequest)--> switched (a second switch fails)        |
//   auth | switched --feed(01 04 full auth)--> await_result (P||00 over verified  |
//                            TLS, or RSA with the operator's key), else failed    |
//            --feed(01 03 fast auth ok)--> await_result                           |
//   any of them --feed(OK)--> done --change_user()--> auth (COM_CHANGE_USER) <----+
//               --feed(ERR)--> failed
//
// Each call returns one ClientAuthStep: send bytes (payload and sequence id), start TLS after
// sending an SSLRequest, read the next packet, greeted, done (with the OK payload) or failed.
// The payload of a step points into the machine's buffer (or, for done, into the fed packet) and
// is valid until the next call. A step whose payload holds the password in clear is `secret`:
// the driver wipes its framing buffer; the machine wipes its own before reusing it.
//
// The password is given as bytes the caller keeps alive (and wipes) until the exchange ends;
// the machine keeps no copy of it, only scrambles and encrypted forms it has sent.
//
// The password itself (not a scramble of it) goes only to a server camproxy has authenticated:
// in clear only over TLS that verified the server's certificate (Policy::tls_verified), or
// RSA-encrypted with the key the operator gave (Policy::rsa_public_key), never with a key the
// server sends (a man in the middle would send its own). A step that would break this fails
// with Kind::unsafe_auth, naming the flag that allows it (issue 17).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/connect_attrs.h"
#include "protocol/handshake_v10.h"

namespace camproxy::protocol {

// What camproxy logs in with, apart from the password.
struct LoginRequest {
  std::string user;
  uint32_t capabilities = 0;  // the application's bits to mirror (pool-key bits and friends)
  uint8_t collation = 0;
  std::optional<std::string> database;
  ConnectAttrs attrs;
  uint32_t max_packet_size = 0;
  // The application's MariaDB extended capabilities to mirror; those of mariadb_cap::kRelayable
  // the server offers are asked for (spec §3.1).
  uint32_t mariadb_capabilities = 0;
};

struct ClientAuthFailure {
  enum class Kind : uint8_t {
    protocol,            // the server broke the protocol (malformed or unexpected packet)
    tls,                 // TLS required but not offered, or a clear password without TLS
    server_error,        // the server answered ERR: code, sql_state, message are its own
    unsupported_plugin,  // the server asks for an auth plugin camproxy does not speak
    unsafe_auth,         // the server asks for the password itself from a server not authenticated
  };
  Kind kind = Kind::protocol;
  uint16_t code = 0;      // server_error
  std::string sql_state;  // server_error
  std::string message;    // readable, never the password
};

struct ClientAuthStep {
  enum class Kind : uint8_t {
    send,       // write payload as one packet with sequence id seq
    start_tls,  // write payload (the SSLRequest) with seq, start TLS, then call tls_ready()
    read,       // nothing to write: feed the next server packet
    greeted,    // the greeting is accepted: call start() when the login is known
    done,       // logged in: payload is the server's OK packet
    failed,     // see failure; the machine stays failed
  };
  Kind kind = Kind::read;
  std::span<const uint8_t> payload;
  uint8_t seq = 0;
  bool secret = false;  // payload holds the password in clear: wipe the framing buffer
  ClientAuthFailure failure;
};

std::string_view to_string(ClientAuthStep::Kind kind);
std::string_view to_string(ClientAuthFailure::Kind kind);

// The capabilities a login of `login_caps` (and MariaDB extended `login_mariadb_caps`) negotiates
// with a server greeting with `server_caps` and `server_mariadb_caps`, TLS apart (the SSL bit is
// added when TLS starts): what ClientAuth::start() asks for, and what a session answered without
// a connection (--pool-mode transaction) expects every connection of its pool key to have.
struct NegotiatedCaps {
  uint32_t capabilities = 0;
  uint32_t mariadb_capabilities = 0;
};
NegotiatedCaps negotiate_capabilities(uint32_t login_caps, uint32_t login_mariadb_caps, bool with_database,
                                      uint32_t server_caps, uint32_t server_mariadb_caps);

class ClientAuth {
 public:
  enum class State : uint8_t {
    greeting,      // nothing received yet; feed() wants the HandshakeV10 (or an ERR)
    greeted,       // greeting() holds the server's greeting; waiting for start()
    tls,           // SSLRequest sent, tls() true; waiting for tls_ready()
    auth,          // first response sent (HandshakeResponse41 or COM_CHANGE_USER) with
                   // plugin() over greeting().nonce; a switch, more data, OK or ERR may come
    switched,      // the server switched to plugin() and got its answer over nonce();
                   // another switch is a failure
    await_result,  // the server has what it needs (fast auth ok, or the password itself):
                   // only OK or ERR may come
    done,          // logged in: capabilities() are final; change_user() may re-authenticate
    failed,        // a failed step was returned; every later call fails
  };

  struct Policy {
    bool tls_available = false;  // camproxy can speak TLS to the database (it has a context)
    bool tls_required = false;   // a server that does not offer TLS is refused (spec §3.1)
    // TLS, once up, has verified the server's certificate (--upstream-tls verify-ca or
    // verify-identity): the password may then go in clear inside it.
    bool tls_verified = false;
    // The database's RSA public key in PEM from --upstream-rsa-key-file; empty: none.
    std::string rsa_public_key;
  };

  explicit ClientAuth(Policy policy) : policy_(std::move(policy)) {}
  ~ClientAuth();
  ClientAuth(const ClientAuth&) = delete;
  ClientAuth& operator=(const ClientAuth&) = delete;

  // A whole server packet and its sequence id. In greeting, auth, switched and await_result (wants_packet()); elsewhere
  // it fails.
  ClientAuthStep feed(std::span<const uint8_t> payload, uint8_t seq);
  // In greeted: negotiates the capabilities and answers with an SSLRequest (start_tls) or the
  // HandshakeResponse41 (send).
  ClientAuthStep start(LoginRequest login, std::span<const uint8_t> password);
  // In tls: the HandshakeResponse41, over TLS.
  ClientAuthStep tls_ready();
  // In done: COM_CHANGE_USER to the same account with `password` and no schema, scrambled over
  // the greeting's nonce (spec §2.7, §5.2); the exchange then runs as after start().
  ClientAuthStep change_user(std::span<const uint8_t> password);

  State state() const { return state_; }
  bool wants_packet() const;
  const HandshakeV10& greeting() const { return greeting_; }
  uint32_t capabilities() const { return capabilities_; }                  // negotiated by start()
  uint32_t mariadb_capabilities() const { return mariadb_capabilities_; }  // likewise
  bool tls() const { return tls_; }
  std::string_view plugin() const { return plugin_; }

 private:
  ClientAuthStep on_greeting(std::span<const uint8_t> payload);
  ClientAuthStep on_switch(std::span<const uint8_t> payload);
  ClientAuthStep on_more_data(std::span<const uint8_t> data);
  ClientAuthStep on_err(std::span<const uint8_t> payload);
  ClientAuthStep handshake_response();
  ClientAuthStep plugin_response();
  ClientAuthStep send_password(std::string_view why);
  bool tls_verified() const { return tls_ && policy_.tls_verified; }
  std::string first_auth_response();
  ClientAuthStep send(State next, bool secret = false);
  ClientAuthStep fail(ClientAuthFailure::Kind kind, std::string message);
  void wipe_out();

  Policy policy_;
  State state_ = State::greeting;
  HandshakeV10 greeting_;
  LoginRequest login_;
  std::span<const uint8_t> password_;  // the caller's bytes, valid until done or failed
  uint32_t capabilities_ = 0;
  uint32_t mariadb_capabilities_ = 0;
  bool tls_ = false;
  std::string plugin_;
  std::array<uint8_t, 20> nonce_{};
  uint8_t next_seq_ = 0;
  std::vector<uint8_t> out_;  // the payload of the last send step; wiped before reuse
};

std::string_view to_string(ClientAuth::State state);

}  // namespace camproxy::protocol
