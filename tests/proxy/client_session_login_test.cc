// ClientSession logins that dial the database (the pool is empty): the upstream login with the
// CAM token of the session's token source, and an application that logs in over TLS. A scripted
// server on loopback plays the database; the test plays the application over a socketpair.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/auth_plugins.h"
#include "protocol/constants.h"
#include "protocol/handshake_v10.h"
#include "proxy/net/tls.h"
#include "tests/proxy/scripted_server.h"
#include "tests/proxy/session_test_support.h"
#include "tests/proxy/upstream_conn_fixture.h"

namespace camproxy::proxy::testing {
namespace {

namespace cap = protocol::cap;

class ClientSessionLoginTest : public SessionTest {
 protected:
  // The database the session dials.
  ScriptedServer& database(Script script) {
    auto& srv = own(std::make_unique<ScriptedServer>(loop(), std::move(script)));
    pool_env_->config_.upstream.port = srv.port();
    return srv;
  }
  // The token source's token, the password the database expects.
  std::vector<uint8_t> token() const {
    auto bytes = env_->tokens_.token_->password->bytes();
    return {bytes.begin(), bytes.end()};
  }
};

// spec §3.1, §3.4: no pooled connection, so the session dials and logs in as the account with
// its current CAM token: scrambled for the greeting's caching_sha2_password, then for the
// mysql_native_password the server switches to. The application gets the database's own OK,
// renumbered after its login, and asked the token source for nothing more.
TEST_F(ClientSessionLoginTest, AFreshDialLogsInWithTheCamToken) {
  const auto nonce = switch_nonce();
  // The server's sql_mode shows in its OK: camproxy's own OK would not say so.
  const uint16_t status = protocol::status::kAutocommit | protocol::status::kNoBackslashEscapes;
  auto& srv = database({
      send(greeting_payload(make_greeting(protocol::kCachingSha2Password))),
      expect_login(protocol::kCachingSha2Password, as_string(protocol::sha2_scramble(token(), kGreetingNonce))),
      send(auth_switch_payload(protocol::kNativePassword, nonce)),
      expect_exactly("the token, scrambled with the new nonce",
                     [&] {
                       auto s = protocol::native_scramble(token(), nonce);
                       return std::vector<uint8_t>(s.begin(), s.end());
                     }()),
      send(ok_payload(status)),
      stall(),
  });
  start_session();
  const auto ok = app_login("");
  EXPECT_EQ(ok.seq, 2);
  EXPECT_EQ(ok.payload, ok_payload(status)) << err_code(ok) << " " << srv.error();
  EXPECT_TRUE(srv.finished()) << srv.error();
  EXPECT_TRUE(env_->tokens_.requests.empty()) << "the current token was usable";
  EXPECT_TRUE(env_->token_waiters_.empty());
}

// The handshake deadline is the application's time, from camproxy's greeting on. The first
// session (no database greeting mirrored yet) waits for the database's greeting before it can
// greet; that wait has the dial's deadline, --connect-timeout, and is not the client's fault.
TEST_F(ClientSessionLoginTest, TheFirstSessionsWaitForTheDatabaseIsNotTheClientsHandshakeTime) {
  env_->profile_ = nullptr;
  pool_env_->config_.handshake_timeout = std::chrono::milliseconds(50);
  pool_env_->config_.connect_timeout = std::chrono::milliseconds(400);
  auto& srv = database({stall()});  // accepts, never greets
  start_session();
  run_for(200);
  EXPECT_FALSE(app().has_unread()) << "no ERR 1043 while camproxy itself waits for the database";
  const auto err = next_packet();
  EXPECT_EQ(err_code(err), 9001) << "the dial's timeout ends it";
  EXPECT_TRUE(run_until([&] { return app().ended(); }));
  EXPECT_TRUE(srv.accepted());
}

// spec §2.3: the greeting offers TLS (the environment has a certificate), the application sends
// an SSLRequest and its HandshakeResponse41 over TLS, and after the login its query reaches the
// database and the answer comes back, all over TLS.
TEST_F(ClientSessionLoginTest, AClientLogsInOverTlsThenItsQueryRelays) {
  std::string error;
  SslCtxPtr server_ctx = make_client_facing_ctx("", "", error);  // a certificate made up for the process
  ASSERT_TRUE(server_ctx) << error;
  SslCtxPtr app_ctx = make_upstream_ctx(UpstreamTlsMode::insecure_required, "", error);  // encrypts, checks nothing
  ASSERT_TRUE(app_ctx) << error;
  env_->client_tls_ = server_ctx.get();
  auto& srv = database({
      send(greeting_payload(make_greeting())),
      expect_login(protocol::kNativePassword, as_string(protocol::native_scramble(token(), kGreetingNonce))),
      send(ok_payload()),
      expect_exactly("the application's query", {0x03, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1'}),
      send(ok_payload(protocol::status::kAutocommit)),
      stall(),
  });
  start_session();
  const auto greeting = next_packet();
  auto hs = protocol::decode_handshake_v10(greeting.payload);
  ASSERT_TRUE(hs.has_value());
  EXPECT_NE(hs->capabilities & cap::kSsl, 0U) << "TLS offered";
  app_send(1, ssl_request_payload());
  app().start_tls(app_ctx.get());
  ASSERT_TRUE(run_until([&] { return app().tls_ready() || app().ended(); }));
  ASSERT_TRUE(app().tls_ready()) << "the session answered the TLS handshake";
  app_send(2, login_payload("", cap::kSsl));
  const auto ok = next_packet();
  EXPECT_TRUE(is_ok(ok)) << err_code(ok) << " " << srv.error();
  EXPECT_EQ(ok.seq, 3);
  app_command(protocol::Command::query, "SELECT 1");
  const auto reply = next_packet();
  EXPECT_EQ(reply.seq, 1);
  EXPECT_EQ(reply.payload, ok_payload(protocol::status::kAutocommit));
  EXPECT_TRUE(srv.finished()) << srv.error();
}

}  // namespace
}  // namespace camproxy::proxy::testing
