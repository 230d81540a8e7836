#include "tests/proxy/session_test_support.h"

#include <gtest/gtest.h>

#include "protocol/byte_io.h"
#include "protocol/ok_err_eof.h"
#include "protocol/packet.h"

namespace camproxy::proxy::testing {

namespace cap = protocol::cap;

FakeSessionEnv::FakeSessionEnv(uv_loop_t* loop, FakePoolEnv& pool_env, UpstreamPool& pool)
    : loop_(loop), pool_env_(pool_env), pool_(pool) {
  tokens_.token_ = pool_env.token_;
  // A database greeting already learnt: sessions greet at once.
  profile_ =
      std::make_shared<GreetingProfile>(GreetingProfile{"8.0.36", 0x81fff7fe, 0, 45, protocol::status::kAutocommit});
}

AppEnd::AppEnd(uv_loop_t* loop, int fd) : transport_(*this) {
  EXPECT_EQ(transport_.init_pipe(loop), 0);
  EXPECT_EQ(uv_pipe_open(reinterpret_cast<uv_pipe_t*>(transport_.stream()), fd), 0);
  transport_.start_reading();
}

AppEnd::~AppEnd() = default;

std::optional<ReceivedPacket> AppEnd::take_packet() {
  std::vector<uint8_t> scratch;
  auto d = protocol::decode_packet(std::span(received_).subspan(read_at_), 1 << 20, scratch);
  if (!d) return std::nullopt;
  read_at_ += d->consumed;
  return ReceivedPacket{d->packet.seq_id, {d->packet.payload.begin(), d->packet.payload.end()}};
}

void AppEnd::send(uint8_t seq, std::span<const uint8_t> payload) {
  std::vector<uint8_t> frames;
  protocol::encode_packet(payload, seq, frames);
  transport_.write(frames);
}

void AppEnd::start_tls(SSL_CTX* ctx) {
  SSL* ssl = SSL_new(ctx);
  SSL_set_connect_state(ssl);
  transport_.start_tls(ssl, {});
}

void AppEnd::on_data(Transport&, std::span<const uint8_t> data) {
  received_.insert(received_.end(), data.begin(), data.end());
}

std::vector<uint8_t> login_payload(std::string database, uint32_t extra_caps, std::string_view user) {
  protocol::HandshakeResponse41 resp;
  resp.capabilities = kClientCaps | extra_caps | (database.empty() ? 0 : cap::kConnectWithDb);
  resp.max_packet_size = 1U << 24;
  resp.collation = 45;
  resp.user = std::string(user);
  resp.auth_response.assign(20, 'x');
  resp.auth_plugin_name = std::string(protocol::kNativePassword);
  resp.database = std::move(database);
  std::vector<uint8_t> payload;
  protocol::ByteWriter w(payload);
  protocol::encode_handshake_response41(resp, w);
  return payload;
}

std::vector<uint8_t> ssl_request_payload() {
  std::vector<uint8_t> payload;
  protocol::ByteWriter w(payload);
  protocol::encode_ssl_request({kClientCaps | cap::kSsl, 1U << 24, 45, 0}, w);
  return payload;
}

bool is_ok(const ReceivedPacket& p) { return !p.payload.empty() && p.payload[0] == 0x00; }

uint16_t err_code(const ReceivedPacket& p) {
  auto err = protocol::decode_err(p.payload, cap::kProtocol41);
  return err ? err->code : 0;
}

void SessionTest::SetUp() {
  LoopTest::SetUp();
  pool_env_ = std::make_unique<FakePoolEnv>(loop());
  pool_ = std::make_unique<UpstreamPool>(*pool_env_);
  pool_->start();
  env_ = std::make_unique<FakeSessionEnv>(loop(), *pool_env_, *pool_);
}

// The applications leave first: each session then closes and counts itself out.
void SessionTest::TearDown() {
  for (AppEnd* a : apps_) a->close();
  EXPECT_TRUE(run_until([&] { return env_->closed_ == sessions_; })) << "every session closed";
  pool_->close();
  LoopTest::TearDown();
}

void SessionTest::start_session() {
  const SocketPair pair = make_socketpair();
  apps_.push_back(&own(std::make_unique<AppEnd>(loop(), pair.b)));
  session_ = new ClientSession(*env_);
  ListenAddress listener;
  listener.tcp.host = "127.0.0.1";  // a loopback listener: TLS is not required
  ASSERT_TRUE(session_->adopt(pair.a, listener));
  ++sessions_;
  session_->start();
}

ReceivedPacket SessionTest::next_packet() {
  std::optional<ReceivedPacket> packet;
  run_until([&] {
    packet = app().take_packet();
    return packet.has_value() || app().ended();
  });
  EXPECT_TRUE(packet.has_value()) << "no whole packet from camproxy";
  return packet.value_or(ReceivedPacket{});
}

void SessionTest::app_command(protocol::Command cmd, std::string_view arg) {
  std::vector<uint8_t> payload = {static_cast<uint8_t>(cmd)};
  payload.insert(payload.end(), arg.begin(), arg.end());
  app_send(0, payload);
}

ReceivedPacket SessionTest::app_login(std::string database, uint32_t extra_caps, std::string_view user) {
  EXPECT_EQ(next_packet().seq, 0);  // the greeting
  app_send(1, login_payload(std::move(database), extra_caps, user));
  return next_packet();
}

}  // namespace camproxy::proxy::testing
