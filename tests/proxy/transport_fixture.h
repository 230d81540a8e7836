#pragma once
// The Transport fixture shared by transport_test.cc and transport_close_test.cc: endpoints over
// socketpairs on a real loop, on the backend the test parameter names (epoll, or io_uring with
// a UringLoop attached to the loop; skipped where the kernel refuses io_uring).
#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proxy/net/tls.h"
#include "proxy/net/transport.h"
#include "proxy/net/uring_probe.h"
#include "tests/proxy/loop_harness.h"

namespace camproxy::proxy::testing {

// One side of a connection: a Transport and everything it reported.
struct Endpoint final : Transport::Events {
  Transport t{*this};
  std::vector<uint8_t> data;
  int drained = 0;
  std::vector<int> errors;
  int tls_ready = 0;
  int closed = 0;
  bool close_called = false;
  int events_after_close = 0;                                          // anything but on_closed after close()
  std::function<void(Endpoint&, std::span<const uint8_t>)> data_hook;  // replaces the default append

  void close() {
    close_called = true;
    t.close();
  }
  void note() {
    if (close_called) ++events_after_close;
  }
  void on_data(Transport&, std::span<const uint8_t> d) override {
    note();
    if (data_hook) {
      data_hook(*this, d);
    } else {
      data.insert(data.end(), d.begin(), d.end());
    }
  }
  void on_drained(Transport&) override {
    note();
    ++drained;
  }
  void on_error(Transport&, int code, const std::string&) override {
    note();
    errors.push_back(code);
  }
  void on_tls_ready(Transport&) override {
    note();
    ++tls_ready;
  }
  void on_closed(Transport&) override { ++closed; }
};

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(i * 7 + seed + i / 251);
  return out;
}

enum class Backend { epoll, io_uring };

class TransportTest : public LoopTest, public ::testing::WithParamInterface<Backend> {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    if (GetParam() != Backend::io_uring) return;
    if (auto why = uring_unavailable_reason()) GTEST_SKIP() << "io_uring not usable here: " << *why;
    std::string error;
    ring_ = UringLoop::create(loop(), error);
    ASSERT_TRUE(ring_) << error;
  }

  void TearDown() override {
    for (auto& e : endpoints_) e.close();
    EXPECT_TRUE(run_until([this] {
      for (auto& e : endpoints_) {
        if (e.closed == 0) return false;
      }
      return true;
    }));
    for (auto& e : endpoints_) EXPECT_EQ(e.closed, 1) << "on_closed exactly once";
    for (int fd : raw_fds_) ::close(fd);
    if (ring_) {
      EXPECT_EQ(ring_->in_flight(), 0u) << "every SQE finished before its transport closed";
      ring_->close();
      EXPECT_TRUE(run_until([this] { return ring_->closed(); }));
      ring_.reset();
    }
    LoopTest::TearDown();
  }

  // A Transport over one end of a socketpair (the Transport owns the descriptor).
  Endpoint& pipe_endpoint(int fd) {
    Endpoint& e = endpoints_.emplace_back();
    EXPECT_EQ(e.t.init_pipe(loop()), 0);
    EXPECT_EQ(e.t.uses_uring(), GetParam() == Backend::io_uring);
    EXPECT_EQ(uv_pipe_open(reinterpret_cast<uv_pipe_t*>(e.t.stream()), fd), 0);
    return e;
  }
  Endpoint& tcp_endpoint(int fd) {
    Endpoint& e = endpoints_.emplace_back();
    EXPECT_EQ(e.t.init_tcp(loop()), 0);
    EXPECT_EQ(e.t.uses_uring(), GetParam() == Backend::io_uring);
    EXPECT_EQ(uv_tcp_open(e.t.tcp(), fd), 0);
    return e;
  }
  std::pair<Endpoint*, Endpoint*> pipe_pair() {
    auto fds = testing::make_socketpair();
    return {&pipe_endpoint(fds.a), &pipe_endpoint(fds.b)};
  }
  // Small kernel buffers: a few hundred KiB of writes are enough to fill them.
  std::pair<Endpoint*, Endpoint*> small_pipe_pair() {
    auto fds = testing::make_socketpair();
    testing::shrink_socket_buffers(fds.a, 4096);
    testing::shrink_socket_buffers(fds.b, 4096);
    return {&pipe_endpoint(fds.a), &pipe_endpoint(fds.b)};
  }
  int keep_raw(int fd) {
    raw_fds_.push_back(fd);
    return fd;
  }

  // Writes `bytes` in 16 KiB pieces, as a relay would.
  static void write_in_pieces(Endpoint& e, const std::vector<uint8_t>& bytes) {
    for (size_t off = 0; off < bytes.size(); off += 16384) {
      e.t.write(std::span(bytes).subspan(off, std::min<size_t>(16384, bytes.size() - off)));
    }
  }

  void start_tls_pair(Endpoint& client, Endpoint& server) {
    std::string error;
    server_ctx_ = make_client_facing_ctx("", "", error);
    ASSERT_TRUE(server_ctx_) << error;
    client_ctx_ = make_upstream_ctx(UpstreamTlsMode::insecure_required, "", error);
    ASSERT_TRUE(client_ctx_) << error;
    SSL* s = SSL_new(server_ctx_.get());
    SSL_set_accept_state(s);
    server.t.start_tls(s, {});
    SSL* c = SSL_new(client_ctx_.get());
    SSL_set_connect_state(c);
    client.t.start_tls(c, {});
  }

  SslCtxPtr server_ctx_;
  SslCtxPtr client_ctx_;
  std::unique_ptr<UringLoop> ring_;  // the io_uring backend's, before the endpoints (closed after them)

 private:
  std::deque<Endpoint> endpoints_;
  std::vector<int> raw_fds_;
};

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::epoll ? "epoll" : "io_uring";
}

}  // namespace camproxy::proxy::testing
