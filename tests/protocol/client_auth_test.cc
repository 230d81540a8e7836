// The client side of the login (protocol/client_auth.h), driven call by call. Each row is one
// exchange: what the machine is given (a server packet, start(), tls_ready(), change_user())
// and what it must return (step kind, sequence id, payload) and the state it must then be in.
//
// Server packets come from tests/protocol/captures (MariaDB 10.11 with real clients) or are
// written here by hand from spec/mysql-protocol.md where no capture exists (MySQL 8 and
// caching_sha2_password, sha256_password, mysql_clear_password). Expected client bytes are the
// captured client's own bytes, or built with the encoders of the packets and the scramble
// functions of protocol/auth_plugins.h (tested against real clients and hashlib), never with
// the machine under test.
#include "protocol/client_auth.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>

#include "protocol/auth_plugins.h"
#include "protocol/byte_io.h"
#include "protocol/change_user.h"
#include "protocol/constants.h"
#include "protocol/handshake_response.h"
#include "test_util.h"

namespace camproxy::protocol {
namespace {

using test::capture_payload;
using test::from_hex;
using test::PrintTo;
using test::to_hex;
using Failure = ClientAuthFailure::Kind;
using State = ClientAuth::State;
using StepKind = ClientAuthStep::Kind;

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

// -- server packets ----------------------------------------------------------------------------

std::vector<uint8_t> mariadb(std::string_view capture, size_t frame) {
  return capture_payload(std::string(capture) + ".hex", frame);
}

const Nonce kNonce = {0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a,
                      0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34};
// The nonce of a switch, other than the greeting's.
const Nonce kSwitchNonce = {0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a,
                            0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x50, 0x51, 0x52, 0x53, 0x54};

// MySQL 8.0 offers every bit but bit 11 (SSL) when it has no certificate (spec §2.1).
constexpr uint32_t kMysql8Caps = 0xDFFFF7FF;

// A MySQL 8.0 greeting (spec §2.1): caching_sha2_password, nonce kNonce.
std::vector<uint8_t> mysql8_greeting(bool tls) {
  HandshakeV10 hs;
  hs.server_version = "8.0.36";
  hs.connection_id = 42;
  hs.nonce = kNonce;
  hs.capabilities = kMysql8Caps | (tls ? cap::kSsl : 0);
  hs.collation = kCollationUtf8mb40900AiCi;
  hs.status_flags = status::kAutocommit;
  hs.auth_plugin_name = std::string(kCachingSha2Password);
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_handshake_v10(hs, w);
  return out;
}

// AuthSwitchRequest (spec §2.5): FE, plugin name NUL, the new nonce and NUL.
std::vector<uint8_t> switch_to(std::string_view plugin, const Nonce& nonce = kSwitchNonce) {
  std::vector<uint8_t> p(plugin.size() + nonce.size() + 3, 0);
  p[0] = kAuthSwitchHeader;
  std::copy(plugin.begin(), plugin.end(), p.begin() + 1);
  std::copy(nonce.begin(), nonce.end(), p.begin() + static_cast<std::ptrdiff_t>(plugin.size() + 2));
  return p;
}

const std::vector<uint8_t> kFastAuthOk = from_hex("01 03");         // AuthMoreData fast_auth_success
const std::vector<uint8_t> kFullAuth = from_hex("01 04");           // AuthMoreData perform_full_auth
const std::vector<uint8_t> kOk = from_hex("00 00 00 02 00 00 00");  // OK, autocommit
// ERR 1040 as a greeting (spec §3.1): FF, code, message. Before the handshake the server knows
// no client capabilities, so it writes no '#' + SQLSTATE (mysqld's net_send_error_packet).
const std::vector<uint8_t> kErr1040 = from_hex("ff 1004 546f6f206d616e7920636f6e6e656374696f6e73");

// -- expected client packets -------------------------------------------------------------------

constexpr std::string_view kPassword = "camtest-pw";
// The capabilities camproxy asks for (spec §3.2: LONG_PASSWORD, LONG_FLAG, PROTOCOL_41,
// TRANSACTIONS, SECURE_CONNECTION, PLUGIN_AUTH, CONNECT_ATTRS, PLUGIN_AUTH_LENENC_CLIENT_DATA),
// as the server's offer leaves them.
constexpr uint32_t kOwnCaps = 0x0038A205;
constexpr uint32_t kOwnCapsMariaDb = 0x0038A204;  // MariaDB clears LONG_PASSWORD (extended caps)

LoginRequest app_login(std::optional<std::string> database = std::nullopt) {
  LoginRequest login;
  login.user = "camtest";
  login.collation = kCollationUtf8mb4GeneralCi;
  login.database = std::move(database);
  login.attrs = {{"_client_name", "camproxy"}};
  login.max_packet_size = 1U << 24;
  return login;
}

std::vector<uint8_t> handshake_response(const LoginRequest& login, uint32_t caps, std::string_view plugin,
                                        std::span<const uint8_t> auth) {
  HandshakeResponse41 resp;
  resp.capabilities = caps;
  resp.max_packet_size = login.max_packet_size;
  resp.collation = login.collation;
  resp.user = login.user;
  resp.auth_response.assign(auth.begin(), auth.end());
  if (caps & cap::kConnectWithDb) resp.database = login.database;
  resp.auth_plugin_name = std::string(plugin);
  resp.attrs = login.attrs;
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_handshake_response41(resp, w);
  return out;
}

std::vector<uint8_t> ssl_request(const LoginRequest& login, uint32_t caps) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_ssl_request({caps, login.max_packet_size, login.collation, 0}, w);
  return out;
}

std::vector<uint8_t> change_user_packet(const LoginRequest& login, uint32_t caps, std::span<const uint8_t> auth) {
  ComChangeUser cmd;
  cmd.user = login.user;
  cmd.auth_response.assign(auth.begin(), auth.end());
  cmd.collation = login.collation;
  cmd.auth_plugin_name = std::string(kNativePassword);
  cmd.attrs = login.attrs;
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_change_user(cmd, caps, w);
  return out;
}

std::span<const uint8_t, 20> nonce20(std::span<const uint8_t> nonce) {
  return std::span<const uint8_t, 20>(nonce.data(), 20);
}
std::vector<uint8_t> native(std::string_view password, std::span<const uint8_t> nonce) {
  auto s = native_scramble(test::as_bytes(password), nonce20(nonce));
  return {s.begin(), s.end()};
}
std::vector<uint8_t> sha2(std::string_view password, std::span<const uint8_t> nonce) {
  auto s = sha2_scramble(test::as_bytes(password), nonce20(nonce));
  return {s.begin(), s.end()};
}
std::vector<uint8_t> with_nul(std::string_view password) {
  auto v = bytes_of(password);
  v.push_back(0);
  return v;
}

// -- the table ---------------------------------------------------------------------------------

// One call on the machine and what it must answer.
struct Turn {
  enum class Call { feed, start, tls_ready, change_user };
  Call call;
  std::vector<uint8_t> in;  // feed: the server's payload
  uint8_t in_seq = 0;       // feed: its sequence id
  StepKind kind = StepKind::read;
  State state = State::failed;  // after the call
  std::vector<uint8_t> out;     // send / start_tls: the client's payload; done: the OK
  uint8_t out_seq = 0;
  bool secret = false;
};

Turn feed(std::vector<uint8_t> in, uint8_t seq, StepKind kind, State state, std::vector<uint8_t> out = {},
          bool secret = false) {
  return {Turn::Call::feed, std::move(in), seq, kind, state, std::move(out), static_cast<uint8_t>(seq + 1), secret};
}
// A server packet the login ends with: the step's payload is that packet.
Turn feed_ok(std::vector<uint8_t> ok, uint8_t seq) {
  Turn t = feed(ok, seq, StepKind::done, State::done, ok);
  t.out_seq = 0;
  return t;
}
Turn feed_fail(std::vector<uint8_t> in, uint8_t seq) {
  return feed(std::move(in), seq, StepKind::failed, State::failed);
}
Turn greeting(std::vector<uint8_t> in) { return feed(std::move(in), 0, StepKind::greeted, State::greeted); }
Turn call(Turn::Call c, StepKind kind, State state, std::vector<uint8_t> out, uint8_t seq) {
  return {c, {}, 0, kind, state, std::move(out), seq, false};
}

struct ExchangeCase {
  const char* name;
  ClientAuth::Policy policy;
  LoginRequest login;
  std::string password;
  std::vector<Turn> turns;
  // When the last turn fails: kind, code, SQLSTATE and message.
  Failure failure = Failure::protocol;
  uint16_t code = 0;
  std::string sql_state{};
  std::string message{};
};

const ClientAuth::Policy kPlain{};
// TLS that does not check the certificate (--upstream-tls insecure-preferred / insecure-required).
const ClientAuth::Policy kTlsPreferred{
    .tls_available = true, .tls_required = false, .tls_verified = false, .rsa_public_key = {}};
const ClientAuth::Policy kTlsRequired{
    .tls_available = true, .tls_required = true, .tls_verified = false, .rsa_public_key = {}};
// verify-ca / verify-identity: the only TLS the password itself may cross.
const ClientAuth::Policy kTlsVerified{
    .tls_available = true, .tls_required = true, .tls_verified = true, .rsa_public_key = {}};

// The refusals of issue 17: each names the flag that would allow the step.
const std::string kRefuseClear =
    "the database asks for mysql_clear_password, which would hand it the token in clear; camproxy sends that only "
    "over TLS that verified the database (--upstream-tls verify-identity or verify-ca)";
std::string refuse_password(std::string_view why) {
  return "the database asks for the token itself (" + std::string(why) +
         ") over a connection that has not verified it; camproxy sends it only over TLS that verified the database "
         "(--upstream-tls verify-identity or verify-ca) or encrypted with the database's RSA key "
         "(--upstream-rsa-key-file)";
}
const std::string kRefuseFullAuth = refuse_password("caching_sha2_password full authentication");
const std::string kRefuseSha256 = refuse_password("sha256_password");

std::vector<ExchangeCase> login_cases();
std::vector<ExchangeCase> failure_cases();

std::vector<ExchangeCase> capture_cases() {
  const auto login_db = app_login("appdb");
  const auto login = app_login();
  using C = Turn::Call;
  ExchangeCase change_user{"mysql2_change_user_switch", kPlain, app_login(), "other-pw", {},
                           Failure::protocol,           0,      "",          ""};
  change_user.login.user = "other";
  const auto cu = change_user.login;
  // mysql2's COM_CHANGE_USER: scramble over the greeting's nonce; the server switches to the same
  // nonce and the client answers with the same 20 bytes (captured).
  const auto cu_auth = from_hex("1a0c980310312d425245600323e10ee445cff6e8");
  change_user.turns = {
      greeting(mariadb("mysql2_login", 0)),
      call(C::start, StepKind::send, State::auth, handshake_response(cu, kOwnCapsMariaDb, kNativePassword, cu_auth), 1),
      feed_ok(mariadb("mysql2_login", 2), 2),
      call(C::change_user, StepKind::send, State::auth, change_user_packet(cu, kOwnCapsMariaDb, cu_auth), 0),
      feed(mariadb("mysql2_login", 12), 1, StepKind::send, State::switched, mariadb("mysql2_login", 13)),
      feed_ok(mariadb("mysql2_login", 14), 3),
  };
  return {
      {"mariadb_cli_login",
       kPlain,
       login_db,
       std::string(kPassword),
       {greeting(mariadb("mariadb_cli_login", 0)),
        // The mariadb CLI's own scramble over this greeting's nonce (captured frame 1).
        call(C::start, StepKind::send, State::auth,
             handshake_response(login_db, kOwnCapsMariaDb | cap::kConnectWithDb, kNativePassword,
                                from_hex("2b4b486e3e1aaa2f5ddcecdf338d94035a33a491")),
             1),
        feed_ok(mariadb("mariadb_cli_login", 2), 2)}},
      {"mariadb_cli_auth_switch",
       kPlain,
       login,
       std::string(kPassword),
       {greeting(mariadb("mariadb_cli_auth_switch", 0)),
        call(C::start, StepKind::send, State::auth,
             handshake_response(login, kOwnCapsMariaDb, kNativePassword, mariadb("mariadb_cli_auth_switch", 3)), 1),
        // The switch to native with the greeting's nonce: the captured client's answer.
        feed(mariadb("mariadb_cli_auth_switch", 2), 2, StepKind::send, State::switched,
             mariadb("mariadb_cli_auth_switch", 3)),
        feed_ok(mariadb("mariadb_cli_auth_switch", 4), 4)}},
      {"mariadb_cli_bad_password",
       kPlain,
       login,
       "wrong-pw",
       {greeting(mariadb("mariadb_cli_bad_password", 0)),
        call(C::start, StepKind::send, State::auth,
             handshake_response(login, kOwnCapsMariaDb, kNativePassword,
                                native("wrong-pw", from_hex("71344b5f7a6b277e69707930225771542e292476"))),
             1),
        feed_fail(mariadb("mariadb_cli_bad_password", 2), 2)},
       Failure::server_error,
       kErAccessDenied,
       "28000",
       "Access denied for user 'camtest'@'127.0.0.1' (using password: YES)"},
      {"mariadb_cli_ssl_request",
       kTlsRequired,
       login,
       std::string(kPassword),
       {greeting(mariadb("mariadb_cli_ssl_request", 0)),
        call(C::start, StepKind::start_tls, State::tls, ssl_request(login, kOwnCapsMariaDb | cap::kSsl), 1),
        call(C::tls_ready, StepKind::send, State::auth,
             handshake_response(login, kOwnCapsMariaDb | cap::kSsl, kNativePassword,
                                native(kPassword, from_hex("3f7e7d786570245d29544d622940467d6564456b"))),
             2),
        feed_ok(kOk, 3)}},
      change_user,
  };
}

std::vector<ExchangeCase> all_cases() {
  auto all = capture_cases();
  for (auto& c : login_cases()) all.push_back(std::move(c));
  for (auto& c : failure_cases()) all.push_back(std::move(c));
  return all;
}

// Hand-made exchanges for the paths MariaDB's captures lack (spec §3.3).
std::vector<ExchangeCase> login_cases() {
  using C = Turn::Call;
  const auto login = app_login();
  const auto pw = std::string(kPassword);
  auto mirrored = app_login();
  mirrored.capabilities = cap::kDeprecateEof | cap::kCompress | cap::kInteractive;  // only DEPRECATE_EOF is mirrored
  const auto first_sha2 = [&](uint32_t caps, uint8_t seq = 1) {
    return call(C::start, StepKind::send, State::auth,
                handshake_response(login, caps, kCachingSha2Password, sha2(kPassword, kNonce)), seq);
  };
  return {
      {"sha2_fast_auth",
       kPlain,
       mirrored,
       pw,
       {greeting(mysql8_greeting(false)),
        call(C::start, StepKind::send, State::auth,
             handshake_response(mirrored, kOwnCaps | cap::kDeprecateEof, kCachingSha2Password, sha2(kPassword, kNonce)),
             1),
        feed(kFastAuthOk, 2, StepKind::read, State::await_result), feed_ok(kOk, 3)}},
      {"sha2_full_auth_over_verified_tls",
       kTlsVerified,
       login,
       pw,
       {greeting(mysql8_greeting(true)),
        call(C::start, StepKind::start_tls, State::tls, ssl_request(login, kOwnCaps | cap::kSsl), 1),
        call(C::tls_ready, StepKind::send, State::auth,
             handshake_response(login, kOwnCaps | cap::kSsl, kCachingSha2Password, sha2(kPassword, kNonce)), 2),
        feed(kFullAuth, 3, StepKind::send, State::await_result, with_nul(kPassword), true), feed_ok(kOk, 5)}},
      {"tls_preferred_server_without_tls",
       kTlsPreferred,
       login,
       pw,
       {greeting(mysql8_greeting(false)), first_sha2(kOwnCaps), feed_ok(kOk, 2)}},
      {"switch_native_to_sha2",
       kPlain,
       login,
       pw,
       {greeting(mariadb("pymysql_login", 0)),
        call(C::start, StepKind::send, State::auth,
             handshake_response(login, kOwnCapsMariaDb, kNativePassword,
                                native(kPassword, from_hex("715a52693c30772d7425556060436d7a3e656446"))),
             1),
        feed(switch_to(kCachingSha2Password), 2, StepKind::send, State::switched, sha2(kPassword, kSwitchNonce)),
        feed(kFastAuthOk, 4, StepKind::read, State::await_result), feed_ok(kOk, 5)}},
      {"switch_to_sha256_over_verified_tls",
       kTlsVerified,
       login,
       pw,
       {greeting(mysql8_greeting(true)),
        call(C::start, StepKind::start_tls, State::tls, ssl_request(login, kOwnCaps | cap::kSsl), 1),
        call(C::tls_ready, StepKind::send, State::auth,
             handshake_response(login, kOwnCaps | cap::kSsl, kCachingSha2Password, sha2(kPassword, kNonce)), 2),
        feed(switch_to(kSha256Password), 3, StepKind::send, State::await_result, with_nul(kPassword), true),
        feed_ok(kOk, 5)}},
      {"switch_to_clear_password_over_verified_tls",
       kTlsVerified,
       login,
       pw,
       {greeting(mysql8_greeting(true)),
        call(C::start, StepKind::start_tls, State::tls, ssl_request(login, kOwnCaps | cap::kSsl), 1),
        call(C::tls_ready, StepKind::send, State::auth,
             handshake_response(login, kOwnCaps | cap::kSsl, kCachingSha2Password, sha2(kPassword, kNonce)), 2),
        // mysql_clear_password's switch carries no nonce (spec §3.3).
        feed(from_hex("fe 6d7973716c5f636c6561725f70617373776f726400"), 3, StepKind::send, State::await_result,
             with_nul(kPassword), true),
        feed_ok(kOk, 5)}},
      {"empty_password_sends_empty_responses",
       kPlain,
       login,
       "",
       {greeting(mysql8_greeting(false)),
        call(C::start, StepKind::send, State::auth, handshake_response(login, kOwnCaps, kCachingSha2Password, {}), 1),
        feed(switch_to(kNativePassword), 2, StepKind::send, State::switched, {}), feed_ok(kOk, 4)}},
  };
}

// Servers that refuse, or break the protocol: the right failure, never a crash.
std::vector<ExchangeCase> failure_cases() {
  using C = Turn::Call;
  const auto login = app_login();
  const auto pw = std::string(kPassword);
  const auto first = [&] {
    return call(C::start, StepKind::send, State::auth,
                handshake_response(login, kOwnCaps, kCachingSha2Password, sha2(kPassword, kNonce)), 1);
  };
  const auto after_first = [&](std::vector<Turn> more) {
    std::vector<Turn> turns{greeting(mysql8_greeting(false)), first()};
    turns.insert(turns.end(), more.begin(), more.end());
    return turns;
  };
  const auto over_unverified_tls = [&](std::vector<Turn> more) {
    std::vector<Turn> turns{
        greeting(mysql8_greeting(true)),
        call(C::start, StepKind::start_tls, State::tls, ssl_request(login, kOwnCaps | cap::kSsl), 1),
        call(C::tls_ready, StepKind::send, State::auth,
             handshake_response(login, kOwnCaps | cap::kSsl, kCachingSha2Password, sha2(kPassword, kNonce)), 2)};
    turns.insert(turns.end(), more.begin(), more.end());
    return turns;
  };
  return {
      {"err_greeting_1040",
       kPlain,
       login,
       pw,
       {feed_fail(kErr1040, 0)},
       Failure::server_error,
       kErConCount,
       "",
       "Too many connections"},
      {"malformed_err_greeting",
       kPlain,
       login,
       pw,
       {feed_fail(from_hex("ff 10"), 0)},
       Failure::protocol,
       0,
       "",
       "malformed error greeting"},
      {"bad_greeting",
       kPlain,
       login,
       pw,
       {feed_fail(from_hex("09 352e3000"), 0)},
       Failure::protocol,
       0,
       "",
       "cannot read the server greeting: unsupported protocol feature"},
      {"tls_required_not_offered",
       kTlsRequired,
       login,
       pw,
       {feed_fail(mariadb("mariadb_cli_login", 0), 0)},
       Failure::tls,
       0,
       "",
       "the server does not offer TLS but --upstream-tls requires it"},
      {"malformed_err_in_auth", kPlain, login, pw, after_first({feed_fail(from_hex("ff 15"), 2)}), Failure::protocol, 0,
       "", "malformed ERR packet during login"},
      {"empty_packet", kPlain, login, pw, after_first({feed_fail({}, 2)}), Failure::protocol, 0, "",
       "empty packet during login"},
      {"unknown_marker", kPlain, login, pw, after_first({feed_fail(from_hex("fb 00"), 2)}), Failure::protocol, 0, "",
       "unexpected packet during login"},
      {"two_switches", kPlain, login, pw,
       after_first(
           {feed(switch_to(kNativePassword), 2, StepKind::send, State::switched, native(kPassword, kSwitchNonce)),
            feed_fail(switch_to(kCachingSha2Password), 4)}),
       Failure::protocol, 0, "", "the server switched auth plugins twice"},
      {"unknown_plugin", kPlain, login, pw, after_first({feed_fail(switch_to("auth_gssapi_client"), 2)}),
       Failure::unsupported_plugin, 0, "",
       "the server asks for auth plugin 'auth_gssapi_client', which camproxy does not speak"},
      // Issue 17: the four ways a server camproxy has not authenticated would get the token.
      {"clear_password_without_tls", kPlain, login, pw,
       after_first({feed_fail(from_hex("fe 6d7973716c5f636c6561725f70617373776f726400"), 2)}), Failure::unsafe_auth, 0,
       "", kRefuseClear},
      {"clear_password_over_unverified_tls", kTlsRequired, login, pw,
       over_unverified_tls({feed_fail(from_hex("fe 6d7973716c5f636c6561725f70617373776f726400"), 3)}),
       Failure::unsafe_auth, 0, "", kRefuseClear},
      {"sha2_full_auth_without_tls", kPlain, login, pw, after_first({feed_fail(kFullAuth, 2)}), Failure::unsafe_auth, 0,
       "", kRefuseFullAuth},
      {"sha2_full_auth_over_unverified_tls", kTlsPreferred, login, pw, over_unverified_tls({feed_fail(kFullAuth, 3)}),
       Failure::unsafe_auth, 0, "", kRefuseFullAuth},
      {"sha2_full_auth_after_a_switch_without_tls", kPlain, login, pw,
       after_first(
           {feed(switch_to(kCachingSha2Password), 2, StepKind::send, State::switched, sha2(kPassword, kSwitchNonce)),
            feed_fail(kFullAuth, 4)}),
       Failure::unsafe_auth, 0, "", kRefuseFullAuth},
      {"sha256_without_tls", kPlain, login, pw, after_first({feed_fail(switch_to(kSha256Password), 2)}),
       Failure::unsafe_auth, 0, "", kRefuseSha256},
      {"sha256_over_unverified_tls", kTlsRequired, login, pw,
       over_unverified_tls({feed_fail(switch_to(kSha256Password), 3)}), Failure::unsafe_auth, 0, "", kRefuseSha256},
      {"old_password_switch", kPlain, login, pw, after_first({feed_fail(from_hex("fe"), 2)}), Failure::protocol, 0, "",
       "the server asks for the pre-4.1 password protocol"},
      {"switch_without_nonce", kPlain, login, pw,
       after_first({feed_fail(from_hex("fe 6d7973716c5f6e61746976655f70617373776f726400 0102"), 2)}), Failure::protocol,
       0, "", "auth switch without a 20-byte nonce"},
      {"more_data_for_native",
       kPlain,
       login,
       pw,
       {greeting(mariadb("pymysql_login", 0)),
        call(C::start, StepKind::send, State::auth,
             handshake_response(login, kOwnCapsMariaDb, kNativePassword,
                                native(kPassword, from_hex("715a52693c30772d7425556060436d7a3e656446"))),
             1),
        feed_fail(kFastAuthOk, 2)},
       Failure::protocol,
       0,
       "",
       "unexpected auth data from the server"},
      {"unknown_sha2_state", kPlain, login, pw, after_first({feed_fail(from_hex("01 05"), 2)}), Failure::protocol, 0,
       "", "unexpected caching_sha2_password state"},
      {"more_data_after_fast_auth", kPlain, login, pw,
       after_first({feed(kFastAuthOk, 2, StepKind::read, State::await_result), feed_fail(kFullAuth, 3)}),
       Failure::protocol, 0, "", "unexpected auth data from the server"},
      {"switch_after_the_password", kPlain, login, pw,
       after_first(
           {feed(kFastAuthOk, 2, StepKind::read, State::await_result), feed_fail(switch_to(kNativePassword), 3)}),
       Failure::protocol, 0, "", "unexpected packet during login"},
      {"change_user_before_login",
       kPlain,
       login,
       pw,
       {greeting(mysql8_greeting(false)), call(C::change_user, StepKind::failed, State::failed, {}, 0)},
       Failure::protocol,
       0,
       "",
       "COM_CHANGE_USER before the login is done"},
      {"packet_while_greeted",
       kPlain,
       login,
       pw,
       {greeting(mysql8_greeting(false)), feed_fail(kOk, 1)},
       Failure::protocol,
       0,
       "",
       "unexpected bytes from the server during login"},
  };
}

// Runs one turn; the password must outlive the exchange (the machine keeps a view of it).
ClientAuthStep run(ClientAuth& auth, const Turn& t, const ExchangeCase& c) {
  const auto pw = test::as_bytes(c.password);
  switch (t.call) {
    case Turn::Call::feed: return auth.feed(t.in, t.in_seq);
    case Turn::Call::start: return auth.start(c.login, pw);
    case Turn::Call::tls_ready: return auth.tls_ready();
    case Turn::Call::change_user: return auth.change_user(pw);
  }
  return {};
}

class ExchangeTest : public ::testing::TestWithParam<ExchangeCase> {};

TEST_P(ExchangeTest, StatesAndBytesFollowTheScript) {
  const ExchangeCase& c = GetParam();
  ClientAuth auth(c.policy);
  std::vector<State> expected_states;
  std::vector<State> states;
  ClientAuthStep last;
  for (size_t i = 0; i < c.turns.size(); ++i) {
    const Turn& t = c.turns[i];
    SCOPED_TRACE("turn " + std::to_string(i));
    last = run(auth, t, c);
    states.push_back(auth.state());
    expected_states.push_back(t.state);
    EXPECT_EQ(to_string(last.kind), to_string(t.kind)) << last.failure.message;
    if (t.kind == StepKind::send || t.kind == StepKind::start_tls || t.kind == StepKind::done) {
      EXPECT_EQ(to_hex(last.payload), to_hex(t.out));
    }
    if (t.kind == StepKind::send || t.kind == StepKind::start_tls) {
      EXPECT_EQ(last.seq, t.out_seq);
    }
    EXPECT_EQ(last.secret, t.secret);
    EXPECT_EQ(auth.wants_packet(),
              t.state != State::greeted && t.state != State::tls && t.state != State::done && t.state != State::failed);
  }
  std::vector<std::string_view> want, got;
  for (State s : expected_states) want.push_back(to_string(s));
  for (State s : states) got.push_back(to_string(s));
  EXPECT_EQ(got, want);
  if (c.turns.back().kind != StepKind::failed) return;
  EXPECT_EQ(to_string(last.failure.kind), to_string(c.failure));
  EXPECT_EQ(last.failure.code, c.code);
  EXPECT_EQ(last.failure.sql_state, c.sql_state);
  EXPECT_EQ(last.failure.message, c.message);
  // Failed stays failed.
  EXPECT_EQ(auth.feed(kOk, 9).kind, StepKind::failed);
  EXPECT_EQ(auth.state(), State::failed);
}

INSTANTIATE_TEST_SUITE_P(ClientAuth, ExchangeTest, ::testing::ValuesIn(all_cases()), test::CaseName());

// -- RSA: the ciphertext is random, so the server's side decrypts it ----------------------------

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

std::string public_key_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// What the server does with the AuthMoreData answer: RSA-OAEP(SHA-1) decrypt, XOR the nonce.
std::vector<uint8_t> server_decrypts(EVP_PKEY* key, std::span<const uint8_t> cipher, const Nonce& nonce) {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new(key, nullptr), EVP_PKEY_CTX_free);
  std::vector<uint8_t> plain(cipher.size());
  size_t len = plain.size();
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_decrypt(ctx.get(), plain.data(), &len, cipher.data(), cipher.size()) != 1)
    return {};
  plain.resize(len);
  for (size_t i = 0; i < plain.size(); ++i) plain[i] ^= nonce[i % nonce.size()];
  return plain;
}

// With --upstream-rsa-key-file, full authentication without verified TLS answers with the
// password encrypted by the operator's key at once (no key request: the server's own key is never
// asked for): the ciphertext must decrypt to P || 00 over the switch's nonce.
void expect_rsa_exchange(std::string_view plugin) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_RSA_gen(2048));
  ASSERT_TRUE(key);
  ClientAuth::Policy policy = kPlain;
  policy.rsa_public_key = public_key_pem(key.get());
  ASSERT_FALSE(policy.rsa_public_key.empty());

  ClientAuth auth(policy);
  ASSERT_EQ(auth.feed(mysql8_greeting(false), 0).kind, StepKind::greeted);
  ASSERT_EQ(auth.start(app_login(), test::as_bytes(kPassword)).kind, StepKind::send);
  auto step = auth.feed(switch_to(plugin), 2);
  if (plugin == kCachingSha2Password) {
    ASSERT_EQ(to_hex(step.payload), to_hex(sha2(kPassword, kSwitchNonce)));
    step = auth.feed(kFullAuth, 4);
  }
  ASSERT_EQ(step.kind, StepKind::send) << step.failure.message;
  EXPECT_FALSE(step.secret);  // ciphertext
  EXPECT_EQ(step.payload.size(), 256u);
  EXPECT_EQ(server_decrypts(key.get(), step.payload, kSwitchNonce), with_nul(kPassword));
  EXPECT_EQ(auth.state(), State::await_result);
  EXPECT_EQ(auth.feed(kOk, static_cast<uint8_t>(step.seq + 1)).kind, StepKind::done);
}

TEST(ClientAuthRsa, Sha2FullAuthEncryptsWithTheOperatorsKey) { expect_rsa_exchange(kCachingSha2Password); }

TEST(ClientAuthRsa, Sha256EncryptsWithTheOperatorsKey) { expect_rsa_exchange(kSha256Password); }

// A PEM the server sends where its key would come is not a key camproxy uses: it is an
// unexpected packet, and nothing of the password has been sent.
TEST(ClientAuthRsa, AServersKeyIsNeverAskedForNorUsed) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_RSA_gen(2048));
  ASSERT_TRUE(key);
  std::vector<uint8_t> pem = bytes_of(public_key_pem(key.get()));
  pem.insert(pem.begin(), kAuthMoreDataHeader);
  ClientAuth auth(kPlain);
  ASSERT_EQ(auth.feed(mysql8_greeting(false), 0).kind, StepKind::greeted);
  ASSERT_EQ(auth.start(app_login(), test::as_bytes(kPassword)).kind, StepKind::send);
  EXPECT_EQ(auth.feed(pem, 2).kind, StepKind::failed);
}

// -- bad input -----------------------------------------------------------------------------------

// Every prefix of every server packet of every exchange, fed where the whole packet was: a step
// that agrees with the state, and no failure message that holds the password.
TEST(ClientAuthBadInput, TruncatedPacketsAtEveryLength) {
  for (const ExchangeCase& c : all_cases()) {
    for (size_t i = 0; i < c.turns.size(); ++i) {
      if (c.turns[i].call != Turn::Call::feed) continue;
      for (size_t len = 0; len < c.turns[i].in.size(); ++len) {
        ClientAuth auth(c.policy);
        for (size_t j = 0; j < i; ++j) run(auth, c.turns[j], c);
        const std::span<const uint8_t> prefix(c.turns[i].in.data(), len);
        const ClientAuthStep step = auth.feed(prefix, c.turns[i].in_seq);
        SCOPED_TRACE(std::string(c.name) + " turn " + std::to_string(i) + " length " + std::to_string(len));
        EXPECT_EQ(step.kind == StepKind::failed, auth.state() == State::failed);
        if (step.kind == StepKind::done) {
          EXPECT_EQ(prefix[0], kOkHeader);
        }
        if (step.kind == StepKind::failed) {
          // An ERR's message is the server's own, possibly empty (truncated here).
          if (step.failure.kind != Failure::server_error) {
            EXPECT_FALSE(step.failure.message.empty());
          }
          if (!c.password.empty()) {
            EXPECT_EQ(step.failure.message.find(c.password), std::string::npos);
          }
        }
      }
    }
  }
}

TEST(ClientAuthBadInput, CallsOutOfOrderFail) {
  ClientAuth auth(kPlain);
  EXPECT_EQ(auth.tls_ready().kind, StepKind::failed);
  ClientAuth before_greeting(kPlain);
  EXPECT_EQ(before_greeting.start(app_login(), test::as_bytes(kPassword)).kind, StepKind::failed);
  EXPECT_EQ(before_greeting.state(), State::failed);
}

TEST(ClientAuth, EveryStateHasItsOwnName) {
  std::set<std::string_view> names;
  for (State s : {State::greeting, State::greeted, State::tls, State::auth, State::switched, State::await_result,
                  State::done, State::failed})
    names.insert(to_string(s));
  EXPECT_EQ(names.size(), 8u);
  EXPECT_EQ(names.count("unknown"), 0u);
}

// spec §3.1: the application's MariaDB extended capabilities are asked for on its database
// connection, as far as the database offers them and camproxy relays them (kRelayable), in the
// HandshakeResponse41 and in the SSLRequest before it; a MySQL database (CLIENT_MYSQL set) gets
// none. The MariaDB 10.11 greeting of mariadb_cli_login offers 0x1d.
TEST(ClientAuthMariaDb, AsksForTheApplicationsExtendedCapabilitiesTheServerOffers) {
  struct Row {
    std::vector<uint8_t> greeting;
    bool tls;
    uint32_t wanted;
    uint32_t asked;
  };
  const Row rows[] = {
      {mariadb("mariadb_cli_login", 0), false, 0x3f, 0x1d},  // COM_MULTI and BULK_UNIT_RESULTS never
      {mariadb("mariadb_cli_login", 0), false, mariadb_cap::kCacheMetadata, mariadb_cap::kCacheMetadata},
      {mariadb("mariadb_cli_login", 0), false, 0, 0},
      {mariadb("mariadb_cli_ssl_request", 0), true, 0x1d, 0x1d},
      {mysql8_greeting(false), false, 0x1d, 0},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.wanted);
    ClientAuth::Policy policy = kPlain;
    policy.tls_available = row.tls;
    ClientAuth auth(policy);
    ASSERT_EQ(auth.feed(row.greeting, 0).kind, StepKind::greeted);
    LoginRequest login = app_login();
    login.mariadb_capabilities = row.wanted;
    auto step = auth.start(login, test::as_bytes(kPassword));
    EXPECT_EQ(auth.mariadb_capabilities(), row.asked);
    if (row.tls) {
      ASSERT_EQ(step.kind, StepKind::start_tls);
      const auto ssl = decode_ssl_request(step.payload);
      ASSERT_TRUE(ssl);
      EXPECT_EQ(ssl->mariadb_ext_caps, row.asked);
      step = auth.tls_ready();
    }
    ASSERT_EQ(step.kind, StepKind::send);
    const auto resp = decode_handshake_response41(step.payload);
    ASSERT_TRUE(resp);
    EXPECT_EQ(resp->capabilities & cap::kLongPassword,
              row.greeting == mysql8_greeting(false) ? cap::kLongPassword : 0U);
    EXPECT_EQ(resp->mariadb_ext_caps, row.asked);
  }
}

}  // namespace
}  // namespace camproxy::protocol
