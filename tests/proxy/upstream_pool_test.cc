// UpstreamPool on a real loop, against scripted MySQL servers on loopback: a connection given
// back is reset and idle again, take() picks the best match, idle connections are evicted on
// EOF, at their lifetime and below the wait_timeout a look read, and a refused reset falls back
// to COM_CHANGE_USER (whose 1045 has the token refetched).
#include "proxy/pool/upstream_pool.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>

#include "auth/secret.h"
#include "protocol/constants.h"
#include "tests/proxy/loop_harness.h"
#include "tests/proxy/pool_test_support.h"
#include "tests/proxy/scripted_server.h"

namespace camproxy::proxy::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kAccount = "app@example";

// Scripts are written as lists of parts.
Script script(std::initializer_list<std::vector<Step>> parts) {
  Script s;
  for (const auto& part : parts) s.insert(s.end(), part.begin(), part.end());
  return s;
}

std::vector<Step> login() { return {send(greeting_payload(make_greeting())), expect_any("login"), send(ok_payload())}; }
// COM_RESET_CONNECTION and the look, answered: `schema` and the server's `wait_timeout`.
std::vector<Step> reset_and_look(std::optional<std::string> schema, std::string wait_timeout = "28800") {
  std::vector<Step> steps = {expect_command(protocol::Command::reset_connection), send(ok_payload()),
                             expect_command(protocol::Command::query, "SELECT DATABASE()")};
  for (auto& s : resultset({std::move(schema), std::move(wait_timeout), "0", "utf8mb4_general_ci"}))
    steps.push_back(std::move(s));
  return steps;
}
// The pool's first connection reads the server's wait_timeout once it is clean.
std::vector<Step> first_wait_timeout(std::string value = "28800") {
  std::vector<Step> steps = {expect_command(protocol::Command::query, "SELECT @@session.wait_timeout")};
  for (auto& s : resultset({std::move(value)})) steps.push_back(std::move(s));
  return steps;
}
std::vector<Step> quit_then_stall() { return {expect_command(protocol::Command::quit), stall()}; }

uint64_t closes(PoolClose reason) { return process_metrics().counter(MetricId::pool_closes, reason).value(); }
uint64_t cleanups(PoolCleanup method) { return process_metrics().counter(MetricId::pool_cleanups, method).value(); }

class UpstreamPoolTest : public LoopTest, private UpstreamConn::Owner {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    env_ = std::make_unique<FakePoolEnv>(loop());
  }
  void TearDown() override {
    for (UpstreamConn* u : mine_) u->close();
    if (pool_) pool_->close();
    LoopTest::TearDown();
  }

  UpstreamPool& pool() {
    if (!pool_) {
      pool_ = std::make_unique<UpstreamPool>(*env_);
      pool_->start();
    }
    return *pool_;
  }

  ScriptedServer& server(Script s) { return own(std::make_unique<ScriptedServer>(loop(), std::move(s))); }

  // A connection logged in to `srv`, held by the test as a session would hold it.
  PooledConn connected(ScriptedServer& srv, std::optional<std::string> schema = std::nullopt) {
    configs_.push_back(env_->config_);
    configs_.back().upstream.port = srv.port();
    UpstreamConn* u = UpstreamConn::create(loop(), {&configs_.back(), nullptr}, this);
    mine_.push_back(u);
    ready_ = false;
    u->connect();
    EXPECT_TRUE(run_until([&] { return ready_; })) << srv.error();
    return PooledConn{
        .conn = u,
        .key = key_,
        .profile = {.schema = std::move(schema), .collation = 0, .multi_statements = false, .ignore_space = false},
        .created = Clock::now(),
        .idle_since = Clock::now(),
        .login_collation = 0,
        .last_look = std::nullopt};
  }

  // --pool-mode transaction: a session between commands gives its connection back as it is.
  void share(PooledConn pc) {
    std::erase(mine_, pc.conn);
    pool().share(std::move(pc));
  }

  void give_back(PooledConn pc, bool schema_known = true) {
    std::erase(mine_, pc.conn);
    pool().give_back(std::move(pc), 0, schema_known);
  }

  // A connection taken from the pool, held by the test as a session would hold it.
  void mine_conn(const PooledConn& pc) {
    pc.conn->set_owner(this);
    mine_.push_back(pc.conn);
  }

  // Waits for an idle connection matching `want` and takes it back.
  std::optional<PooledConn> take_when_idle(const SessionProfile& want) {
    std::optional<PooledConn> got;
    run_until([&] { return (got = pool().take(key_, want)).has_value(); });
    if (got) mine_conn(*got);
    return got;
  }

  std::unique_ptr<FakePoolEnv> env_;
  std::unique_ptr<UpstreamPool> pool_;
  PoolKey key_{std::string(kAccount), protocol::cap::kMultiResults};

 private:
  void on_upstream_greeting(UpstreamConn& u) override {
    UpstreamLogin login;
    login.user = key_.account;
    login.password = env_->token(key_.account)->password;
    login.capabilities = key_.caps;
    u.login(std::move(login));
  }
  void on_upstream_ready(UpstreamConn&, std::span<const uint8_t>) override { ready_ = true; }
  void on_upstream_failed(UpstreamConn&, const UpstreamFailure& f) override { ADD_FAILURE() << f.message; }
  void on_upstream_data(UpstreamConn&, std::span<const uint8_t>) override {}
  void on_upstream_drained(UpstreamConn&) override {}
  void on_upstream_commands_done(UpstreamConn&, const std::vector<InternalResult>&) override {}

  std::deque<TargetConfig> configs_;  // each connection keeps a pointer to its own
  std::vector<UpstreamConn*> mine_;   // connections the test holds (closed at TearDown)
  bool ready_ = false;
};

SessionProfile schema(std::optional<std::string> s) {
  return {.schema = std::move(s), .collation = 0, .multi_statements = false, .ignore_space = false};
}

TEST_F(UpstreamPoolTest, GivenBackItIsResetLookedAtAndIdle) {
  auto& srv = server(script({login(), reset_and_look("shop"), first_wait_timeout(), {stall()}}));
  const uint64_t resets = cleanups(PoolCleanup::reset);
  give_back(connected(srv, "app"));
  auto pc = take_when_idle(schema("shop"));
  ASSERT_TRUE(pc) << srv.error();
  EXPECT_TRUE(srv.finished()) << srv.error();
  EXPECT_EQ(pc->profile.schema, "shop");  // what the look saw, not what the client said
  ASSERT_TRUE(pc->last_look);
  EXPECT_EQ(cleanups(PoolCleanup::reset), resets + 1);
}

TEST_F(UpstreamPoolTest, TakeGivesTheBestMatch) {
  auto& a = server(script({login(), reset_and_look("a"), first_wait_timeout(), {stall()}}));
  auto& b = server(script({login(), reset_and_look("b"), {stall()}}));
  PooledConn in_a = connected(a, "a");
  PooledConn in_b = connected(b, "b");
  UpstreamConn* conn_a = in_a.conn;
  UpstreamConn* conn_b = in_b.conn;
  give_back(std::move(in_a));
  ASSERT_TRUE(run_until([&] { return a.finished(); })) << a.error();
  give_back(std::move(in_b));
  ASSERT_TRUE(run_until([&] { return b.finished(); })) << b.error();
  // Both idle: the server sent its last reply, but the pool may not have read it yet, and
  // take() would then fix `a` up to "b".
  ASSERT_TRUE(run_until([&] {
    const auto snap = pool().snapshot(std::chrono::steady_clock::now());
    return !snap.keys.empty() && snap.keys.front().idle == 2;
  }));
  auto got_b = take_when_idle(schema("b"));
  ASSERT_TRUE(got_b);
  EXPECT_EQ(got_b->conn, conn_b);
  // A client that wants no schema cannot use the other: there is no "USE nothing".
  EXPECT_FALSE(pool().take(key_, schema(std::nullopt)));
  auto got_a = take_when_idle(schema("c"));  // no exact match: one that can be fixed up
  ASSERT_TRUE(got_a);
  EXPECT_EQ(got_a->conn, conn_a);
}

// spec §3.1, docs/capabilities.md: MariaDB's extended capabilities change what the server sends
// (metadata_follows bytes, extended column metadata, progress reports), so a connection logged in
// with some serves only clients with exactly the same ones.
TEST_F(UpstreamPoolTest, TakeMatchesTheMariaDbExtendedCapabilities) {
  key_.mariadb_caps = protocol::mariadb_cap::kRelayable;
  auto& srv = server(script({login(), reset_and_look("app"), first_wait_timeout(), {stall()}}));
  give_back(connected(srv, "app"));
  ASSERT_TRUE(run_until([&] { return srv.finished(); })) << srv.error();
  for (const uint32_t ext : {0U, protocol::mariadb_cap::kCacheMetadata}) {
    PoolKey other = key_;
    other.mariadb_caps = ext;
    EXPECT_FALSE(pool().take(other, schema("app"))) << ext;
  }
  EXPECT_TRUE(take_when_idle(schema("app")));
}

TEST_F(UpstreamPoolTest, AnIdleConnectionClosedByTheServerIsEvicted) {
  auto& srv = server(script({login(), reset_and_look("app"), first_wait_timeout(), {close_connection()}}));
  const uint64_t lost = closes(PoolClose::lost);
  give_back(connected(srv, "app"));
  ASSERT_TRUE(run_until([&] { return closes(PoolClose::lost) == lost + 1; })) << srv.error();
  EXPECT_FALSE(pool().take(key_, schema("app")));
}

TEST_F(UpstreamPoolTest, AConnectionPastItsLifetimeIsLoggedOut) {
  env_->config_.pool_max_lifetime = std::chrono::milliseconds(0);
  auto& srv = server(script({login(), reset_and_look("app"), first_wait_timeout(), quit_then_stall()}));
  const uint64_t old = closes(PoolClose::max_lifetime);
  give_back(connected(srv, "app"));
  ASSERT_TRUE(run_until([&] { return closes(PoolClose::max_lifetime) == old + 1; })) << srv.error();
  ASSERT_TRUE(run_until([&] { return srv.finished(); })) << "COM_QUIT first: " << srv.error();
}

TEST_F(UpstreamPoolTest, IdleConnectionsCloseBelowTheWaitTimeoutALookRead) {
  // First return: the server says 28800 s. The second look reads 3 s (an operator lowered the
  // global): idle connections must now close within about a second (3 s less the 2 s margin).
  auto& srv = server(
      script({login(), reset_and_look("app"), first_wait_timeout(), reset_and_look("app", "3"), quit_then_stall()}));
  const uint64_t old = closes(PoolClose::idle_timeout);
  give_back(connected(srv, "app"));
  run_for(1500);
  EXPECT_EQ(closes(PoolClose::idle_timeout), old) << "28800 s: it stays idle";
  auto pc = pool().take(key_, schema("app"));
  ASSERT_TRUE(pc) << srv.error();
  give_back(std::move(*pc), false);  // schema in doubt: the cleanup looks again
  ASSERT_TRUE(run_until([&] { return closes(PoolClose::idle_timeout) == old + 1; }, 4000)) << srv.error();
  ASSERT_TRUE(run_until([&] { return srv.finished(); })) << srv.error();
}

// spec §5.2: the server refuses COM_RESET_CONNECTION (1047): COM_CHANGE_USER with the current
// token cleans instead, then the look and MULTI_STATEMENTS are restored.
std::vector<Step> refused_reset(bool then_change_user = true) {
  std::vector<Step> steps = {expect_command(protocol::Command::reset_connection),
                             send(err_payload(1047, "08S01", "Unknown command")),
                             expect_command(protocol::Command::query, "SELECT DATABASE()")};
  for (auto& s : resultset({"app", "28800", "0", "utf8mb4_general_ci"})) steps.push_back(std::move(s));
  if (then_change_user) steps.push_back(expect_command(protocol::Command::change_user, kAccount));
  return steps;
}

TEST_F(UpstreamPoolTest, ARefusedResetFallsBackToChangeUser) {
  std::vector<Step> restore = {send(ok_payload()), expect_command(protocol::Command::query, "SELECT DATABASE()")};
  for (auto& s : resultset({std::nullopt, "28800", "0", "utf8mb4_general_ci"})) restore.push_back(std::move(s));
  restore.push_back(expect_command(protocol::Command::set_option));
  restore.push_back(send(ok_payload()));
  auto& srv = server(script({login(), refused_reset(), restore, first_wait_timeout(), {stall()}}));
  const uint64_t change_users = cleanups(PoolCleanup::change_user);
  give_back(connected(srv, "app"));
  auto pc = take_when_idle(schema(std::nullopt));
  ASSERT_TRUE(pc) << srv.error();
  EXPECT_FALSE(pc->profile.schema) << "CHANGE_USER leaves no schema";
  EXPECT_TRUE(pool().reset_refused());
  EXPECT_EQ(cleanups(PoolCleanup::change_user), change_users + 1);
  EXPECT_TRUE(env_->rejected.empty());
}

TEST_F(UpstreamPoolTest, ChangeUserRefusedWith1045HasTheTokenRefetched) {
  auto& srv = server(
      script({login(), refused_reset(), {send(err_payload(1045, "28000", "Access denied")), close_connection()}}));
  const uint64_t refused = closes(PoolClose::change_user_refused);
  give_back(connected(srv, "app"));
  ASSERT_TRUE(run_until([&] { return closes(PoolClose::change_user_refused) == refused + 1; })) << srv.error();
  ASSERT_EQ(env_->rejected.size(), 1u);
  EXPECT_EQ(env_->rejected[0], (std::pair<std::string, uint64_t>{std::string(kAccount), 7}));
}

TEST_F(UpstreamPoolTest, ChangeUserWithoutAUsableTokenClosesTheConnection) {
  auto& srv = server(script({login(), refused_reset(false), quit_then_stall()}));
  PooledConn pc = connected(srv, "app");
  env_->token_ = nullptr;  // e.g. CAM unreachable since the login
  const uint64_t failed = closes(PoolClose::change_user_failed);
  give_back(std::move(pc));
  ASSERT_TRUE(run_until([&] { return closes(PoolClose::change_user_failed) == failed + 1; })) << srv.error();
  ASSERT_TRUE(run_until([&] { return srv.finished(); })) << srv.error();
  EXPECT_TRUE(env_->rejected.empty());
}

// --pool-mode transaction: share() and take() at every command (no cleanup, no scan, no allocation).

int64_t idle_gauge() { return process_metrics().gauge(MetricId::upstream_connections_idle).value(); }

size_t idle_in(UpstreamPool& pool) {
  size_t n = 0;
  for (const auto& k : pool.snapshot(Clock::now()).keys) n += k.idle;
  return n;
}

TEST_F(UpstreamPoolTest, SharedConnectionsAreIdleAtOnceAndServedLongestIdleFirst) {
  auto& a = server(script({login(), first_wait_timeout(), {stall()}}));
  auto& b = server(script({login(), {stall()}}));
  PooledConn in_a = connected(a, "app");
  PooledConn in_b = connected(b, "app");
  UpstreamConn* conn_a = in_a.conn;
  UpstreamConn* conn_b = in_b.conn;
  const int64_t gauge = idle_gauge();
  share(std::move(in_a));  // the pool's first connection reads the wait_timeout first
  ASSERT_TRUE(run_until([&] { return idle_in(pool()) == 1; })) << a.error();
  share(std::move(in_b));
  EXPECT_EQ(idle_in(pool()), 2u) << "no cleanup: idle at once";
  EXPECT_EQ(idle_gauge(), gauge + 2);

  PoolKey other = key_;
  other.account = "someone-else";
  EXPECT_FALSE(pool().take(other, schema("app"))) << "another key's idle connections are not offered";
  for (UpstreamConn* expected : {conn_a, conn_b, conn_a, conn_b}) {
    auto pc = pool().take(key_, schema("app"));
    ASSERT_TRUE(pc);
    EXPECT_EQ(pc->conn, expected) << "the longest idle first";
    EXPECT_EQ(idle_gauge(), gauge + 1);
    pool().share(std::move(*pc));  // back at the end of the line
    EXPECT_EQ(idle_gauge(), gauge + 2);
  }
  auto first = pool().take(key_, schema("app"));
  auto second = pool().take(key_, schema("app"));
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(pool().take(key_, schema("app")));
  EXPECT_EQ(idle_in(pool()), 0u);
  EXPECT_EQ(idle_gauge(), gauge);
  mine_conn(*first);
  mine_conn(*second);
}

// A key whose connections all left is forgotten at the tick (upstream_pool.cc maintain()); its
// next connection starts it again.
TEST_F(UpstreamPoolTest, AKeyComesBackAfterItsLastConnectionLeft) {
  auto& srv = server(script({login(), first_wait_timeout(), {stall()}}));
  PooledConn pc = connected(srv, "app");
  share(std::move(pc));
  ASSERT_TRUE(run_until([&] { return idle_in(pool()) == 1; })) << srv.error();
  auto taken = pool().take(key_, schema("app"));
  ASSERT_TRUE(taken);
  run_for(1200);  // a tick, with nothing left of the key
  UpstreamConn* conn = taken->conn;
  pool().share(std::move(*taken));
  EXPECT_EQ(idle_in(pool()), 1u);
  auto again = pool().take(key_, schema("app"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->conn, conn);
  mine_conn(*again);
}

// --pool-min-idle warming (upstream_pool.cc dial_warm()).

size_t warming(UpstreamPool& pool) {
  size_t n = 0;
  for (const auto& k : pool.snapshot(Clock::now()).keys) n += k.warming;
  return n;
}

// The login packet (HandshakeResponse41, spec §2.3): the collation is at offset 8, after the
// capability flags and max_packet_size; with CONNECT_WITH_DB the database follows as a C string.
Step expect_login(uint8_t collation, std::optional<std::string> database) {
  return expect("warm login", [collation, database](const ReceivedPacket& p) -> std::string {
    if (p.payload.size() < 32) return "short login packet";
    if (p.payload[8] != collation) return "collation " + std::to_string(p.payload[8]);
    const uint32_t caps = p.payload[0] | (p.payload[1] << 8) | (p.payload[2] << 16) | (uint32_t{p.payload[3]} << 24);
    const bool with_db = (caps & protocol::cap::kConnectWithDb) != 0;
    if (with_db != database.has_value()) return with_db ? "a database not asked for" : "no database";
    if (database) {
      const std::string needle = *database + std::string(1, '\0');
      const std::string text(p.payload.begin(), p.payload.end());
      if (text.find(needle) == std::string::npos) return "database " + *database + " not in the login";
    }
    return "";
  });
}

TEST_F(UpstreamPoolTest, TheWholeShortfallIsDialledAtOnce) {
  env_->config_.db_user = std::string(kAccount);  // a fixed account: warming starts before any client
  env_->config_.pool_min_idle = 3;
  env_->config_.upstream.port = unused_tcp_port();
  EXPECT_EQ(warming(pool()), 3u) << "all three at start, not one per tick";
}

TEST_F(UpstreamPoolTest, ACheckoutDialsItsReplacementAtOnce) {
  env_->config_.pool_min_idle = 1;
  env_->config_.upstream.port = unused_tcp_port();
  auto& srv = server(script({login(), reset_and_look("shop"), first_wait_timeout(), {stall()}}));
  give_back(connected(srv, "shop"));
  ASSERT_TRUE(run_until([&] { return pool().snapshot(Clock::now()).keys.at(0).idle == 1; })) << srv.error();
  pool().note_demand(key_, schema("shop"));
  auto pc = pool().take(key_, schema("shop"));
  ASSERT_TRUE(pc);
  mine_conn(*pc);
  EXPECT_EQ(warming(pool()), 1u) << "the replacement is dialled by the checkout, not at the next tick";
}

TEST_F(UpstreamPoolTest, WarmingLogsInWithTheLatestClientsSchemaAndCollation) {
  env_->config_.pool_min_idle = 1;
  auto& srv = server(script({{send(greeting_payload(make_greeting())), expect_login(45, "shop"), send(ok_payload())},
                             first_wait_timeout(),
                             {stall()}}));
  env_->config_.upstream.port = srv.port();
  const SessionProfile want{.schema = "shop", .collation = 45, .multi_statements = false, .ignore_space = false};
  pool().note_demand(key_, want);
  EXPECT_FALSE(pool().take(key_, want));  // nothing idle yet: the miss starts the warm dial
  auto pc = take_when_idle(want);
  ASSERT_TRUE(pc) << srv.error();
  EXPECT_TRUE(srv.finished()) << srv.error();
  EXPECT_EQ(pc->profile, want) << "ready as the client wants it: no COM_INIT_DB, no SET NAMES";
}

TEST_F(UpstreamPoolTest, BeforeAnyClientWarmingLogsInWithTheGreetingsCollation) {
  env_->config_.db_user = std::string(kAccount);
  env_->config_.pool_min_idle = 1;
  // make_greeting() announces collation 255 (utf8mb4_0900_ai_ci), not 0.
  auto& srv =
      server(script({{send(greeting_payload(make_greeting())), expect_login(255, std::nullopt), send(ok_payload())},
                     first_wait_timeout(),
                     {stall()}}));
  env_->config_.upstream.port = srv.port();
  pool();
  ASSERT_TRUE(run_until([&] { return srv.finished(); })) << srv.error();
  const auto snap = pool().snapshot(Clock::now());
  ASSERT_EQ(snap.keys.size(), 1u);
  key_ = PoolKey{std::string(kAccount), snap.keys[0].caps};
  auto pc =
      take_when_idle({.schema = std::nullopt, .collation = 255, .multi_statements = false, .ignore_space = false});
  ASSERT_TRUE(pc);
  EXPECT_EQ(pc->profile.collation, 255);
  EXPECT_EQ(pc->login_collation, 255);
}

TEST_F(UpstreamPoolTest, ALearntSchemaTheServerRefusesIsForgotten) {
  env_->config_.pool_min_idle = 1;
  auto& srv = server(script({{send(greeting_payload(make_greeting())), expect_login(45, "gone"),
                              send(err_payload(1049, "42000", "Unknown database 'gone'")), close_connection()}}));
  env_->config_.upstream.port = srv.port();
  const SessionProfile want{.schema = "gone", .collation = 45, .multi_statements = false, .ignore_space = false};
  pool().note_demand(key_, want);
  EXPECT_FALSE(pool().take(key_, want));
  ASSERT_TRUE(run_until([&] { return srv.finished() && warming(pool()) == 0; })) << srv.error();
  auto& next =
      server(script({{send(greeting_payload(make_greeting())), expect_login(45, std::nullopt), send(ok_payload())},
                     first_wait_timeout(),
                     {stall()}}));
  env_->config_.upstream.port = next.port();
  EXPECT_FALSE(pool().take(key_, schema(std::nullopt)));  // the next warm dial: no schema
  ASSERT_TRUE(run_until([&] { return next.finished(); })) << next.error();
}

}  // namespace
}  // namespace camproxy::proxy::testing
