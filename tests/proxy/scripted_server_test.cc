// The test harness itself: the loop helpers and the scripted server, driven by a plain client.
#include "tests/proxy/scripted_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "protocol/packet.h"
#include "tests/proxy/loop_harness.h"

namespace camproxy::proxy::testing {
namespace {

class HarnessTest : public LoopTest {};

// A client made of a plain uv_tcp_t, to check the server without the classes under test.
struct RawClient {
  uv_tcp_t tcp{};
  uv_connect_t req{};
  bool connected = false;
  bool closed = false;
  std::vector<uint8_t> in;

  void connect(uv_loop_t* loop, uint16_t port) {
    uv_tcp_init(loop, &tcp);
    tcp.data = this;
    req.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_connect(&req, &tcp, reinterpret_cast<const sockaddr*>(&addr), [](uv_connect_t* r, int status) {
      auto* self = static_cast<RawClient*>(r->data);
      self->connected = status == 0;
      if (status != 0) return;
      uv_read_start(
          reinterpret_cast<uv_stream_t*>(&self->tcp),
          [](uv_handle_t*, size_t, uv_buf_t* b) {
            static char buf[4096];
            *b = uv_buf_init(buf, sizeof(buf));
          },
          [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
            auto* c = static_cast<RawClient*>(s->data);
            if (n > 0) c->in.insert(c->in.end(), b->base, b->base + n);
          });
    });
  }
  void write_packet(std::vector<uint8_t> payload, uint8_t seq) {
    auto* frames = new std::vector<uint8_t>;
    protocol::encode_packet(payload, seq, *frames);
    auto* w = new uv_write_t;
    w->data = frames;
    uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(frames->data()), static_cast<unsigned>(frames->size()));
    uv_write(w, reinterpret_cast<uv_stream_t*>(&tcp), &b, 1, [](uv_write_t* r, int) {
      delete static_cast<std::vector<uint8_t>*>(r->data);
      delete r;
    });
  }
  void close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp),
             [](uv_handle_t* h) { static_cast<RawClient*>(h->data)->closed = true; });
  }
};

TEST_F(HarnessTest, PlaysItsScriptWithSequenceIds) {
  auto& server = own(std::make_unique<ScriptedServer>(loop(), Script{
                                                                  send({0x0a, 1, 2}),
                                                                  expect_prefix({0x03, 'S'}),
                                                                  send(ok_payload()),
                                                                  stall(),
                                                              }));
  RawClient client;
  client.connect(loop(), server.port());
  ASSERT_TRUE(run_until([&] { return client.in.size() >= 7; }));
  EXPECT_EQ(client.in, (std::vector<uint8_t>{3, 0, 0, 0, 0x0a, 1, 2}));
  client.write_packet({0x03, 'S', 'E', 'L'}, 5);
  ASSERT_TRUE(run_until([&] { return server.finished(); })) << server.error();
  ASSERT_TRUE(run_until([&] { return client.in.size() >= 7 + 4 + 7; }));
  EXPECT_EQ(client.in[7 + 3], 6) << "the reply continues the client's sequence";
  ASSERT_EQ(server.received().size(), 1u);
  EXPECT_EQ(server.received()[0].seq, 5);
  client.close();
  ASSERT_TRUE(run_until([&] { return client.closed; }));
}

TEST_F(HarnessTest, ReportsAMismatchAndAnEarlyClose) {
  auto& server = own(std::make_unique<ScriptedServer>(loop(), Script{expect_prefix({0x01}), expect_any()}));
  RawClient client;
  client.connect(loop(), server.port());
  ASSERT_TRUE(run_until([&] { return server.accepted(); }));
  client.write_packet({0x02}, 0);
  ASSERT_TRUE(run_until([&] { return server.failed(); }));
  EXPECT_NE(server.error().find("step 0"), std::string::npos) << server.error();
  client.close();
  ASSERT_TRUE(run_until([&] { return client.closed && server.client_gone(); }));
}

TEST_F(HarnessTest, RunUntilGivesUpAtTheDeadline) {
  uv_timer_t keeps_loop_alive;
  uv_timer_init(loop(), &keeps_loop_alive);
  uv_timer_start(
      &keeps_loop_alive, [](uv_timer_t*) {}, 60000, 0);
  uint64_t start = uv_now(loop());
  EXPECT_FALSE(run_until([] { return false; }, 50));
  EXPECT_GE(uv_now(loop()) - start, 50u);
  EXPECT_LT(uv_now(loop()) - start, 5000u);
  uv_close(reinterpret_cast<uv_handle_t*>(&keeps_loop_alive), nullptr);
  EXPECT_TRUE(run_until_idle());
}

TEST_F(HarnessTest, RunUntilReturnsAtOnceWhenNothingCanHappen) {
  uint64_t start = uv_now(loop());
  EXPECT_FALSE(run_until([] { return false; }, 5000));
  uv_update_time(loop());
  EXPECT_LT(uv_now(loop()) - start, 1000u);
}

}  // namespace
}  // namespace camproxy::proxy::testing
