// The server side of the login (spec/mysql-protocol.md §2) driven by real clients' packets from
// captures/: the state sequence and the bytes camproxy sends, per capture; then bad input.
#include "protocol/server_handshake.h"

#include <optional>

#include <gtest/gtest.h>

#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/handshake_response.h"
#include "protocol/handshake_v10.h"
#include "protocol/packet.h"
#include "test_util.h"

namespace camproxy::protocol {
namespace {

using test::PrintTo;

using test::from_hex;
using test::load_capture;
using test::to_hex;
using State = ServerHandshakeState;
using Action = ServerHandshakeAction;

// The nonces the machine draws, in order: tests set them to a capture's so that the client's
// captured scramble is the right answer.
std::vector<Nonce> g_nonces;
size_t g_next_nonce = 0;
Nonce next_nonce() {
  Nonce n{};
  if (g_next_nonce < g_nonces.size()) n = g_nonces[g_next_nonce++];
  return n;
}
Nonce nonce_of(std::string_view hex) {
  Nonce n{};
  const auto bytes = from_hex(hex);
  std::copy(bytes.begin(), bytes.end(), n.begin());
  return n;
}
const Nonce kNonce1to20 = nonce_of("0102030405060708090a0b0c0d0e0f1011121314");
// Greeting and AuthSwitch nonces of the MariaDB server in the captures.
const Nonce kLoginNonce = nonce_of("2361436a6a595c437854792959677b526a3e3739");    // mariadb_cli_login
const Nonce kSwitchNonce = nonce_of("624d39776a2f496336244d3b7b7d222c58552246");   // mariadb_cli_auth_switch
const Nonce kPymysqlNonce = nonce_of("715a52693c30772d7425556060436d7a3e656446");  // pymysql_login
const Nonce kMysql2Nonce = nonce_of("7b505d62535b4d512f355d567671532b7946305b");   // mysql2_login
constexpr std::string_view kPassword = "camtest-pw";
constexpr uint32_t kMariaDbCaps = 0x81fff7fe;  // the captured MariaDB 10.11 greeting's
constexpr uint32_t kMariaDbExtCaps = 0x1d;     // its extended caps: PROGRESS, BULK, EXT_METADATA, CACHE_METADATA

GreetingInfo greeting_info() {
  GreetingInfo g;
  g.server_version = "8.0.36";
  g.connection_id = 7;
  g.upstream_capabilities = kMariaDbCaps;
  g.upstream_mariadb_capabilities = kMariaDbExtCaps;
  g.collation = 45;
  g.status_flags = status::kAutocommit;
  return g;
}

// What a driver does with each action; records the states passed and the bytes sent.
struct Driven {
  ServerHandshake hs{&next_nonce};
  std::vector<State> states;      // each state entered, once
  std::vector<std::string> sent;  // hex, one per send
  Action last = Action::read_more;
  bool map_user = true;

  void follow(Action a) {
    for (;;) {
      if (states.empty() || states.back() != hs.state()) states.push_back(hs.state());
      last = a;
      switch (a) {
        case Action::send:
          sent.push_back(to_hex(hs.output()));
          a = hs.step();
          break;
        case Action::start_tls: a = hs.tls_ready(); break;  // as if the TLS handshake completed
        case Action::check_user:
          if (!map_user) return;
          a = hs.accept_user();
          break;
        case Action::verify_password: a = hs.verdict(password_ok()); break;
        default: return;
      }
    }
  }
  bool password_ok() const {
    const auto check = hs.password_check();
    const auto pw = test::as_bytes(kPassword);
    std::array<uint8_t, 20> nonce{};
    std::copy(check.nonce.begin(), check.nonce.end(), nonce.begin());
    if (check.caching_sha2) return sha2_verify(sha2_password_hash(pw), nonce, check.response);
    return native_verify(native_password_hash(pw), nonce, check.response);
  }
};

// Frames the client sent before the server's verdict, from a capture.
std::vector<std::vector<uint8_t>> client_frames(std::string_view capture, size_t count) {
  std::vector<std::vector<uint8_t>> out;
  for (const auto& f : load_capture(capture)) {
    if (f.from_client && out.size() < count) out.push_back(f.frame);
  }
  return out;
}

// The greeting of greeting_info() with kNonce1to20, annotated from spec §2.1.
const std::string kGreetingHex =
    "4a0000"                      // payload length 74
    "00"                          // seq 0
    "0a"                          // protocol 10
    "382e302e333600"              // "8.0.36" NUL
    "07000000"                    // connection id 7
    "0102030405060708"            // nonce[0..7]
    "00"                          // filler
    "8ea7"                        // caps low: 0xa78e (LONG_PASSWORD clear, as the MariaDB database's)
    "2d"                          // collation 45
    "0200"                        // status AUTOCOMMIT
    "bf01"                        // caps high: 0x01bf -> 0x01bfa78e = kProxyServerDefault | LOCAL_FILES
                                  //   without LONG_PASSWORD
    "15"                          // auth data length 21
    "000000000000"                // reserved
    "1d000000"                    // MariaDB extended caps: all 4 the database offers (spec §3.1)
    "090a0b0c0d0e0f101112131400"  // nonce[8..19] NUL
    "63616368696e675f736861325f70617373776f726400";  // "caching_sha2_password" NUL

TEST(ServerHandshake, GreetingMatchesTheAnnotatedBytes) {
  g_nonces = {kNonce1to20};
  g_next_nonce = 0;
  Driven r;
  EXPECT_EQ(r.hs.greet(greeting_info()), Action::send);
  EXPECT_EQ(to_hex(r.hs.output()), kGreetingHex);
  EXPECT_EQ(r.hs.next_seq(), 1);
  EXPECT_EQ(r.hs.state(), State::read_response);
}

TEST(ServerHandshake, GreetingOffersSslOnlyWithACertificateAndMasksWhatTheDatabaseLacks) {
  g_nonces = {kNonce1to20};
  g_next_nonce = 0;
  auto info = greeting_info();
  info.tls_offered = true;
  info.upstream_capabilities = kMariaDbCaps & ~(cap::kDeprecateEof | cap::kSessionTrack);
  ServerHandshake hs(&next_nonce);
  hs.greet(info);
  EXPECT_EQ(hs.advertised_capabilities(), (0x01bfa78eU | cap::kSsl) & ~(cap::kDeprecateEof | cap::kSessionTrack));
}

// spec §3.1: the extended capabilities offered are those the database offers that camproxy
// relays (mariadb_cap::kRelayable), never COM_MULTI or BULK_UNIT_RESULTS.
TEST(ServerHandshake, GreetingOffersTheRelayableMariaDbExtendedCapabilities) {
  g_nonces = {kNonce1to20};
  g_next_nonce = 0;
  auto info = greeting_info();
  info.upstream_mariadb_capabilities = 0x3f;  // MariaDB 11.5+: COM_MULTI and BULK_UNIT_RESULTS too
  ServerHandshake hs(&next_nonce);
  ASSERT_EQ(hs.greet(info), Action::send);
  EXPECT_EQ(hs.advertised_mariadb_capabilities(), kMariaDbExtCaps);
  const auto greeting = decode_handshake_v10(hs.output().subspan(kHeaderSize));
  ASSERT_TRUE(greeting);
  EXPECT_EQ(greeting->capabilities & cap::kLongPassword, 0U);
  EXPECT_EQ(greeting->mariadb_ext_caps, kMariaDbExtCaps);
}

// Against MySQL (CLIENT_MYSQL set in its greeting) nothing changes: bit 0 set, no ext caps.
TEST(ServerHandshake, GreetingOfAMySqlDatabaseOffersNoExtendedCapabilities) {
  g_nonces = {kNonce1to20};
  g_next_nonce = 0;
  auto info = greeting_info();
  info.upstream_capabilities = kMariaDbCaps | cap::kLongPassword;
  ServerHandshake hs(&next_nonce);
  ASSERT_EQ(hs.greet(info), Action::send);
  EXPECT_NE(hs.advertised_capabilities() & cap::kLongPassword, 0U);
  EXPECT_EQ(hs.advertised_mariadb_capabilities(), 0U);
  const auto greeting = decode_handshake_v10(hs.output().subspan(kHeaderSize));
  ASSERT_TRUE(greeting);
  EXPECT_EQ(greeting->mariadb_ext_caps, 0U);
}

struct LoginCase {
  const char* name;
  const char* capture;
  size_t client_frames;  // how many of the capture's client frames to feed
  std::vector<Nonce> nonces;
  bool tls_offered;
  bool local_auth;
  std::vector<State> states;                     // after each action
  std::vector<std::string> sent_after_greeting;  // hex frames camproxy sends after the greeting
  Action outcome;
  uint8_t next_seq;
  bool sha2_fast_ack;
  const char* database;
};

// Captured AuthSwitchRequest to mysql_native_password, frame 2 of mariadb_cli_auth_switch: the
// same bytes camproxy must send with that nonce at seq 2.
const std::string kCapturedNativeSwitch =
    "2c000002fe6d7973716c5f6e61746976655f70617373776f726400624d39776a2f496336244d3b7b7d222c5855224600";

std::vector<LoginCase> login_cases() {
  const std::vector<State> plain = {State::read_response, State::check_user, State::authenticated};
  return {
      {"mariadb_cli_native_any_password",
       "mariadb_cli_login.hex",
       1,
       {kLoginNonce},
       false,
       false,
       plain,
       {},
       Action::authenticated,
       2,
       false,
       "appdb"},
      {"mariadb_cli_native_local_auth",
       "mariadb_cli_login.hex",
       1,
       {kLoginNonce},
       false,
       true,
       {State::read_response, State::check_user, State::verify, State::authenticated},
       {},
       Action::authenticated,
       2,
       false,
       "appdb"},
      // Empty caching_sha2 answer: any password completes at once (no AuthMoreData first).
      {"mariadb_cli_sha2_empty_any_password",
       "mariadb_cli_auth_switch.hex",
       1,
       {kSwitchNonce},
       false,
       false,
       plain,
       {},
       Action::authenticated,
       2,
       false,
       nullptr},
      // Local authentication switches to the same plugin with a fresh nonce; the capture's answer
      // is a native scramble (the real server asked for native), so the sha2 check fails.
      {"mariadb_cli_sha2_empty_local_auth",
       "mariadb_cli_auth_switch.hex",
       2,
       {kLoginNonce, kSwitchNonce},
       false,
       true,
       {State::read_response, State::check_user, State::read_switch, State::verify, State::refused},
       {"2c000002fe63616368696e675f736861325f70617373776f726400624d39776a2f496336244d3b7b7d222c5855224600"},
       Action::refuse,
       4,
       false,
       nullptr},
      {"pymysql_native_local_auth",
       "pymysql_login.hex",
       1,
       {kPymysqlNonce},
       false,
       true,
       {State::read_response, State::check_user, State::verify, State::authenticated},
       {},
       Action::authenticated,
       2,
       false,
       "appdb"},
      {"mysql2_native_local_auth",
       "mysql2_login.hex",
       1,
       {kMysql2Nonce},
       false,
       true,
       {State::read_response, State::check_user, State::verify, State::authenticated},
       {},
       Action::authenticated,
       2,
       false,
       "appdb"},
      {"mariadb_cli_ssl_request",
       "mariadb_cli_ssl_request.hex",
       1,
       {kNonce1to20},
       true,
       false,
       {State::read_response, State::tls_handshake, State::read_response},
       {},
       Action::read_more,
       2,
       false,
       nullptr},
      {"mariadb_cli_ssl_request_not_offered",
       "mariadb_cli_ssl_request.hex",
       1,
       {kNonce1to20},
       false,
       false,
       {State::read_response, State::refused},
       {},
       Action::refuse,
       2,
       false,
       nullptr},
      {"pymysql_ssl_request",
       "pymysql_ssl_request.hex",
       1,
       {kNonce1to20},
       true,
       false,
       {State::read_response, State::tls_handshake, State::read_response},
       {},
       Action::read_more,
       2,
       false,
       nullptr},
  };
}

class LoginFromCapture : public ::testing::TestWithParam<LoginCase> {};

TEST_P(LoginFromCapture, StatesAndBytes) {
  const LoginCase& c = GetParam();
  g_nonces = c.nonces;
  g_next_nonce = 0;
  Driven r;
  auto info = greeting_info();
  info.tls_offered = c.tls_offered;
  info.local_auth = c.local_auth;
  r.follow(r.hs.greet(info));
  for (const auto& frame : client_frames(c.capture, c.client_frames)) r.follow(r.hs.feed(frame));
  EXPECT_EQ(r.last, c.outcome) << to_string(r.hs.refusal());
  std::vector<std::string_view> states, expected;
  for (State s : r.states) states.push_back(to_string(s));
  for (State s : c.states) expected.push_back(to_string(s));
  EXPECT_EQ(states, expected);
  ASSERT_GE(r.sent.size(), 1U);
  EXPECT_EQ(std::vector<std::string>(r.sent.begin() + 1, r.sent.end()), c.sent_after_greeting);
  EXPECT_EQ(r.hs.next_seq(), c.next_seq);
  if (c.outcome == Action::authenticated) {
    EXPECT_EQ(r.hs.login().user, "camtest");
    EXPECT_EQ(r.hs.login().sha2_fast_ack, c.sha2_fast_ack);
    EXPECT_EQ(r.hs.login().database.value_or("<none>"), c.database ? c.database : "<none>");
    EXPECT_EQ(r.hs.login().capabilities & ~r.hs.advertised_capabilities(), 0U);
  }
}

INSTANTIATE_TEST_SUITE_P(Captures, LoginFromCapture, ::testing::ValuesIn(login_cases()), test::CaseName());

// A HandshakeResponse41 built here for shapes the captures lack, framed at seq 1. With
// `mariadb_ext_caps`, a MariaDB client's: CLIENT_MYSQL clear, the ext caps in the filler.
std::vector<uint8_t> response_frame(std::string_view plugin, std::span<const uint8_t> auth, uint32_t extra_caps = 0,
                                    uint8_t seq = 1, std::optional<uint32_t> mariadb_ext_caps = std::nullopt) {
  HandshakeResponse41 resp;
  resp.capabilities = cap::kProtocol41 | cap::kSecureConnection | cap::kPluginAuth | extra_caps |
                      (mariadb_ext_caps ? 0 : cap::kLongPassword);
  resp.mariadb_ext_caps = mariadb_ext_caps.value_or(0);
  resp.max_packet_size = 1U << 24;
  resp.collation = 45;
  resp.user = "camtest";
  resp.auth_response.assign(auth.begin(), auth.end());
  resp.auth_plugin_name = std::string(plugin);
  std::vector<uint8_t> frame;
  const size_t start = begin_packet(frame);
  ByteWriter w(frame);
  encode_handshake_response41(resp, w);
  end_packet(frame, start, seq);
  return frame;
}

std::vector<uint8_t> framed(std::span<const uint8_t> payload, uint8_t seq) {
  std::vector<uint8_t> out;
  encode_packet(payload, seq, out);
  return out;
}

Driven greeted(bool local_auth = false, std::vector<Nonce> nonces = {kNonce1to20, kSwitchNonce}) {
  g_nonces = std::move(nonces);
  g_next_nonce = 0;
  auto info = greeting_info();
  info.local_auth = local_auth;
  Driven r;
  r.follow(r.hs.greet(info));
  return r;
}

TEST(ServerHandshake, AnotherPluginGetsTheCapturedNativeSwitchThenItsCapturedAnswerVerifies) {
  Driven r = greeted(/*local_auth=*/true);
  r.follow(r.hs.feed(response_frame(kClearPassword, test::as_bytes(std::string_view("pw\0", 3)))));
  ASSERT_EQ(r.sent.size(), 2U);
  EXPECT_EQ(r.sent[1], kCapturedNativeSwitch);
  EXPECT_EQ(r.hs.state(), State::read_switch);
  // The client's captured answer to that switch (frame 3, seq 3): mysql_native_password of camtest-pw.
  r.follow(r.hs.feed(client_frames("mariadb_cli_auth_switch.hex", 2)[1]));
  EXPECT_EQ(r.last, Action::authenticated);
  EXPECT_EQ(r.hs.next_seq(), 4);
  EXPECT_FALSE(r.hs.login().sha2_fast_ack);
}

TEST(ServerHandshake, Sha2ScrambleIsAcceptedWithFastAuthSuccessFirst) {
  for (bool local : {false, true}) {
    Driven r = greeted(local);
    const auto scramble = sha2_scramble(test::as_bytes(kPassword), kNonce1to20);
    r.follow(r.hs.feed(response_frame(kCachingSha2Password, scramble)));
    EXPECT_EQ(r.last, Action::authenticated) << local;
    EXPECT_TRUE(r.hs.login().sha2_fast_ack);
  }
}

// The client's extended capabilities are kept as far as they were offered (the pool key and the
// upstream login use them); a client that sets CLIENT_MYSQL has none.
TEST(ServerHandshake, LoginKeepsTheOfferedExtendedCapabilitiesOfTheClient) {
  const auto scramble = sha2_scramble(test::as_bytes(kPassword), kNonce1to20);
  for (const auto& [ext, expected] : {std::pair<std::optional<uint32_t>, uint32_t>{0x3f, kMariaDbExtCaps},
                                      {mariadb_cap::kCacheMetadata, mariadb_cap::kCacheMetadata},
                                      {0, 0},
                                      {std::nullopt, 0}}) {
    Driven r = greeted();
    r.follow(r.hs.feed(response_frame(kCachingSha2Password, scramble, 0, 1, ext)));
    ASSERT_EQ(r.last, Action::authenticated);
    EXPECT_EQ(r.hs.login().mariadb_capabilities, expected) << ext.value_or(0xFFFF);
  }
}

TEST(ServerHandshake, LocalAuthRefusesAWrongPassword) {
  Driven r = greeted(/*local_auth=*/true);
  const auto scramble = native_scramble(test::as_bytes(std::string_view("wrong")), kNonce1to20);
  r.follow(r.hs.feed(response_frame(kNativePassword, scramble)));
  EXPECT_EQ(r.last, Action::refuse);
  EXPECT_EQ(r.hs.refusal(), HandshakeRefusal::local_auth_denied);
  EXPECT_EQ(r.hs.next_seq(), 2);
}

TEST(ServerHandshake, AnyPasswordSwitchesAnEmptyNativeAnswerAndTakesAnyReply) {
  Driven r = greeted();
  r.follow(r.hs.feed(response_frame(kNativePassword, {})));
  EXPECT_EQ(r.hs.state(), State::read_switch);
  r.follow(r.hs.feed(framed({}, 3)));
  EXPECT_EQ(r.last, Action::authenticated);
}

TEST(ServerHandshake, RefusalsOfTheResponse) {
  struct Row {
    const char* name;
    std::vector<uint8_t> frame;
    bool tls_required;
    HandshakeRefusal refusal;
  };
  auto pre41 = response_frame(kNativePassword, {});
  pre41[4 + 1] &= ~static_cast<uint8_t>(cap::kProtocol41 >> 8);
  const std::vector<Row> rows = {
      {"compression", response_frame(kNativePassword, {}, cap::kCompress), false,
       HandshakeRefusal::compression_refused},
      {"zstd", response_frame(kNativePassword, {}, cap::kZstdCompression), false,
       HandshakeRefusal::compression_refused},
      {"remote without TLS", client_frames("pymysql_login.hex", 1)[0], true, HandshakeRefusal::tls_required},
      {"old password plugin", response_frame("mysql_old_password", {}), false, HandshakeRefusal::old_password_plugin},
      {"pre-4.1", pre41, false, HandshakeRefusal::pre41_client},
      {"a command first", framed(from_hex("01"), 1), false, HandshakeRefusal::bad_handshake},
  };
  for (const auto& row : rows) {
    g_nonces = {kNonce1to20};
    g_next_nonce = 0;
    auto info = greeting_info();
    info.tls_required = row.tls_required;
    Driven r;
    r.follow(r.hs.greet(info));
    r.follow(r.hs.feed(row.frame));
    EXPECT_EQ(r.last, Action::refuse) << row.name;
    EXPECT_EQ(r.hs.refusal(), row.refusal) << row.name;
    EXPECT_EQ(r.hs.next_seq(), 2) << row.name;
  }
}

TEST(ServerHandshake, RemotePeerLogsInAfterTls) {
  g_nonces = {kNonce1to20};
  g_next_nonce = 0;
  auto info = greeting_info();
  info.tls_offered = info.tls_required = true;
  Driven r;
  r.follow(r.hs.greet(info));
  r.follow(r.hs.feed(client_frames("pymysql_ssl_request.hex", 1)[0]));
  EXPECT_TRUE(r.hs.tls_on());
  r.follow(r.hs.feed(response_frame(kNativePassword, std::vector<uint8_t>(20, 'x'), cap::kSsl, 2)));
  EXPECT_EQ(r.last, Action::authenticated);
  EXPECT_EQ(r.hs.next_seq(), 3);
  // A second SSLRequest over TLS is refused.
  Driven again;
  g_next_nonce = 0;
  again.follow(again.hs.greet(info));
  const auto ssl = client_frames("pymysql_ssl_request.hex", 1)[0];
  again.follow(again.hs.feed(ssl));
  again.follow(again.hs.feed(framed(std::span(ssl).subspan(4), 2)));
  EXPECT_EQ(again.hs.refusal(), HandshakeRefusal::tls_not_offered);
}

TEST(ServerHandshake, BytesBeforeTheGreetingAndAfterTheLogin) {
  g_nonces = {kLoginNonce};
  g_next_nonce = 0;
  const auto frame = client_frames("mariadb_cli_login.hex", 1)[0];
  std::vector<uint8_t> bytes = frame;
  const auto quit = from_hex("0100000001");
  bytes.insert(bytes.end(), quit.begin(), quit.end());
  Driven r;
  r.follow(r.hs.feed(bytes));  // the client spoke first
  EXPECT_EQ(r.hs.state(), State::wait_greeting);
  EXPECT_EQ(r.hs.next_seq(), 0);  // an ERR now takes the greeting's place
  r.follow(r.hs.greet(greeting_info()));
  EXPECT_EQ(r.last, Action::authenticated);
  EXPECT_EQ(to_hex(r.hs.take_rest()), to_hex(quit));
}

TEST(ServerHandshake, EveryTruncationWaitsOrRefusesNeverCrashes) {
  for (const char* capture : {"mariadb_cli_login.hex", "pymysql_login.hex", "mysql2_login.hex",
                              "mariadb_cli_auth_switch.hex", "mariadb_cli_ssl_request.hex"}) {
    const auto frame = client_frames(capture, 1)[0];
    const auto payload = std::span(frame).subspan(kHeaderSize);
    for (size_t n = 0; n < frame.size(); ++n) {
      Driven cut = greeted();
      cut.follow(cut.hs.feed(std::span(frame).first(n)));
      EXPECT_EQ(cut.last, Action::read_more) << capture << " " << n;  // a frame not yet whole
    }
    for (size_t n = 0; n < payload.size(); ++n) {
      Driven cut = greeted();
      cut.follow(cut.hs.feed(framed(payload.first(n), 1)));
      // Short of the user name nothing decodes; later cuts may lack only optional fields.
      if (n <= 32) {
        EXPECT_EQ(cut.last, Action::refuse) << capture << " " << n;
        EXPECT_EQ(cut.hs.refusal(), HandshakeRefusal::bad_handshake) << capture << " " << n;
      } else {
        EXPECT_TRUE(cut.last == Action::refuse || cut.last == Action::authenticated || cut.last == Action::read_more)
            << capture << " " << n;
      }
    }
  }
}

TEST(ServerHandshake, OversizeIsRefusedFromTheHeader) {
  Driven r = greeted();
  std::vector<uint8_t> header(kHeaderSize);
  write_frame_header(header.data(), kMaxLoginPacket + 1, 1);
  r.follow(r.hs.feed(header));
  EXPECT_EQ(r.hs.refusal(), HandshakeRefusal::packet_too_large);

  Driven at_limit = greeted();
  write_frame_header(header.data(), kMaxLoginPacket, 1);
  at_limit.follow(at_limit.hs.feed(header));
  EXPECT_EQ(at_limit.last, Action::read_more);

  ServerHandshake early(&next_nonce);  // before the greeting: at most one packet
  EXPECT_EQ(early.feed(std::vector<uint8_t>(kHeaderSize + kMaxLoginPacket, 0)), Action::read_more);
  EXPECT_EQ(early.feed(std::vector<uint8_t>(1, 0)), Action::refuse);
  EXPECT_EQ(early.refusal(), HandshakeRefusal::packet_too_large);
  EXPECT_EQ(early.next_seq(), 0);
}

TEST(ServerHandshake, InputAfterARefusalIsIgnored) {
  Driven r = greeted();
  r.follow(r.hs.feed(framed(from_hex("01"), 1)));
  ASSERT_EQ(r.hs.state(), State::refused);
  EXPECT_EQ(r.hs.feed(client_frames("mariadb_cli_login.hex", 1)[0]), Action::read_more);
  EXPECT_EQ(r.hs.state(), State::refused);
}

}  // namespace
}  // namespace camproxy::protocol
