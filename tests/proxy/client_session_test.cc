// ClientSession on a real libuv loop over a socketpair, built with a fake SessionEnv (no Worker,
// no pool, no CAM): the login phase up to the point where a database connection would be needed.
#include "proxy/session/client_session.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>

#include <gtest/gtest.h>

#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/handshake_response.h"
#include "protocol/handshake_v10.h"
#include "protocol/ok_err_eof.h"
#include "protocol/packet.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;

// What the login phase needs; the token service and the pool are never reached here.
class FakeEnv final : public SessionEnv {
 public:
  FakeEnv() { uv_loop_init(&loop_); }
  uv_loop_t* loop() override { return &loop_; }
  int index() const override { return 0; }
  const TargetConfig& config() const override { return config_; }
  TokenService& tokens() override { std::abort(); }
  UpstreamPool& pool() override { std::abort(); }
  CollationNames& collations() override { return collations_; }
  SessionRegistry& sessions() override { return sessions_; }
  std::shared_ptr<const LocalUsers> local_users() const override { return nullptr; }
  SSL_CTX* client_tls() const override { return nullptr; }
  SSL_CTX* upstream_tls() const override { return nullptr; }
  std::shared_ptr<const GreetingProfile> profile() const override { return profile_; }
  void set_profile(std::shared_ptr<const GreetingProfile> p) override { profile_ = std::move(p); }
  uint32_t next_connection_id() override { return 42; }
  bool admit_client() override {
    ++open_;
    return admit_;
  }
  void client_gone() override { --open_; }
  void login_started(ClientSession*) override {}
  void login_finished(ClientSession*) override {}
  void add_token_waiter(ClientSession*) override { std::abort(); }
  void remove_token_waiter(ClientSession*) override {}
  void on_session_closed(ClientSession*) override { ++closed_; }

  uv_loop_t loop_{};
  TargetConfig config_;
  CollationNames collations_;
  SessionRegistry sessions_;
  std::shared_ptr<const GreetingProfile> profile_ =
      std::make_shared<GreetingProfile>(GreetingProfile{"8.0.36", 0x81fff7fe, 45, protocol::status::kAutocommit});
  bool admit_ = true;
  int open_ = 0;
  int closed_ = 0;
};

class ClientSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0);
    listener_.tcp.host = "127.0.0.1";  // a loopback listener: no TLS required
  }
  void TearDown() override {
    if (fds_[1] >= 0) close(fds_[1]);
    uv_run(&env_.loop_, UV_RUN_DEFAULT);  // every handle closes
    EXPECT_EQ(uv_loop_close(&env_.loop_), 0);
  }

  void start_session() {
    auto* session = new ClientSession(env_);
    ASSERT_TRUE(session->adopt(fds_[0], listener_));
    session->start();
  }

  // Runs the loop and reads what the session sends until `done` holds or 5 s have passed.
  void pump(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      uv_run(&env_.loop_, UV_RUN_NOWAIT);
      pollfd p{fds_[1], POLLIN, 0};
      if (poll(&p, 1, 1) == 1) {
        uint8_t buf[4096];
        const ssize_t n = read(fds_[1], buf, sizeof buf);
        if (n <= 0) {
          peer_closed_ = true;
        } else {
          received_.insert(received_.end(), buf, buf + n);
        }
      }
    }
  }
  // The next whole packet the session sent, once it is there.
  protocol::Packet next_packet() {
    std::optional<protocol::Packet> packet;
    pump([&] {
      auto d = protocol::decode_packet(std::span(received_).subspan(read_at_), 1 << 20, scratch_);
      if (!d) return false;
      packet = d->packet;
      read_at_ += d->consumed;
      return true;
    });
    EXPECT_TRUE(packet.has_value());
    return packet.value_or(protocol::Packet{0, {}});
  }
  void send_login(std::string user) {
    protocol::HandshakeResponse41 resp;
    resp.capabilities = cap::kProtocol41 | cap::kSecureConnection | cap::kPluginAuth | cap::kLongPassword;
    resp.max_packet_size = 1U << 24;
    resp.collation = 45;
    resp.user = std::move(user);
    resp.auth_response.assign(20, 'x');
    resp.auth_plugin_name = std::string(protocol::kNativePassword);
    std::vector<uint8_t> frame;
    const size_t start = protocol::begin_packet(frame);
    protocol::ByteWriter w(frame);
    protocol::encode_handshake_response41(resp, w);
    protocol::end_packet(frame, start, 1);
    ASSERT_EQ(write(fds_[1], frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  }
  void expect_closed() {
    pump([&] { return peer_closed_ && env_.closed_ == 1; });
    EXPECT_TRUE(peer_closed_);
    EXPECT_EQ(env_.closed_, 1);
    EXPECT_EQ(env_.open_, 0);  // counted out again
  }

  FakeEnv env_;
  int fds_[2] = {-1, -1};
  ListenAddress listener_;
  std::vector<uint8_t> received_;
  size_t read_at_ = 0;
  std::vector<uint8_t> scratch_;
  bool peer_closed_ = false;
};

uint16_t err_code(const protocol::Packet& p) {
  auto err = protocol::decode_err(p.payload, cap::kProtocol41);
  return err ? err->code : 0;
}

TEST_F(ClientSessionTest, GreetsThenRefusesAnUnmappedUserInSequence) {
  env_.config_.accounts = {{"app", "ReadOnly"}};
  start_session();
  const auto greeting = next_packet();
  ASSERT_EQ(greeting.seq_id, 0);
  auto hs = protocol::decode_handshake_v10(greeting.payload);
  ASSERT_TRUE(hs.has_value());
  EXPECT_EQ(hs->server_version, "8.0.36");
  EXPECT_EQ(hs->connection_id, 42U);
  EXPECT_EQ(hs->capabilities & cap::kSsl, 0U);  // no certificate in this environment
  send_login("camtest");
  const auto err = next_packet();
  EXPECT_EQ(err.seq_id, 2);
  EXPECT_EQ(err_code(err), 1045);
  expect_closed();
}

TEST_F(ClientSessionTest, TooManyClientsGetTheErrInPlaceOfTheGreeting) {
  env_.admit_ = false;
  start_session();
  const auto err = next_packet();
  EXPECT_EQ(err.seq_id, 0);
  EXPECT_EQ(err_code(err), protocol::kErConCount);
  expect_closed();
}

TEST_F(ClientSessionTest, ASilentClientHitsTheHandshakeDeadline) {
  env_.config_.handshake_timeout = std::chrono::milliseconds(50);
  start_session();
  EXPECT_EQ(next_packet().seq_id, 0);  // the greeting
  const auto err = next_packet();
  EXPECT_EQ(err.seq_id, 1);
  EXPECT_EQ(err_code(err), protocol::kErHandshake);
  expect_closed();
}

TEST_F(ClientSessionTest, ABadFirstPacketIsRefused) {
  start_session();
  next_packet();
  const uint8_t quit[] = {0x01, 0x00, 0x00, 0x01, 0x01};
  ASSERT_EQ(write(fds_[1], quit, sizeof quit), static_cast<ssize_t>(sizeof quit));
  const auto err = next_packet();
  EXPECT_EQ(err.seq_id, 2);
  EXPECT_EQ(err_code(err), protocol::kErHandshake);
  expect_closed();
}

TEST_F(ClientSessionTest, AnSslRequestWithoutACertificateIsRefused) {
  start_session();
  next_packet();
  protocol::SslRequest req{cap::kProtocol41 | cap::kSecureConnection | cap::kSsl, 1U << 24, 45, 0};
  std::vector<uint8_t> frame;
  const size_t start = protocol::begin_packet(frame);
  protocol::ByteWriter w(frame);
  protocol::encode_ssl_request(req, w);
  protocol::end_packet(frame, start, 1);
  ASSERT_EQ(write(fds_[1], frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  const auto err = next_packet();
  EXPECT_EQ(err.seq_id, 2);
  auto decoded = protocol::decode_err(err.payload, cap::kProtocol41);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->message, make_client_error(ClientError::tls_not_offered, {}).message);
  expect_closed();
}

}  // namespace
}  // namespace camproxy::proxy
