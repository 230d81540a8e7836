#pragma once
// What the ClientSession tests share: a SessionEnv over a real UpstreamPool (FakePoolEnv) and a
// fake token source, the application's end of a session (a Transport over a socketpair, so that
// it can speak TLS), and the fixture that starts sessions and reads the packets they send.
#include <openssl/ssl.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/constants.h"
#include "protocol/handshake_response.h"
#include "proxy/net/transport.h"
#include "proxy/pool/upstream_pool.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"
#include "proxy/tokens/token_source.h"
#include "tests/proxy/loop_harness.h"
#include "tests/proxy/pool_test_support.h"
#include "tests/proxy/scripted_server.h"

namespace camproxy::proxy::testing {

inline constexpr std::string_view kUser = "app";  // no account table: the user is the account
inline constexpr uint32_t kClientCaps = protocol::cap::kProtocol41 | protocol::cap::kSecureConnection |
                                        protocol::cap::kPluginAuth | protocol::cap::kLongPassword;

// One account's token, whatever the account; records what the session asks of it.
class FakeTokenSource final : public TokenSource {
 public:
  std::shared_ptr<const TokenState> current(const std::string&) override { return token_; }
  TokenDemand request(const std::string& account, uint64_t seen_generation) override {
    requests.emplace_back(account, seen_generation);
    return TokenDemand::wait;
  }
  bool request_after_rejection(const std::string& account, uint64_t rejected_generation) override {
    rejected.emplace_back(account, rejected_generation);
    return true;
  }

  std::shared_ptr<const TokenState> token_;
  std::vector<std::pair<std::string, uint64_t>> requests;
  std::vector<std::pair<std::string, uint64_t>> rejected;
};

// The session's world: the pool's settings and collations, the real pool, the token source
// (holding the FakePoolEnv's token, "token-7") and a client-facing TLS context if the test sets one.
class FakeSessionEnv final : public SessionEnv {
 public:
  FakeSessionEnv(uv_loop_t* loop, FakePoolEnv& pool_env, UpstreamPool& pool);

  uv_loop_t* loop() override { return loop_; }
  int index() const override { return 0; }
  const TargetConfig& config() const override { return pool_env_.config_; }
  TokenSource& tokens() override { return tokens_; }
  UpstreamPool& pool() override { return pool_; }
  CollationNames& collations() override { return pool_env_.collations(); }
  SessionRegistry& sessions() override { return sessions_; }
  std::shared_ptr<const LocalUsers> local_users() const override { return nullptr; }
  SSL_CTX* client_tls() const override { return client_tls_; }
  SSL_CTX* upstream_tls() const override { return nullptr; }
  std::shared_ptr<const GreetingProfile> profile() const override { return profile_; }
  void set_profile(std::shared_ptr<const GreetingProfile> p) override { profile_ = std::move(p); }
  uint32_t next_connection_id() override { return ++last_id_; }
  bool admit_client() override {
    ++open_;
    return admit_;
  }
  void client_gone() override { --open_; }
  void login_started(ClientSession*) override {}
  void login_finished(ClientSession*) override {}
  void add_token_waiter(ClientSession* s) override { token_waiters_.insert(s); }
  void remove_token_waiter(ClientSession* s) override { token_waiters_.erase(s); }
  void on_session_closed(ClientSession*) override { ++closed_; }

  FakeTokenSource tokens_;
  SessionRegistry sessions_;
  SSL_CTX* client_tls_ = nullptr;
  std::shared_ptr<const GreetingProfile> profile_;
  std::set<ClientSession*> token_waiters_;
  uint32_t last_id_ = 0;
  bool admit_ = true;
  int open_ = 0;  // admitted and not yet gone
  int closed_ = 0;

 private:
  uv_loop_t* loop_;
  FakePoolEnv& pool_env_;
  UpstreamPool& pool_;
};

// The application: what camproxy sent it, cut into whole packets, and what it sends, framed.
class AppEnd final : public LoopObject, private Transport::Events {
 public:
  AppEnd(uv_loop_t* loop, int fd);  // takes the descriptor
  ~AppEnd() override;

  // The next whole packet received, if one is complete.
  std::optional<ReceivedPacket> take_packet();
  bool has_unread() const { return read_at_ < received_.size(); }
  // camproxy closed the connection (or it failed).
  bool ended() const { return ended_; }

  void send(uint8_t seq, std::span<const uint8_t> payload);
  // Bytes as they are, in one write: packets the application pipelines in one read.
  void send_raw(std::span<const uint8_t> bytes) { transport_.write(bytes); }
  // The client side of TLS with `ctx` (no certificate check: the test's own context).
  void start_tls(SSL_CTX* ctx);
  bool tls_ready() const { return tls_ready_; }

  // LoopObject
  void close() override { transport_.close(); }
  bool closed() const override { return closed_; }

 private:
  // Transport::Events
  void on_data(Transport&, std::span<const uint8_t> data) override;
  void on_drained(Transport&) override {}
  void on_error(Transport&, int, const std::string&) override { ended_ = true; }
  void on_tls_ready(Transport&) override { tls_ready_ = true; }
  void on_closed(Transport&) override { closed_ = true; }

  Transport transport_;
  std::vector<uint8_t> received_;
  size_t read_at_ = 0;
  bool ended_ = false;
  bool tls_ready_ = false;
  bool closed_ = false;
};

// A HandshakeResponse41 from `user` with kClientCaps (plus CONNECT_WITH_DB when `database` is
// set), collation 45, a mysql_native_password response of 20 'x' (camproxy takes any password).
std::vector<uint8_t> login_payload(std::string database = {}, uint32_t extra_caps = 0, std::string_view user = kUser);
// An SSLRequest with kClientCaps (spec §2.3).
std::vector<uint8_t> ssl_request_payload();

bool is_ok(const ReceivedPacket& p);
uint16_t err_code(const ReceivedPacket& p);

class SessionTest : public LoopTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts a session whose application end is app(); previous ones stay open.
  void start_session();
  AppEnd& app() { return *apps_.back(); }
  // The next whole packet the session sent to the application (a failure after 5 s).
  ReceivedPacket next_packet();
  void app_send(uint8_t seq, std::span<const uint8_t> payload) { app().send(seq, payload); }
  void app_command(protocol::Command cmd, std::string_view arg = {});
  // The application's login (greeting, HandshakeResponse41 with `database`); camproxy's answer.
  ReceivedPacket app_login(std::string database, uint32_t extra_caps = 0, std::string_view user = kUser);

  std::unique_ptr<FakePoolEnv> pool_env_;
  std::unique_ptr<UpstreamPool> pool_;
  std::unique_ptr<FakeSessionEnv> env_;
  ClientSession* session_ = nullptr;  // the last started; deletes itself once closed
  int sessions_ = 0;

 private:
  std::vector<AppEnd*> apps_;  // own()ed by the harness
};

}  // namespace camproxy::proxy::testing
