// ClientSession's idle timeout (issue 16) on a real loop: a scripted database behind a session
// dialed for its client; the client sets its session's wait_timeout and goes idle.
#include <gtest/gtest.h>

#include <chrono>

#include "protocol/constants.h"
#include "proxy/session/client_session.h"
#include "tests/proxy/pool_test_support.h"
#include "tests/proxy/scripted_server.h"
#include "tests/proxy/session_test_support.h"

namespace camproxy::proxy::testing {
namespace {

using Clock = std::chrono::steady_clock;
using protocol::Command;

constexpr std::string_view kSetTimeout = "SET SESSION wait_timeout = 1";

class ClientSessionIdleTest : public SessionTest {
 protected:
  // The database the session dials: the login, then `rest`.
  ScriptedServer& database(Script rest) {
    Script s = {send(greeting_payload(make_greeting())), expect_any("login"), send(ok_payload())};
    s.insert(s.end(), rest.begin(), rest.end());
    auto& srv = own(std::make_unique<ScriptedServer>(loop(), std::move(s)));
    pool_env_->config_.upstream.port = srv.port();
    return srv;
  }

  // Logs in and runs `sql`, each answered with an OK.
  void login_and_run(std::initializer_list<std::string_view> statements) {
    start_session();
    ASSERT_TRUE(is_ok(app_login("")));
    for (auto sql : statements) {
      app_command(Command::query, sql);
      ASSERT_TRUE(is_ok(next_packet())) << sql;
    }
  }

  static long long ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
  }
};

TEST_F(ClientSessionIdleTest, ASessionIdlePastTheWaitTimeoutItSetIsClosedWithoutAWord) {
  auto& srv = database({expect_command(Command::query, kSetTimeout), send(ok_payload()), stall()});
  login_and_run({kSetTimeout});
  const auto idle_from = Clock::now();
  ASSERT_TRUE(run_until([&] { return app().ended(); }, 3000)) << srv.error();
  EXPECT_GE(ms_since(idle_from), 900);
  EXPECT_LT(ms_since(idle_from), 1500);
  EXPECT_FALSE(app().has_unread()) << "MariaDB 10.11 sends nothing: the connection is reset";
  EXPECT_TRUE(run_until([&] { return env_->closed_ == 1; }));
}

TEST_F(ClientSessionIdleTest, ACommandInFlightIsNotCutByTheTimeout) {
  auto& srv = database({expect_command(Command::query, kSetTimeout), send(ok_payload()),
                        expect_command(Command::query, "SELECT SLEEP(2)"), stall()});
  login_and_run({kSetTimeout});
  app_command(Command::query, "SELECT SLEEP(2)");
  run_for(1300);  // asserting that it does NOT close: past the 1 s timeout, the reply still due
  EXPECT_FALSE(app().ended()) << srv.error();
  EXPECT_EQ(env_->closed_, 0);
}

TEST_F(ClientSessionIdleTest, WaitTimeoutSetBackToDefaultNoLongerCloses) {
  auto& srv = database({expect_command(Command::query, kSetTimeout), send(ok_payload()),
                        expect_command(Command::query, "SET wait_timeout=DEFAULT"), send(ok_payload()), stall()});
  login_and_run({kSetTimeout, "SET wait_timeout=DEFAULT"});
  run_for(1300);  // asserting that it does NOT close
  EXPECT_FALSE(app().ended()) << srv.error();
}

// The server's own wait_timeout ends the database connection a moment before camproxy's timer:
// that is the client's timeout, not a loss to hide with a reconnect.
TEST_F(ClientSessionIdleTest, TheDatabaseClosingAtTheClientsTimeoutClosesTheClient) {
  auto& srv = database({expect_command(Command::query, kSetTimeout), send(ok_payload()), stall()});
  login_and_run({kSetTimeout});
  const auto idle_from = Clock::now();
  run_for(700);
  srv.close();
  ASSERT_TRUE(run_until([&] { return app().ended(); }, 200)) << "closed at once, not reconnected";
  EXPECT_LT(ms_since(idle_from), 1000);
  EXPECT_FALSE(app().has_unread());
}

// A value camproxy does not evaluate is asked of the database once the session is idle; the
// answer arms the timer.
TEST_F(ClientSessionIdleTest, AWaitTimeoutSetWithAnExpressionIsAskedOfTheDatabase) {
  constexpr std::string_view kExpression = "SET SESSION wait_timeout = 2*1 - 1";
  Script rest = {expect_command(Command::query, kExpression), send(ok_payload()),
                 expect_command(Command::query, "SELECT @@session.wait_timeout")};
  for (auto& step : resultset({"1"})) rest.push_back(std::move(step));
  rest.push_back(stall());
  auto& srv = database(std::move(rest));
  login_and_run({kExpression});
  const auto idle_from = Clock::now();
  ASSERT_TRUE(run_until([&] { return app().ended(); }, 3000)) << srv.error();
  EXPECT_GE(ms_since(idle_from), 900);
  EXPECT_TRUE(srv.finished()) << srv.error();
}

// MariaDB 10.11 gives a CLIENT_INTERACTIVE login wait_timeout = interactive_timeout: camproxy
// sets it on the session's database connection before the client's first command, and follows it.
TEST_F(ClientSessionIdleTest, AnInteractiveLoginGetsInteractiveTimeout) {
  Script rest = {expect_command(Command::query, "SET SESSION wait_timeout = @@global.interactive_timeout"),
                 send(ok_payload()), expect_command(Command::query, "SELECT @@session.wait_timeout")};
  for (auto& step : resultset({"1"})) rest.push_back(std::move(step));
  rest.push_back(expect_command(Command::query, "SELECT 1"));
  rest.push_back(send(ok_payload()));
  rest.push_back(stall());
  auto& srv = database(std::move(rest));
  start_session();
  ASSERT_TRUE(is_ok(app_login("", protocol::cap::kInteractive)));
  app_command(Command::query, "SELECT 1");
  ASSERT_TRUE(is_ok(next_packet())) << srv.error();
  const auto idle_from = Clock::now();
  ASSERT_TRUE(run_until([&] { return app().ended(); }, 3000)) << srv.error();
  EXPECT_GE(ms_since(idle_from), 900);
}

}  // namespace
}  // namespace camproxy::proxy::testing
