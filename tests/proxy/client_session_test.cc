// ClientSession on a real libuv loop over a socketpair, built with a fake SessionEnv: the login
// phase up to the point where a database connection would be needed.
#include "proxy/session/client_session.h"

#include <gtest/gtest.h>

#include "protocol/constants.h"
#include "protocol/handshake_v10.h"
#include "protocol/ok_err_eof.h"
#include "tests/proxy/session_test_support.h"

namespace camproxy::proxy::testing {
namespace {

namespace cap = protocol::cap;

class ClientSessionTest : public SessionTest {
 protected:
  void expect_closed() {
    run_until([&] { return app().ended() && env_->closed_ == 1; });
    EXPECT_TRUE(app().ended());
    EXPECT_EQ(env_->closed_, 1);
    EXPECT_EQ(env_->open_, 0);  // counted out again
  }
};

TEST_F(ClientSessionTest, GreetsThenRefusesAnUnmappedUserInSequence) {
  pool_env_->config_.db_user.clear();  // an account map instead of pass-through
  pool_env_->config_.accounts = {{"app", "ReadOnly"}};
  start_session();
  const auto greeting = next_packet();
  ASSERT_EQ(greeting.seq, 0);
  auto hs = protocol::decode_handshake_v10(greeting.payload);
  ASSERT_TRUE(hs.has_value());
  EXPECT_EQ(hs->server_version, "8.0.36");
  EXPECT_EQ(hs->connection_id, 1U);
  EXPECT_EQ(hs->capabilities & cap::kSsl, 0U);   // no certificate in this environment
  app_send(1, login_payload({}, 0, "camtest"));  // not the mapped "app"
  const auto err = next_packet();
  EXPECT_EQ(err.seq, 2);
  EXPECT_EQ(err_code(err), 1045);
  expect_closed();
}

TEST_F(ClientSessionTest, TooManyClientsGetTheErrInPlaceOfTheGreeting) {
  env_->admit_ = false;
  start_session();
  const auto err = next_packet();
  EXPECT_EQ(err.seq, 0);
  EXPECT_EQ(err_code(err), protocol::kErConCount);
  expect_closed();
}

TEST_F(ClientSessionTest, ASilentClientHitsTheHandshakeDeadline) {
  pool_env_->config_.handshake_timeout = std::chrono::milliseconds(50);
  start_session();
  EXPECT_EQ(next_packet().seq, 0);  // the greeting
  const auto err = next_packet();
  EXPECT_EQ(err.seq, 1);
  EXPECT_EQ(err_code(err), protocol::kErHandshake);
  expect_closed();
}

TEST_F(ClientSessionTest, ABadFirstPacketIsRefused) {
  start_session();
  next_packet();
  app_send(1, std::vector<uint8_t>{static_cast<uint8_t>(protocol::Command::quit)});
  const auto err = next_packet();
  EXPECT_EQ(err.seq, 2);
  EXPECT_EQ(err_code(err), protocol::kErHandshake);
  expect_closed();
}

TEST_F(ClientSessionTest, AnSslRequestWithoutACertificateIsRefused) {
  start_session();
  next_packet();
  app_send(1, ssl_request_payload());
  const auto err = next_packet();
  EXPECT_EQ(err.seq, 2);
  auto decoded = protocol::decode_err(err.payload, cap::kProtocol41);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->message, make_client_error(ClientError::tls_not_offered, {}).message);
  expect_closed();
}

}  // namespace
}  // namespace camproxy::proxy::testing
