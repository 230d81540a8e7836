// ClientSession with a real UpstreamPool over a fake PoolEnv, scripted MySQL servers on loopback
// playing the database and the test playing the application over a socketpair: a login served
// by a pooled connection (its checkout), the relay both ways, a client's COM_RESET_CONNECTION
// and COM_CHANGE_USER, the transparent reconnect, KILL between two sessions and the process
// draining. The pool's connections are warmed by the test (logged in with the token, given
// back, reset): the token service is never reached (FakeSessionEnv::tokens() aborts).
#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <memory>

#include "auth/secret.h"
#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/handshake_response.h"
#include "protocol/ok_err_eof.h"
#include "protocol/packet.h"
#include "proxy/ops/metrics.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"
#include "tests/proxy/loop_harness.h"
#include "tests/proxy/pool_test_support.h"
#include "tests/proxy/scripted_server.h"

namespace camproxy::proxy::testing {
namespace {

namespace cap = protocol::cap;
using Clock = std::chrono::steady_clock;
constexpr std::string_view kUser = "app";  // no account table: the user is the account
constexpr uint32_t kClientCaps = cap::kProtocol41 | cap::kSecureConnection | cap::kPluginAuth | cap::kLongPassword;

// The session's world: the real pool; no CAM (every upstream comes from the pool).
class FakeSessionEnv final : public SessionEnv {
 public:
  FakeSessionEnv(uv_loop_t* loop, FakePoolEnv& pool_env, UpstreamPool& pool)
      : loop_(loop), pool_env_(pool_env), pool_(pool) {}
  uv_loop_t* loop() override { return loop_; }
  int index() const override { return 0; }
  const TargetConfig& config() const override { return pool_env_.config_; }
  TokenService& tokens() override { std::abort(); }
  UpstreamPool& pool() override { return pool_; }
  CollationNames& collations() override { return pool_env_.collations(); }
  SessionRegistry& sessions() override { return sessions_; }
  std::shared_ptr<const LocalUsers> local_users() const override { return nullptr; }
  SSL_CTX* client_tls() const override { return nullptr; }
  SSL_CTX* upstream_tls() const override { return nullptr; }
  std::shared_ptr<const GreetingProfile> profile() const override { return profile_; }
  void set_profile(std::shared_ptr<const GreetingProfile> p) override { profile_ = std::move(p); }
  uint32_t next_connection_id() override { return ++last_id_; }
  bool admit_client() override { return true; }
  void client_gone() override {}
  void login_started(ClientSession*) override {}
  void login_finished(ClientSession*) override {}
  void add_token_waiter(ClientSession*) override { std::abort(); }
  void remove_token_waiter(ClientSession*) override {}
  void on_session_closed(ClientSession*) override { ++closed_; }

  SessionRegistry sessions_;
  std::shared_ptr<const GreetingProfile> profile_ =
      std::make_shared<GreetingProfile>(GreetingProfile{"8.0.36", 0x81fff7fe, 45, protocol::status::kAutocommit});
  uint32_t last_id_ = 0;
  int closed_ = 0;

 private:
  uv_loop_t* loop_;
  FakePoolEnv& pool_env_;
  UpstreamPool& pool_;
};

// A connection's life up to idle in the pool: login, then the cleanup of its return: the reset,
// the look (which sees `schema`) and the next client's collation (45, by its id: no names are
// learnt here).
Script warmed(const std::string& schema, uint32_t thread_id) {
  protocol::HandshakeV10 greeting = make_greeting();
  greeting.connection_id = thread_id;
  Script s = {send(greeting_payload(greeting)),
              expect_any("login"),
              send(ok_payload()),
              expect_command(protocol::Command::kResetConnection),
              send(ok_payload()),
              expect_command(protocol::Command::kQuery, "SELECT DATABASE()")};
  for (auto& step : resultset({schema, "28800", "0", "utf8mb4_general_ci"})) s.push_back(std::move(step));
  s.push_back(expect_command(protocol::Command::kQuery, "SET character_set_client"));
  s.push_back(send(ok_payload()));
  return s;
}

class ClientSessionPoolTest : public LoopTest, private UpstreamConn::Owner {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    pool_env_ = std::make_unique<FakePoolEnv>(loop());
    pool_ = std::make_unique<UpstreamPool>(*pool_env_);
    pool_->start();
    env_ = std::make_unique<FakeSessionEnv>(loop(), *pool_env_, *pool_);
  }
  void TearDown() override {
    if (app_ >= 0) close(app_);
    for (int fd : other_apps_) close(fd);
    run_until([&] { return env_->closed_ == sessions_; });
    EXPECT_EQ(env_->closed_, sessions_) << "every session closed";
    pool_->close();
    LoopTest::TearDown();
  }

  // A scripted server whose connection the test logs in and gives to the pool; `rest` follows
  // the warm-up (the checkout and what the session does with it). Returns once it is idle.
  ScriptedServer& pooled(const std::string& schema, Script rest, bool first = true, uint32_t thread_id = 42) {
    Script s = warmed(schema, thread_id);
    if (first) {  // the pool's first clean connection reads the server's wait_timeout
      s.push_back(expect_command(protocol::Command::kQuery, "SELECT @@session.wait_timeout"));
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
    const PoolKey key{std::string(kUser), kClientCaps & cap::kPoolKey};
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

  // Starts a session whose client end is app_.
  void start_session() {
    const SocketPair pair = make_socketpair();
    if (app_ >= 0) other_apps_.push_back(app_);
    app_ = pair.b;
    received_.clear();
    read_at_ = 0;
    auto* session = new ClientSession(*env_);
    session_ = session;
    ListenAddress listener;
    listener.tcp.host = "127.0.0.1";
    ASSERT_TRUE(session->adopt(pair.a, listener));
    ++sessions_;
    session->start();
  }
  // The next whole packet the session sent to the application.
  protocol::Packet next_packet() {
    std::optional<protocol::Packet> packet;
    run_until([&] {
      if (drain_fd(app_, received_) < 0) app_closed_ = true;
      auto d = protocol::decode_packet(std::span(received_).subspan(read_at_), 1 << 20, scratch_);
      if (!d) return app_closed_;
      packet = d->packet;
      read_at_ += d->consumed;
      return true;
    });
    EXPECT_TRUE(packet.has_value());
    return packet.value_or(protocol::Packet{0, {}});
  }
  void app_send(uint8_t seq, std::span<const uint8_t> payload) {
    std::vector<uint8_t> frame;
    const size_t start = protocol::begin_packet(frame);
    frame.insert(frame.end(), payload.begin(), payload.end());
    protocol::end_packet(frame, start, seq);
    ASSERT_EQ(write(app_, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  }
  void app_command(protocol::Command cmd, std::string_view arg = {}) {
    std::vector<uint8_t> payload = {static_cast<uint8_t>(cmd)};
    payload.insert(payload.end(), arg.begin(), arg.end());
    app_send(0, payload);
  }
  // The application's login (greeting, HandshakeResponse41 with `database`); returns camproxy's answer.
  protocol::Packet app_login(std::string database) {
    EXPECT_EQ(next_packet().seq_id, 0);  // the greeting
    protocol::HandshakeResponse41 resp;
    resp.capabilities = kClientCaps | (database.empty() ? 0 : cap::kConnectWithDb);
    resp.max_packet_size = 1U << 24;
    resp.collation = 45;
    resp.user = std::string(kUser);
    resp.auth_response.assign(20, 'x');
    resp.auth_plugin_name = std::string(protocol::kNativePassword);
    resp.database = std::move(database);
    std::vector<uint8_t> payload;
    protocol::ByteWriter w(payload);
    protocol::encode_handshake_response41(resp, w);
    app_send(1, payload);
    return next_packet();
  }
  static bool is_ok(const protocol::Packet& p) { return !p.payload.empty() && p.payload[0] == 0x00; }
  static uint16_t err_code(const protocol::Packet& p) {
    auto err = protocol::decode_err(p.payload, cap::kProtocol41);
    return err ? err->code : 0;
  }

  std::unique_ptr<FakePoolEnv> pool_env_;
  std::unique_ptr<UpstreamPool> pool_;
  std::unique_ptr<FakeSessionEnv> env_;
  ClientSession* session_ = nullptr;  // the last started; deletes itself once closed
  int app_ = -1;                      // the last started session's application end
  std::vector<int> other_apps_;       // of sessions started before it
  int sessions_ = 0;
  bool app_closed_ = false;

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
  std::vector<uint8_t> received_;
  size_t read_at_ = 0;
  std::vector<uint8_t> scratch_;
};

TEST_F(ClientSessionPoolTest, APooledConnectionIsFixedUpToTheClientsSchemaThenRelaysBothWays) {
  auto& srv = pooled("app", {expect_command(protocol::Command::kInitDb, "shop"), send(ok_payload()),
                             expect_command(protocol::Command::kQuery, "SELECT 1"), send(ok_payload(0x0002)), stall()});
  start_session();
  const auto ok = app_login("shop");
  EXPECT_TRUE(is_ok(ok)) << err_code(ok);
  EXPECT_EQ(ok.seq_id, 2);
  app_command(protocol::Command::kQuery, "SELECT 1");
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply));
  EXPECT_EQ(reply.seq_id, 1);
  EXPECT_TRUE(srv.finished()) << srv.error();
}

TEST_F(ClientSessionPoolTest, ASchemaTheServerRefusesAtCheckoutIsTheClientsError) {
  auto& srv = pooled("app", {expect_command(protocol::Command::kInitDb, "nope"),
                             send(err_payload(1049, "42000", "Unknown database 'nope'")), stall()});
  start_session();
  const auto err = app_login("nope");
  EXPECT_EQ(err_code(err), 1049);
  EXPECT_EQ(err.seq_id, 2);
  EXPECT_TRUE(srv.finished()) << srv.error();
}

TEST_F(ClientSessionPoolTest, AClientsResetConnectionIsRelayed) {
  auto& srv = pooled("app", {expect_command(protocol::Command::kResetConnection), send(ok_payload()), stall()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_command(protocol::Command::kResetConnection);
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply));
  EXPECT_TRUE(srv.finished()) << srv.error();
}

// spec §2.7, §5.1: the database connection is reset and given the new schema; the client's
// password is not checked and the server sees no COM_CHANGE_USER.
TEST_F(ClientSessionPoolTest, AClientsChangeUserResetsAndFixesUpTheConnection) {
  auto& srv = pooled(
      "app", {expect_command(protocol::Command::kResetConnection), send(ok_payload()),
              expect_command(protocol::Command::kInitDb, "other"), send(ok_payload()),
              expect_command(protocol::Command::kQuery, "SET character_set_client"), send(ok_payload()), stall()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  std::vector<uint8_t> change_user = {static_cast<uint8_t>(protocol::Command::kChangeUser)};
  for (char c : std::string(kUser)) change_user.push_back(static_cast<uint8_t>(c));
  change_user.push_back(0);
  change_user.push_back(0);  // no auth response
  for (char c : std::string("other")) change_user.push_back(static_cast<uint8_t>(c));
  change_user.push_back(0);
  change_user.push_back(45);  // collation, int<2>
  change_user.push_back(0);
  for (char c : protocol::kNativePassword) change_user.push_back(static_cast<uint8_t>(c));
  change_user.push_back(0);
  app_send(0, change_user);
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply);
  EXPECT_TRUE(srv.finished()) << srv.error();
}

// spec §7.1, §7.2: the database closes between commands; the other pooled connection (the
// checkout took the one with the client's schema) takes over with the schema and the session's
// SET replayed, and the client's next command is answered by it.
TEST_F(ClientSessionPoolTest, ALostConnectionBetweenCommandsIsReplacedUnseen) {
  auto& first = pooled("app", {expect_command(protocol::Command::kQuery, "SET time_zone = '+00:00'"),
                               send(ok_payload()), close_connection()});
  auto& second = pooled("other",
                        {expect_command(protocol::Command::kInitDb, "app"), send(ok_payload()),
                         expect_command(protocol::Command::kQuery, "SET time_zone = '+00:00'"), send(ok_payload()),
                         expect_command(protocol::Command::kQuery, "SELECT @@time_zone"), send(ok_payload()), stall()},
                        false);
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_command(protocol::Command::kQuery, "SET time_zone = '+00:00'");
  ASSERT_TRUE(is_ok(next_packet()));
  ASSERT_TRUE(run_until([&] { return first.finished(); })) << first.error();
  app_command(protocol::Command::kQuery, "SELECT @@time_zone");
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply);
  EXPECT_TRUE(second.finished()) << second.error();
}

// spec §7.3: KILL n names camproxy's connection id n; the database is asked to kill the thread
// of that session's connection, through the asking session's own connection.
TEST_F(ClientSessionPoolTest, KillOfAnotherSessionIsRewrittenToItsDatabaseThread) {
  pooled("a", {stall()}, true, 42);
  auto& b = pooled("b", {expect_command(protocol::Command::kQuery, "KILL CONNECTION 42"), send(ok_payload()), stall()},
                   false, 43);
  start_session();  // connection id 1
  ASSERT_TRUE(is_ok(app_login("a")));
  start_session();  // connection id 2
  ASSERT_TRUE(is_ok(app_login("b")));
  app_command(protocol::Command::kQuery, "KILL 1");
  const auto reply = next_packet();
  EXPECT_TRUE(is_ok(reply)) << err_code(reply);
  EXPECT_TRUE(b.finished()) << b.error();
}

// Process draining: a session between transactions closes at once; one inside a transaction
// once the COMMIT's OK has reached its client.
TEST_F(ClientSessionPoolTest, DrainClosesASessionBetweenTransactionsAtOnce) {
  pooled("app", {expect_command(protocol::Command::kResetConnection), stall()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  session_->drain();
  EXPECT_TRUE(run_until([&] { return env_->closed_ == 1; }));
  std::vector<uint8_t> rest;
  EXPECT_TRUE(run_until([&] { return drain_fd(app_, rest) < 0; })) << "the client's connection is closed";
  EXPECT_TRUE(rest.empty());
}

TEST_F(ClientSessionPoolTest, DrainClosesASessionInATransactionAfterItsCommit) {
  constexpr uint16_t kInTrans = protocol::status::kInTrans | protocol::status::kAutocommit;
  pooled("app", {expect_command(protocol::Command::kQuery, "BEGIN"), send(ok_payload(kInTrans)),
                 expect_command(protocol::Command::kQuery, "COMMIT"), send(ok_payload()),
                 expect_command(protocol::Command::kResetConnection), stall()});
  start_session();
  ASSERT_TRUE(is_ok(app_login("app")));
  app_command(protocol::Command::kQuery, "BEGIN");
  ASSERT_TRUE(is_ok(next_packet()));
  session_->drain();
  run_for(50);  // asserting that it does NOT close (a close would be at once)
  EXPECT_EQ(env_->closed_, 0) << "inside a transaction it stays";
  app_command(protocol::Command::kQuery, "COMMIT");
  EXPECT_TRUE(is_ok(next_packet()));
  EXPECT_TRUE(run_until([&] { return env_->closed_ == 1; }));
}

}  // namespace
}  // namespace camproxy::proxy::testing
