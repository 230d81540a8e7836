// UpstreamConn against a scripted server on a real loop: every auth path camproxy speaks toward
// the database, the ways a dial fails, and what a logged-in connection does.
#include "proxy/pool/upstream_conn.h"

#include <gtest/gtest.h>

#include "protocol/constants.h"
#include "tests/proxy/upstream_conn_fixture.h"

namespace camproxy::proxy {
namespace {

using namespace testing;  // NOLINT: the harness's step builders read as a script

TEST_F(UpstreamConnTest, LogsInWithNativePassword) {
  auto& server = serve({
      send(greeting_payload(make_greeting(protocol::kNativePassword))),
      expect_login(protocol::kNativePassword, as_string(protocol::native_scramble(kPasswordBytes, kGreetingNonce))),
      send(ok_payload()),
      stall(),
  });
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  EXPECT_TRUE(server.finished()) << server.error();
  EXPECT_EQ(owner_.greetings, 1);
  EXPECT_EQ(owner_.ok, ok_payload());
  EXPECT_TRUE(conn_->at_rest());
  EXPECT_FALSE(conn_->tls_on());
  EXPECT_EQ(conn_->thread_id(), 42u);
  EXPECT_EQ(conn_->greeting().server_version, "8.0.36-scripted");
  EXPECT_NE(conn_->capabilities() & protocol::cap::kProtocol41, 0u);
  EXPECT_EQ(server.received()[0].seq, 1) << "the response follows the greeting's seq 0";
}

TEST_F(UpstreamConnTest, FollowsAnAuthSwitchToNativePassword) {
  const auto nonce = switch_nonce();
  auto& server = serve({
      send(greeting_payload(make_greeting(protocol::kCachingSha2Password))),
      expect_login(protocol::kCachingSha2Password, as_string(protocol::sha2_scramble(kPasswordBytes, kGreetingNonce))),
      send(auth_switch_payload(protocol::kNativePassword, nonce)),
      expect_exactly("native scramble over the new nonce",
                     [&] {
                       auto s = protocol::native_scramble(kPasswordBytes, nonce);
                       return std::vector<uint8_t>(s.begin(), s.end());
                     }()),
      send(ok_payload()),
      stall(),
  });
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  EXPECT_TRUE(server.finished()) << server.error();
}

TEST_F(UpstreamConnTest, CachingSha2FastAuth) {
  auto& server = serve({
      send(greeting_payload(make_greeting(protocol::kCachingSha2Password))),
      expect_login(protocol::kCachingSha2Password, as_string(protocol::sha2_scramble(kPasswordBytes, kGreetingNonce))),
      send(auth_more_data_payload(std::vector<uint8_t>{0x03})),
      send(ok_payload()),
      stall(),
  });
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  EXPECT_EQ(server.received().size(), 1u) << "nothing sent after fast auth";
}

// Issue 17: the token itself goes only to a database camproxy has authenticated. A full
// authentication over TLS that checked no certificate is refused before anything is sent.
TEST_F(UpstreamConnTest, CachingSha2FullAuthOverUnverifiedTlsIsRefused) {
  auto& server = serve({
      send(greeting_payload(make_greeting(protocol::kCachingSha2Password, /*offer_tls=*/true))),
      expect_ssl_request(),
      start_tls(server_tls_.get()),
      expect_login(protocol::kCachingSha2Password, as_string(protocol::sha2_scramble(kPasswordBytes, kGreetingNonce))),
      send(auth_more_data_payload(std::vector<uint8_t>{0x04})),
      stall(),
  });
  const uint64_t tls_failures = dial_failures(DialFailure::tls);
  dial(server.port(), UpstreamTlsMode::insecure_preferred);
  auto f = failure();
  ASSERT_TRUE(f) << server.error();
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::unsafe_auth);
  EXPECT_NE(f->message.find("--upstream-tls verify-identity"), std::string::npos) << f->message;
  run_for(30);
  EXPECT_EQ(server.received().size(), 2u) << "nothing after the login: " << server.error();
  EXPECT_EQ(dial_failures(DialFailure::tls), tls_failures + 1) << "counted as a TLS failure";
}

TEST_F(UpstreamConnTest, CachingSha2FullAuthWithoutTlsUsesTheOperatorsRsaKey) {
  auto& server = serve({
      send(greeting_payload(make_greeting(protocol::kCachingSha2Password))),
      expect_login(protocol::kCachingSha2Password, as_string(protocol::sha2_scramble(kPasswordBytes, kGreetingNonce))),
      send(auth_more_data_payload(std::vector<uint8_t>{0x04})),
      expect_any("the encrypted password, without asking for the server's key"),
      send(ok_payload()),
      stall(),
  });
  const auto pem = rsa_->public_pem();
  config_.upstream_rsa_public_key.assign(pem.begin(), pem.end());
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  ASSERT_EQ(server.received().size(), 2u);
  EXPECT_EQ(rsa_->decrypt_password(server.received()[1].payload, kGreetingNonce), std::string(kPassword) + '\0');
}

TEST_F(UpstreamConnTest, CachingSha2FullAuthWithoutTlsOrKeyIsRefused) {
  auto& server = serve({
      send(greeting_payload(make_greeting(protocol::kCachingSha2Password))),
      expect_any("HandshakeResponse41"),
      send(auth_more_data_payload(std::vector<uint8_t>{0x04})),
      stall(),
  });
  dial(server.port());
  auto f = failure();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::unsafe_auth);
  EXPECT_NE(f->message.find("--upstream-rsa-key-file"), std::string::npos) << f->message;
  run_for(30);
  EXPECT_EQ(server.received().size(), 1u) << "no key request, no password";
}

TEST_F(UpstreamConnTest, Sha256PasswordEncryptsWithTheOperatorsKey) {
  const auto nonce = switch_nonce();
  auto& server = serve({
      send(greeting_payload(make_greeting(protocol::kNativePassword))),
      expect_any("HandshakeResponse41"),
      send(auth_switch_payload(protocol::kSha256Password, nonce)),
      expect_any("the encrypted password"),
      send(ok_payload()),
      stall(),
  });
  const auto pem = rsa_->public_pem();
  config_.upstream_rsa_public_key.assign(pem.begin(), pem.end());
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  ASSERT_EQ(server.received().size(), 2u);
  EXPECT_EQ(rsa_->decrypt_password(server.received()[1].payload, nonce), std::string(kPassword) + '\0');
}

TEST_F(UpstreamConnTest, ClearPasswordIsRefusedWithoutVerifiedTls) {
  auto& server = serve({
      send(greeting_payload(make_greeting(protocol::kNativePassword))),
      expect_any("HandshakeResponse41"),
      send(auth_switch_payload(protocol::kClearPassword, {})),
      stall(),
  });
  dial(server.port());
  auto f = failure();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::unsafe_auth);
  EXPECT_EQ(f->message.find(kPassword), std::string::npos);
  run_for(30);
  EXPECT_EQ(server.received().size(), 1u) << "the password never goes out in clear";
  EXPECT_EQ(owner_.failures, 1);
  EXPECT_EQ(owner_.ready, 0);
}

TEST_F(UpstreamConnTest, AnErrAtLoginIsAServerError) {
  auto& server = serve({
      send(greeting_payload(make_greeting())),
      expect_any("HandshakeResponse41"),
      send(err_payload(1045, "28000", "Access denied for user 'app'")),
      stall(),
  });
  const uint64_t auth_failures = dial_failures(DialFailure::auth);
  dial(server.port());
  auto f = failure();
  ASSERT_TRUE(f) << server.error();
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::server_error);
  EXPECT_EQ(f->code, 1045);
  EXPECT_EQ(f->sql_state, "28000");
  EXPECT_EQ(f->message, "Access denied for user 'app'");
  EXPECT_EQ(owner_.ready, 0);
  EXPECT_EQ(dial_failures(DialFailure::auth), auth_failures + 1);
}

TEST_F(UpstreamConnTest, AnErrGreetingIsAServerErrorBeforeAnyGreeting) {
  auto& server = serve({send(err_payload(1040, "08004", "Too many connections")), stall()});
  dial(server.port());
  auto f = failure();
  ASSERT_TRUE(f) << server.error();
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::server_error);
  EXPECT_EQ(f->code, 1040);
  EXPECT_EQ(owner_.greetings, 0);
  EXPECT_TRUE(server.received().empty());
}

TEST_F(UpstreamConnTest, ARefusedConnectIsKindConnect) {
  const uint64_t connect_failures = dial_failures(DialFailure::connect);
  dial(unused_tcp_port());
  auto f = failure();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::connect);
  EXPECT_EQ(owner_.failures, 1);
  EXPECT_EQ(dial_failures(DialFailure::connect), connect_failures + 1);
}

TEST_F(UpstreamConnTest, NoGreetingWithinTheConnectTimeoutIsKindTimeout) {
  auto& server = serve({stall()});
  config_.connect_timeout = std::chrono::milliseconds(100);
  const uint64_t start = uv_now(loop());
  const uint64_t timeouts = dial_failures(DialFailure::timeout);
  dial(server.port());
  auto f = failure();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::timeout);
  EXPECT_GE(uv_now(loop()) - start, 100u);
  EXPECT_EQ(dial_failures(DialFailure::timeout), timeouts + 1);
  EXPECT_TRUE(server.accepted());
}

TEST_F(UpstreamConnTest, NoAnswerToTheLoginWithinTheTimeoutIsKindTimeout) {
  auto& server = serve({send(greeting_payload(make_greeting())), expect_any("HandshakeResponse41"), stall()});
  config_.connect_timeout = std::chrono::milliseconds(150);
  dial(server.port());
  auto f = failure();
  ASSERT_TRUE(f) << server.error();
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::timeout);
  // The response was written before the deadline; a slow (sanitizer) run may read it only after.
  EXPECT_TRUE(run_until([&] { return server.finished(); }));
}

TEST_F(UpstreamConnTest, TheServerClosingMidLoginIsKindClosed) {
  auto& server =
      serve({send(greeting_payload(make_greeting())), expect_any("HandshakeResponse41"), close_connection()});
  dial(server.port());
  auto f = failure();
  ASSERT_TRUE(f) << server.error();
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::closed);
  EXPECT_EQ(owner_.failures, 1);
}

TEST_F(UpstreamConnTest, RequiredTlsWithAServerWithoutTlsFailsBeforeSendingAnything) {
  auto& server = serve({send(greeting_payload(make_greeting())), stall()});
  dial(server.port(), UpstreamTlsMode::insecure_required);
  auto f = failure();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::tls);
  EXPECT_EQ(owner_.greetings, 0);
  run_for(30);
  EXPECT_TRUE(server.received().empty()) << "no login in clear after a downgraded greeting";
}

TEST_F(UpstreamConnTest, PreferredTlsWithAServerWithoutTlsLogsInInClear) {
  auto& server = serve({
      send(greeting_payload(make_greeting())),
      expect_login(protocol::kNativePassword, as_string(protocol::native_scramble(kPasswordBytes, kGreetingNonce))),
      send(ok_payload()),
      stall(),
  });
  dial(server.port(), UpstreamTlsMode::insecure_preferred);
  ASSERT_TRUE(logged_in()) << server.error();
  EXPECT_FALSE(conn_->tls_on());
  EXPECT_EQ(conn_->capabilities() & protocol::cap::kSsl, 0u);
}

TEST_F(UpstreamConnTest, VerifyCaRefusesAnUntrustedCertificate) {
  auto& server = serve({send(greeting_payload(make_greeting(protocol::kNativePassword, true))), expect_ssl_request(),
                        start_tls(server_tls_.get()), stall()});
  dial(server.port(), UpstreamTlsMode::verify_ca);
  auto f = failure();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::tls);
  EXPECT_NE(f->message.find("certificate"), std::string::npos) << f->message;
}

TEST_F(UpstreamConnTest, ClosingWhileResolvingEndsQuietly) {
  config_.upstream = {"localhost", unused_tcp_port()};
  conn_ = UpstreamConn::create(loop(), {&config_, nullptr}, &owner_);
  conn_->connect();
  conn_->close();
  conn_ = nullptr;
  EXPECT_TRUE(run_until_idle());
  EXPECT_EQ(owner_.failures + owner_.greetings + owner_.ready, 0) << "no callback after close()";
  EXPECT_EQ(open_connections(), open_before_) << "deleted once the resolve came back";
}

TEST_F(UpstreamConnTest, ClosingMidLoginEndsQuietly) {
  auto& server = serve({send(greeting_payload(make_greeting())), expect_any("HandshakeResponse41"), stall()});
  dial(server.port());
  ASSERT_TRUE(run_until([&] { return server.finished(); })) << server.error();
  conn_->close();
  conn_ = nullptr;
  ASSERT_TRUE(run_until([&] { return server.client_gone(); }));
  EXPECT_EQ(open_connections(), open_before_);
  EXPECT_EQ(owner_.failures + owner_.ready, 0) << "no callback after close()";
}

}  // namespace
}  // namespace camproxy::proxy
