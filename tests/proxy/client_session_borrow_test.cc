// ClientSession at --pool-max (session_borrow.cc): its login waits in the borrow queue after
// the client authenticated, gets error 9008 after --pool-borrow-timeout and not before, dials as
// soon as a slot frees, and leaves the queue when its client goes away.
#include <gtest/gtest.h>

#include <string>

#include "proxy/session/client_session.h"
#include "tests/proxy/pool_test_support.h"
#include "tests/proxy/scripted_server.h"
#include "tests/proxy/session_test_support.h"

namespace camproxy::proxy::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class ClientSessionBorrowTest : public SessionTest {
 protected:
  // The target's one connection is held by another session; logins wait at most `timeout`.
  void full_pool(milliseconds timeout) {
    pool_env_->config_.pool_max = 1;
    pool_env_->config_.pool_borrow_timeout = timeout;
    pool_env_->budget().set_limits(1, 10);
    pool_->count_opened(kUser);
  }
  ConnectionBudget::Stats budget() { return pool_env_->budget().stats(); }
  // The application's login; camproxy's answer is awaited by the caller.
  void send_login() {
    EXPECT_EQ(next_packet().seq, 0);  // the greeting
    app_send(1, login_payload("shop"));
    EXPECT_TRUE(run_until([&] { return budget().waiting == 1; })) << "the login did not join the queue";
  }
};

TEST_F(ClientSessionBorrowTest, ALoginWaitingLongerThanTheBorrowTimeoutGets9008AfterItNotBefore) {
  full_pool(milliseconds(400));
  start_session();
  const auto started = Clock::now();
  send_login();
  run_for(250);  // longer than --handshake-timeout would matter here; the borrow timeout governs
  EXPECT_FALSE(app().has_unread()) << "answered before the borrow timeout";
  const ReceivedPacket reply = next_packet();
  const auto waited = Clock::now() - started;
  ASSERT_EQ(err_code(reply), 9008);
  EXPECT_GE(waited, milliseconds(400));
  EXPECT_LT(waited, milliseconds(2000));
  const std::string text(reply.payload.begin(), reply.payload.end());
  EXPECT_NE(text.find("no database connection free after waiting 0.4 s (--pool-max 1 in use)"), std::string::npos)
      << text;
  EXPECT_EQ(budget().waiting, 0U);
  pool_->count_closed(kUser);
  EXPECT_EQ(budget().used, 0U);
}

TEST_F(ClientSessionBorrowTest, AWaitingLoginDialsAsSoonAsASlotFrees) {
  auto& srv = own(std::make_unique<ScriptedServer>(
      loop(), Script{send(greeting_payload(make_greeting())), expect_any("login"), send(ok_payload()), stall()}));
  pool_env_->config_.upstream.port = srv.port();
  full_pool(milliseconds(30000));
  start_session();
  send_login();
  pool_->count_closed(kUser);  // the other session's connection closes
  const ReceivedPacket reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply);
  EXPECT_EQ(budget().used, 1U);  // the slot passed to this session's connection
  EXPECT_EQ(budget().waiting, 0U);
}

TEST_F(ClientSessionBorrowTest, AClientThatGoesAwayWhileWaitingLeavesTheQueue) {
  full_pool(milliseconds(30000));
  start_session();
  send_login();
  app().close();
  EXPECT_TRUE(run_until([&] { return budget().waiting == 0; })) << "the queue still holds the client";
  pool_->count_closed(kUser);
  EXPECT_EQ(budget().used, 0U);  // no slot granted to the session that left
}

}  // namespace
}  // namespace camproxy::proxy::testing
