// ClientSession with a real UpstreamPool over a fake PoolEnv, scripted MySQL servers on loopback
// playing the database and the test playing the application over a socketpair: a login served
// by a pooled connection (its checkout), the relay both ways, a client's COM_RESET_CONNECTION
// and COM_CHANGE_USER (reset, or COM_CHANGE_USER with the token where the reset is refused),
// the transparent reconnect, KILL between two sessions and the process draining. The pool's
// connections are warmed by the test (logged in with the token, given back, reset); the
// session's token source holds the same token.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string_view>
#include <vector>

#include "../protocol/test_util.h"
#include "auth/secret.h"
#include "protocol/auth_plugins.h"
#include "protocol/constants.h"
#include "protocol/handshake_v10.h"
#include "proxy/ops/metrics.h"
#include "proxy/session/client_session.h"
#include "tests/proxy/pool_test_support.h"
#include "tests/proxy/scripted_server.h"
#include "tests/proxy/session_test_support.h"

namespace camproxy::proxy::testing {
namespace {

namespace cap = protocol::cap;
using Clock = std::chrono::steady_clock;
using protocol::test::from_hex;

// A connection's life up to idle in the pool: login, then the cleanup of its return: the reset,
// the look (which sees `schema`) and the next client's collation (45, by its id: no names are
// learnt here).
Script warmed(const std::string& schema, uint32_t thread_id) {
  protocol::HandshakeV10 greeting = make_greeting();
  greeting.connection_id = thread_id;
  Script s = {send(greeting_payload(greeting)),
              expect_any("login"),
              send(ok_payload()),
              expect_command(protocol::Command::reset_connection),
              send(ok_payload()),
              expect_command(protocol::Command::query, "SELECT DATABASE()")};
  for (auto& step : resultset({schema, "28800", "0", "utf8mb4_general_ci"})) s.push_back(std::move(step));
  s.push_back(expect_command(protocol::Command::query, "SET character_set_client"));
  s.push_back(send(ok_payload()));
  return s;
}

// The application's COM_CHANGE_USER to kUser with `schema` (spec §2.7): no auth response (camproxy
// checks none), collation 45, mysql_native_password.
std::vector<uint8_t> change_user_payload(std::string_view schema) {
  std::vector<uint8_t> p = {static_cast<uint8_t>(protocol::Command::change_user)};
  // One byte at a time: GCC 12 sees a bogus -Warray-bounds in vector::insert of a string_view here.
  const auto add = [&p](std::string_view text) {
    for (char c : text) p.push_back(static_cast<uint8_t>(c));
    p.push_back(0);
  };
  add(kUser);
  p.push_back(0);  // auth response length 0
  add(schema);
  p.push_back(45);  // collation, int<2>
  p.push_back(0);
  add(protocol::kNativePassword);
  return p;
}

class ClientSessionPoolTest : public SessionTest, private UpstreamConn::Owner {
 protected:
  // A scripted server whose connection the test logs in and gives to the pool; `rest` follows
  // the warm-up (the checkout and what the session does with it). Returns once it is idle.
  // `caps`: the pool key's (the clients it serves).
  ScriptedServer& pooled(const std::string& schema, Script rest, bool first = true, uint32_t thread_id = 42,
                         uint32_t caps = kClientCaps) {
    Script s = warmed(schema, thread_id);
    if (first) {  // the pool's first clean connection reads the server's wait_timeout
      s.push_back(expect_command(protocol::Command::query, "SELECT @@session.wait_timeout"));
      for (auto& step : resultset({"28800"})) s.push_back(std::move(step));
    }
    s.insert(s.end(), rest.begin(), rest.end());
    auto& srv = own(std::make_unique<ScriptedServer>(loop(), std::move(s)));
    configs_.push_back(pool_env_->config_);
    configs_.back().upstream.port = srv.port();
    UpstreamConn* u = UpstreamConn::create(loop(), {&configs_.back(), nullptr}, this);
    ready_ = false;
    u->connect();
    EXPECT_TRUE(run_until([&] { return ready_; })) << srv.error();
    const PoolKey key{std::string(kUser), caps & cap::kPoolKey};
    const int64_t idle_before = idle_count();
    pool_->give_back(PooledConn{.conn = u,
                                .key = key,
                                .profile = {},
                                .created = Clock::now(),
                                .idle_since = Clock::now(),
                                .login_collation = 0,
                                .last_look = std::nullopt},
                     45, true);
    EXPECT_TRUE(run_until([&] { return idle_count() > idle_before; })) << srv.error();
    return srv;
  }
  static int64_t idle_count() { return process_metrics().gauge(MetricId::upstream_connections_idle).value(); }

 private:
  void on_upstream_greeting(UpstreamConn& u) override {
    UpstreamLogin login;
    login.user = std::string(kUser);
    login.password = pool_env_->token_->password;
    login.capabilities = kClientCaps;
    u.login(std::move(login));
  }
  void on_upstream_ready(UpstreamConn&, std::span<const uint8_t>) override { ready_ = true; }
  void on_upstream_failed(UpstreamConn&, const UpstreamFailure& f) override { ADD_FAILURE() << f.message; }
  void on_upstream_data(UpstreamConn&, std::span<const uint8_t>) override {}
  void on_upstream_drained(UpstreamConn&) override {}
  void on_upstream_commands_done(UpstreamConn&, const std::vector<InternalResult>&) override {}

  std::deque<TargetConfig> configs_;
  bool ready_ = false;
};

TEST_F(ClientSessionPoolTest, APooledConnectionIsFixedUpToTheClientsSchemaThenRelaysBothWays) {
  auto& srv = pooled("app", {expect_command(protocol::Command::init_db, "shop"), send(ok_payload()),
                             expect_command(protocol::Command::query, "SELECT 1"), send(ok_payload(0x0002)), stall()});
  start_session();
  const auto ok = app_login("shop");
  EXPECT_TRUE(is_ok(ok)) << err_code(ok);
  EXPECT_EQ(ok.seq, 2);
  app_command(protocol::Command::query, "SELECT 1");
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply));
  EXPECT_EQ(reply.seq, 1);
  EXPECT_TRUE(srv.finished()) << srv.error();
}

TEST_F(ClientSessionPoolTest, ASchemaTheServerRefusesAtCheckoutIsTheClientsError) {
  auto& srv = pooled("app", {expect_command(protocol::Command::init_db, "nope"),
                             send(err_payload(1049, "42000", "Unknown database 'nope'")), stall()});
  start_session();
  const auto err = app_login("nope");
  EXPECT_EQ(err_code(err), 1049);
  EXPECT_EQ(err.seq, 2);
  EXPECT_TRUE(srv.finished()) << srv.error();
}

// spec §5.1: the database connection's own reset would give back the character set of its
// login (the pool's); a direct one gives the client's handshake charset. camproxy answers the
// client's COM_RESET_CONNECTION itself after the reset and SET NAMES, with MariaDB 10.11's OK
// for a reset (status flags only: the fix-up's OK is not the client's).
TEST_F(ClientSessionPoolTest, AClientsResetConnectionIsAnsweredAfterTheResetAndItsCharset) {
  auto& srv = pooled(
      "app", {expect_command(protocol::Command::reset_connection), send(ok_payload()),
              expect_command(protocol::Command::query, "SET character_set_client"), send(ok_payload(0x4002)), stall()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_command(protocol::Command::reset_connection);
  const auto reply = next_packet();
  EXPECT_EQ(reply.seq, 1);
  EXPECT_EQ(reply.payload, (std::vector<uint8_t>{0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00}));
  EXPECT_TRUE(srv.finished()) << srv.error();
}

// A reset pipelined with another command in the same read goes to the server as it is.
TEST_F(ClientSessionPoolTest, AResetPipelinedWithACommandIsRelayed) {
  auto& srv = pooled("app", {expect_command(protocol::Command::reset_connection), send(ok_payload()),
                             expect_command(protocol::Command::ping), send(ok_payload()), stall()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  const std::vector<uint8_t> reset_then_ping = {0x01, 0x00, 0x00, 0x00, 0x1F, 0x01, 0x00, 0x00, 0x00, 0x0E};
  app().send_raw(reset_then_ping);
  EXPECT_TRUE(is_ok(next_packet()));
  EXPECT_TRUE(is_ok(next_packet()));
  EXPECT_TRUE(srv.finished()) << srv.error();
}

// The LOCAL INFILE upload's empty packet and the client's next command in one read: the upload
// ends with that packet, so what follows is a command again (here COM_QUIT, which camproxy
// answers by closing; passed on as upload bytes, it would reach the server).
TEST_F(ClientSessionPoolTest, TheCommandInTheReadThatEndsALocalInfileUploadIsStillACommand) {
  const std::string load = "LOAD DATA LOCAL INFILE 'f' INTO TABLE t";
  const std::vector<uint8_t> request = {0xFB, 'f'};  // spec §4.6: the server asks for file f
  auto& srv =
      pooled("app", {expect_command(protocol::Command::query, load), send(request), expect_any("the file's data"),
                     expect_any("the upload's empty packet"), send(ok_payload()), stall()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_command(protocol::Command::query, load);
  EXPECT_EQ(next_packet().payload, request);
  const std::vector<uint8_t> data = {'1', '\n'};
  app_send(2, data);
  const std::vector<uint8_t> empty_then_quit = {0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x00, 0x01};
  app().send_raw(empty_then_quit);
  EXPECT_TRUE(run_until([&] { return app().ended(); }));
  EXPECT_TRUE(srv.finished()) << srv.error();
  for (const auto& p : srv.received())
    EXPECT_NE(p.payload, std::vector<uint8_t>{0x01}) << "COM_QUIT reached the server";
}

// After the response tracker faults (here: the server's OK with a wrong sequence id, spec §1)
// the session can no longer be followed: the client's bytes pass as they are (a COM_QUIT is
// the server's to see, not camproxy's to answer: it may as well be file data), and the
// connection is closed, never pooled.
TEST_F(ClientSessionPoolTest, AfterATrackerFaultTheClientsBytesPassAsTheyAre) {
  auto& srv = pooled("app", {expect_command(protocol::Command::query, "SELECT 1"),
                             send_raw({0x07, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00}),
                             expect_command(protocol::Command::quit), close_connection()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_command(protocol::Command::query, "SELECT 1");
  EXPECT_EQ(next_packet().seq, 5);  // relayed as it came
  app_command(protocol::Command::quit);
  EXPECT_TRUE(run_until([&] { return srv.finished(); })) << srv.error();
  EXPECT_TRUE(run_until([&] { return app().ended(); }));
  EXPECT_EQ(idle_count(), 0);
}

// spec §2.7, §5.1: the database connection is reset and given the new schema; the client's
// password is not checked and the server sees no COM_CHANGE_USER.
TEST_F(ClientSessionPoolTest, AClientsChangeUserResetsAndFixesUpTheConnection) {
  auto& srv = pooled(
      "app", {expect_command(protocol::Command::reset_connection), send(ok_payload()),
              expect_command(protocol::Command::init_db, "other"), send(ok_payload()),
              expect_command(protocol::Command::query, "SET character_set_client"), send(ok_payload()), stall()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_send(0, change_user_payload("other"));
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply);
  EXPECT_TRUE(srv.finished()) << srv.error();
}

// spec §5.2: the server refuses COM_RESET_CONNECTION (1047, as servers before MariaDB 10.2.4
// do), so the connection is cleaned by COM_CHANGE_USER as the account with the current CAM
// token (scrambled with the login's nonce), then given the client's schema, collation and
// MULTI_STATEMENTS again; the client gets its OK and the pool learns that resets are refused.
TEST_F(ClientSessionPoolTest, AClientsChangeUserFallsBackToChangeUserWithTheTokenWhenTheResetIsRefused) {
  const auto scramble = protocol::native_scramble(pool_env_->token_->password->bytes(), make_greeting().nonce);
  std::vector<uint8_t> change_user = {static_cast<uint8_t>(protocol::Command::change_user)};
  for (char c : kUser) change_user.push_back(static_cast<uint8_t>(c));
  change_user.push_back(0);
  change_user.push_back(static_cast<uint8_t>(scramble.size()));  // spec §2.7: auth_response_len int<1>
  change_user.insert(change_user.end(), scramble.begin(), scramble.end());
  auto& srv = pooled(
      "app", {expect_command(protocol::Command::reset_connection), send(err_payload(1047, "08S01", "Unknown command")),
              expect_command(protocol::Command::init_db, "other"), send(ok_payload()),
              expect_command(protocol::Command::query, "SET character_set_client"), send(ok_payload()),
              expect_prefix(change_user), send(ok_payload()), expect_command(protocol::Command::init_db, "other"),
              send(ok_payload()), expect_command(protocol::Command::query, "SET character_set_client"),
              send(ok_payload()), expect_command(protocol::Command::set_option), send(ok_payload()), stall()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  EXPECT_FALSE(pool_->reset_refused());
  app_send(0, change_user_payload("other"));
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply) << " " << srv.error();
  EXPECT_EQ(reply.seq, 1);
  EXPECT_TRUE(srv.finished()) << srv.error();
  EXPECT_TRUE(pool_->reset_refused());
}

// spec §7.1, §7.2: the database closes between commands; the other pooled connection (the
// checkout took the one with the client's schema) takes over with the schema and the session's
// SET replayed, and the client's next command is answered by it.
TEST_F(ClientSessionPoolTest, ALostConnectionBetweenCommandsIsReplacedUnseen) {
  auto& first = pooled("app", {expect_command(protocol::Command::query, "SET time_zone = '+00:00'"), send(ok_payload()),
                               close_connection()});
  auto& second = pooled("other",
                        {expect_command(protocol::Command::init_db, "app"), send(ok_payload()),
                         expect_command(protocol::Command::query, "SET time_zone = '+00:00'"), send(ok_payload()),
                         expect_command(protocol::Command::query, "SELECT @@time_zone"), send(ok_payload()), stall()},
                        false);
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_command(protocol::Command::query, "SET time_zone = '+00:00'");
  ASSERT_TRUE(is_ok(next_packet()));
  ASSERT_TRUE(run_until([&] { return first.finished(); })) << first.error();
  app_command(protocol::Command::query, "SELECT @@time_zone");
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply);
  EXPECT_TRUE(second.finished()) << second.error();
}

// Issue 16: a connection taken while its reset runs (UpstreamPool::take_returning). Its first
// client logs in on it, runs SELECT 1 and quits; the return's pipeline (the reset, the look,
// SET NAMES for collation 45) is what the server sees next. `then` follows.
Script returned_then(Script then) {
  Script s = {expect_command(protocol::Command::query, "SELECT 1"), send(ok_payload()),
              expect_command(protocol::Command::reset_connection),
              expect_command(protocol::Command::query, "SELECT DATABASE()"),
              expect_command(protocol::Command::query, "SET character_set_client")};
  s.insert(s.end(), then.begin(), then.end());
  return s;
}

// The replies to that pipeline, each numbered from 1 as the server numbers them, then `more`
// (also numbered from 1), as one burst: `reset` is the reply to COM_RESET_CONNECTION.
std::vector<uint8_t> cleanup_replies(const std::string& schema, const std::vector<uint8_t>& reset,
                                     const std::vector<uint8_t>& more = {}) {
  std::vector<uint8_t> out;
  protocol::encode_packet(reset, 1, out);
  uint8_t seq = 1;
  for (const auto& step : resultset({schema, "28800", "0", "utf8mb4_general_ci"})) {
    protocol::encode_packet(step.bytes, seq++, out);
  }
  protocol::encode_packet(ok_payload(), 1, out);
  if (!more.empty()) protocol::encode_packet(more, 1, out);
  return out;
}

class ClientSessionHandoverTest : public ClientSessionPoolTest {
 protected:
  // The first client's life on `srv`'s connection, up to the return's pipeline reaching the
  // server (which answers none of it yet).
  void first_client_leaves(const ScriptedServer& srv) {
    start_session();
    ASSERT_TRUE(is_ok(app_login("app")));
    app_command(protocol::Command::query, "SELECT 1");
    ASSERT_TRUE(is_ok(next_packet()));
    const size_t before = srv.received().size();
    app_command(protocol::Command::quit);
    ASSERT_TRUE(run_until([&] { return srv.received().size() == before + 3; })) << srv.error();
  }
};

// The second client is answered at once and its first command is written right behind the
// reset: the server sees it before it has answered any of the cleanup; the cleanup's replies
// are swallowed and the command's reply is relayed, numbered as the server numbered it.
TEST_F(ClientSessionHandoverTest, AClientsFirstCommandIsWrittenBehindTheResetOfTheConnectionItTakes) {
  auto& srv =
      pooled("app", returned_then({expect_command(protocol::Command::query, "SELECT 2"),
                                   send_raw(cleanup_replies("app", ok_payload(), ok_payload(0x0022))), stall()}));
  first_client_leaves(srv);
  start_session();
  const auto ok = app_login("app");
  EXPECT_TRUE(is_ok(ok)) << err_code(ok);
  app_command(protocol::Command::query, "SELECT 2");
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply);
  EXPECT_EQ(reply.seq, 1);
  EXPECT_EQ(reply.payload, ok_payload(0x0022)) << "the command's reply, not the reset's";
  EXPECT_FALSE(app().has_unread());
  EXPECT_TRUE(srv.finished()) << srv.error();
}

// The cleanup fails (the reset refused) after the client's first command went out behind it:
// that command ran on a connection that may hold the last client's state, so its reply is not
// relayed; the client gets 9004 (it may or may not have run) and is closed.
TEST_F(ClientSessionHandoverTest, ACleanupThatFailsBehindTheFirstCommandClosesTheClientWith9004) {
  auto& srv = pooled(
      "app", returned_then(
                 {expect_command(protocol::Command::query, "SELECT 2"),
                  send_raw(cleanup_replies("app", err_payload(1047, "08S01", "Unknown command"), ok_payload(0x0022))),
                  stall()}));
  first_client_leaves(srv);
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_command(protocol::Command::query, "SELECT 2");
  const auto reply = next_packet();
  EXPECT_EQ(err_code(reply), 9004);
  EXPECT_EQ(reply.seq, 1);
  EXPECT_TRUE(run_until([&] { return app().ended(); }));
  EXPECT_FALSE(app().has_unread()) << "nothing of the unclean connection's replies";
}

// The cleanup fails before the client has sent anything: nothing ran for it, so another pooled
// connection takes over unseen (with the client's schema) and serves its first command.
TEST_F(ClientSessionHandoverTest, ACleanupThatFailsBeforeAnyCommandIsReplacedUnseen) {
  auto& srv = pooled("app", returned_then({stall()}));
  auto& other =
      pooled("app", {expect_command(protocol::Command::query, "SELECT 2"), send(ok_payload()), stall()}, false, 43);
  first_client_leaves(srv);
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  srv.send_bytes(cleanup_replies("other", ok_payload()));  // the look: not the schema the client was told
  ASSERT_TRUE(run_until([&] { return env_->sessions_.find_for_kill(43).outcome == KillTarget::Outcome::found; }))
      << other.error();
  app_command(protocol::Command::query, "SELECT 2");
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply);
  EXPECT_TRUE(other.finished()) << other.error();
}

// A client that takes the connection mid-reset and quits before sending anything (a
// connect-and-quit client) leaves it to the pool, which finishes the reset: the next client
// gets the same connection, not a new one.
TEST_F(ClientSessionHandoverTest, AClientThatQuitsBeforeAnyCommandLeavesTheResetToThePool) {
  auto& srv = pooled("app", returned_then({stall()}));
  first_client_leaves(srv);
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_command(protocol::Command::quit);
  ASSERT_TRUE(run_until([&] { return env_->closed_ == 2; }));
  srv.send_bytes(cleanup_replies("app", ok_payload()));
  ASSERT_TRUE(run_until([&] { return idle_count() == 1; })) << srv.error();
  EXPECT_FALSE(srv.client_gone());
  start_session();
  EXPECT_TRUE(is_ok(app_login("app")));
  EXPECT_TRUE(env_->sessions_.find_for_kill(42).outcome == KillTarget::Outcome::found);
}

// A connection past --pool-max-lifetime is not handed from client to client (it would never be
// at rest for the tick to retire it): the client waits for its reset, as for any other.
TEST_F(ClientSessionHandoverTest, AConnectionPastItsMaxLifetimeIsWaitedForInstead) {
  auto& srv = pooled("app", returned_then({stall()}));
  first_client_leaves(srv);
  pool_env_->config_.pool_max_lifetime = std::chrono::milliseconds(0);
  start_session();
  next_packet();  // the greeting
  app_send(1, login_payload("app"));
  ASSERT_TRUE(run_until([&] {
    const auto keys = pool_->snapshot(Clock::now()).keys;
    return !keys.empty() && keys.front().waiting == 1;
  }));
  srv.send_bytes(cleanup_replies("app", ok_payload()));
  const auto ok = next_packet();
  EXPECT_TRUE(is_ok(ok)) << err_code(ok);
}

// spec §7.3: KILL n names camproxy's connection id n; the database is asked to kill the thread
// of that session's connection, through the asking session's own connection.
TEST_F(ClientSessionPoolTest, KillOfAnotherSessionIsRewrittenToItsDatabaseThread) {
  pooled("a", {stall()}, true, 42);
  auto& b = pooled("b", {expect_command(protocol::Command::query, "KILL CONNECTION 42"), send(ok_payload()), stall()},
                   false, 43);
  start_session();  // connection id 1
  ASSERT_TRUE(is_ok(app_login("a")));
  start_session();  // connection id 2
  ASSERT_TRUE(is_ok(app_login("b")));
  app_command(protocol::Command::query, "KILL 1");
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply);
  EXPECT_TRUE(b.finished()) << b.error();
}

// What CONNECTION_ID() and SHOW PROCESSLIST show names a session too: the thread serving it now.
TEST_F(ClientSessionPoolTest, KillOfAnotherSessionsDatabaseThreadIdKillsThatSession) {
  pooled("a", {stall()}, true, 42);
  auto& b =
      pooled("b", {expect_command(protocol::Command::query, "KILL QUERY 42"), send(ok_payload()), stall()}, false, 43);
  start_session();
  ASSERT_TRUE(is_ok(app_login("a")));
  start_session();
  ASSERT_TRUE(is_ok(app_login("b")));
  app_command(protocol::Command::query, "KILL QUERY 42");
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply);
  EXPECT_TRUE(b.finished()) << b.error();
}

// The server's rule, applied by camproxy (every session is the same database account): another
// user's session is not the client's to kill, by either id; nothing reaches the database.
TEST_F(ClientSessionPoolTest, KillOfAnotherUsersSessionIs1095AndSendsNothing) {
  pool_env_->config_.db_user = std::string(kUser);  // --db-user app: "other" logs in as app too
  pooled("a", {stall()}, true, 42);
  auto& b = pooled("b", {expect_command(protocol::Command::query, "SELECT 1"), send(ok_payload()), stall()}, false, 43);
  start_session();  // connection id 1
  ASSERT_TRUE(is_ok(app_login("a", 0, "other")));
  start_session();
  ASSERT_TRUE(is_ok(app_login("b")));
  for (std::string_view kill : {"KILL 1", "KILL 42", "KILL QUERY 42"}) {
    app_command(protocol::Command::query, kill);
    const auto reply = next_packet();
    ASSERT_EQ(err_code(reply), protocol::kErKillDenied) << kill;
    const std::string text(reply.payload.begin(), reply.payload.end());
    EXPECT_NE(text.find("You are not owner of thread " + std::string(kill.substr(kill.rfind(' ') + 1))),
              std::string::npos)
        << text;
  }
  app_command(protocol::Command::query, "SELECT 1");
  EXPECT_TRUE(is_ok(next_packet()));
  EXPECT_TRUE(b.finished()) << b.error();
}

// An id that names no relaying session (an idle pooled connection's thread, a number nobody has)
// is 1094, by COM_PROCESS_KILL as by the statement; nothing reaches the database.
TEST_F(ClientSessionPoolTest, KillOfAnIdNamingNoSessionIs1094) {
  pooled("idle", {stall()}, true, 41);
  auto& b = pooled("b", {expect_command(protocol::Command::query, "SELECT 1"), send(ok_payload()), stall()}, false, 43);
  start_session();
  ASSERT_TRUE(is_ok(app_login("b")));
  const uint8_t idle_thread[] = {static_cast<uint8_t>(protocol::Command::process_kill), 41, 0, 0, 0};
  app_send(0, idle_thread);
  EXPECT_EQ(err_code(next_packet()), protocol::kErNoSuchThread);
  app_command(protocol::Command::query, "KILL 7");
  EXPECT_EQ(err_code(next_packet()), protocol::kErNoSuchThread);
  app_command(protocol::Command::query, "SELECT 1");
  EXPECT_TRUE(is_ok(next_packet()));
  EXPECT_TRUE(b.finished()) << b.error();
}

// After a transparent reconnect the session's thread is its replacement's: the old thread id
// names nothing, the new one names the session.
TEST_F(ClientSessionPoolTest, KillFollowsASessionToItsReplacementThread) {
  auto& first = pooled(
      "app", {expect_command(protocol::Command::query, "SELECT 1"), send(ok_payload()), close_connection()}, true, 42);
  pooled("other", {expect_command(protocol::Command::init_db, "app"), send(ok_payload()), stall()}, false, 44);
  auto& b = pooled("b", {expect_command(protocol::Command::query, "KILL CONNECTION 44"), send(ok_payload()), stall()},
                   false, 43);
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_command(protocol::Command::query, "SELECT 1");
  ASSERT_TRUE(is_ok(next_packet()));
  ASSERT_TRUE(run_until([&] { return first.finished(); })) << first.error();
  ASSERT_TRUE(run_until([&] { return env_->sessions_.find_for_kill(44).outcome == KillTarget::Outcome::found; }));
  start_session();
  ASSERT_TRUE(is_ok(app_login("b")));
  app_command(protocol::Command::query, "KILL 42");
  EXPECT_EQ(err_code(next_packet()), protocol::kErNoSuchThread);
  app_command(protocol::Command::query, "KILL 44");
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply);
  EXPECT_TRUE(b.finished()) << b.error();
}

// CLIENT_IGNORE_SPACE is advertised and kept (mysql2, Connector/J, mariadb --ignore-spaces): a
// pooled connection without it gets the pool's sql_mode fix-up before the client's OK.
TEST_F(ClientSessionPoolTest, AClientAskingForIgnoreSpaceGetsItOnAPooledConnection) {
  auto& srv = pooled(
      "app", {expect_command(protocol::Command::query, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',IGNORE_SPACE')"),
              send(ok_payload()), stall()});
  start_session();
  const auto greeting = next_packet();
  const auto hs = protocol::decode_handshake_v10(greeting.payload);
  ASSERT_TRUE(hs);
  EXPECT_NE(hs->capabilities & cap::kIgnoreSpace, 0U) << "advertised, as the database does";
  app_send(1, login_payload("app", cap::kIgnoreSpace));
  const auto ok = next_packet();
  EXPECT_TRUE(is_ok(ok)) << err_code(ok);
  EXPECT_TRUE(srv.finished()) << srv.error();
}

// Process draining: a session between transactions closes at once; one inside a transaction
// once the COMMIT's OK has reached its client.
TEST_F(ClientSessionPoolTest, DrainClosesASessionBetweenTransactionsAtOnce) {
  pooled("app", {expect_command(protocol::Command::reset_connection), stall()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  session_->drain();
  EXPECT_TRUE(run_until([&] { return env_->closed_ == 1; }));
  EXPECT_TRUE(run_until([&] { return app().ended(); })) << "the client's connection is closed";
  EXPECT_FALSE(app().has_unread()) << "without a word";
}

TEST_F(ClientSessionPoolTest, DrainClosesASessionInATransactionAfterItsCommit) {
  constexpr uint16_t kInTrans = protocol::status::kInTrans | protocol::status::kAutocommit;
  pooled("app", {expect_command(protocol::Command::query, "BEGIN"), send(ok_payload(kInTrans)),
                 expect_command(protocol::Command::query, "COMMIT"), send(ok_payload()),
                 expect_command(protocol::Command::reset_connection), stall()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_command(protocol::Command::query, "BEGIN");
  ASSERT_TRUE(is_ok(next_packet()));
  session_->drain();
  run_for(50);  // asserting that it does NOT close (a close would be at once)
  EXPECT_EQ(env_->closed_, 0) << "inside a transaction it stays";
  app_command(protocol::Command::query, "COMMIT");
  EXPECT_TRUE(is_ok(next_packet()));
  EXPECT_TRUE(run_until([&] { return env_->closed_ == 1; }));
}

// Issue 16: the OK camproxy builds for a login on a pooled connection is the one the server
// sends a direct login (MariaDB 10.11, tests/protocol/captures/mariadb_cli_login.hex): with
// SESSION_TRACK and a database, SESSION_STATE_CHANGED and the SCHEMA tracker alone, whatever
// the fix-ups' replies said (here COM_INIT_DB's own tracker and a statement flag).
TEST_F(ClientSessionPoolTest, TheLoginOkCarriesTheSchemaTrackerAsADirectLoginDoes) {
  const auto init_db_ok = from_hex("00 00 00 2240 0000 00 07 0105 0473686f70");  // NO_INDEX_USED, tracker
  pooled("app", {expect_command(protocol::Command::init_db, "shop"), send(init_db_ok), stall()}, true, 42,
         kClientCaps | cap::kSessionTrack);
  start_session();
  const auto ok = app_login("shop", cap::kSessionTrack);
  EXPECT_EQ(ok.payload, from_hex("00 00 00 0240 0000 00 07 0105 0473686f70"));
}

TEST_F(ClientSessionPoolTest, TheLoginOkWithoutSessionTrackHasNoSessionStateChanged) {
  // COM_INIT_DB's OK says SESSION_STATE_CHANGED: a client without SESSION_TRACK gets the plain OK
  // a direct login gives it (captures/pymysql_login.hex), not the flag without its payload.
  pooled("app", {expect_command(protocol::Command::init_db, "shop"), send(ok_payload(0x4002)), stall()});
  start_session();
  const auto ok = app_login("shop");
  EXPECT_EQ(ok.payload, from_hex("00 00 00 0200 0000"));
}

TEST_F(ClientSessionPoolTest, TheChangeUserOkCarriesTheNewSchemasTracker) {
  pooled("app",
         {expect_command(protocol::Command::reset_connection), send(ok_payload()),
          expect_command(protocol::Command::init_db, "other"), send(ok_payload(0x4002)),
          expect_command(protocol::Command::query, "SET character_set_client"), send(ok_payload(0x4002)), stall()},
         true, 42, kClientCaps | cap::kSessionTrack);
  start_session();
  ASSERT_TRUE(is_ok(app_login("app", cap::kSessionTrack)));
  app_send(0, change_user_payload("other"));
  const auto reply = next_packet();
  EXPECT_EQ(reply.payload, from_hex("00 00 00 0240 0000 00 08 0106 056f74686572"));
}

}  // namespace
}  // namespace camproxy::proxy::testing
