// The relay loop over socketpairs: two proxy::Transport objects on one libuv loop forward
// bytes both ways with back-pressure, as a client session does after both handshakes.
//
//   bench thread ── app_fd ═ client Transport ─┐ relay thread (uv loop)
//   bench thread ── server_fd ═ upstream Transport ─┘
//
// The bench thread plays the application and the database with blocking I/O (bounded by
// SO_RCVTIMEO / SO_SNDTIMEO, so a broken relay fails the benchmark instead of hanging it).
// relay:0 is the baseline: one socketpair, no relay, same traffic; relay:1 relays on the epoll
// backend, relay:2 on the io_uring one (a UringLoop attached to the relay's loop).
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "proxy/net/transport.h"
#include "proxy/net/uring_loop.h"

namespace camproxy::bench {
namespace {

using proxy::Transport;
using proxy::UringLoop;

enum RelayKind : int64_t { kNoRelay = 0, kEpollRelay = 1, kUringRelay = 2 };

constexpr int kIoTimeoutSeconds = 5;

// Forwards everything each side reads to the other; pauses a side while the other's write
// queue is non-empty (the back-pressure rule of proxy/net/transport.h).
class Relay final : private Transport::Events {
 public:
  Relay() = default;
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Takes ownership of both fds (closed on failure too). If either cannot be attached the
  // loop only gets closing handles, and the bench thread's I/O times out.
  void attach(uv_loop_t* loop, int client_fd, int upstream_fd) {
    bool ok = open_pipe(client_, loop, client_fd);
    ok = open_pipe(upstream_, loop, upstream_fd) && ok;  // always tried: both fds get owned
    if (!ok) {
      close_both();
      return;
    }
    client_.start_reading();
    upstream_.start_reading();
  }

 private:
  static bool open_pipe(Transport& t, uv_loop_t* loop, int fd) {
    // The handle union starts with the pipe: stream() is the uv_pipe_t's address.
    if (t.init_pipe(loop) == 0 && uv_pipe_open(reinterpret_cast<uv_pipe_t*>(t.stream()), fd) == 0) {
      return true;
    }
    close(fd);  // not taken by the handle, so uv_close will not close it
    return false;
  }
  Transport& other(Transport& t) { return &t == &client_ ? upstream_ : client_; }
  void close_both() {
    client_.close();
    upstream_.close();
  }

  void on_data(Transport& t, std::span<const uint8_t> data) override {
    Transport& peer = other(t);
    peer.write(data);
    if (peer.has_pending_writes()) t.stop_reading();
  }
  void on_drained(Transport& t) override { other(t).start_reading(); }
  void on_error(Transport&, int, const std::string&) override { close_both(); }
  void on_tls_ready(Transport&) override {}
  void on_closed(Transport&) override {}

  Transport client_{*this};
  Transport upstream_{*this};
};

// Owns the two ends the bench thread uses and, with a relay, the loop thread between them.
class RelayHarness {
 public:
  explicit RelayHarness(int64_t kind) {
    const bool with_relay = kind != kNoRelay;
    int app_pair[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, app_pair) != 0) return;
    app_fd_ = app_pair[0];
    if (!with_relay) {
      server_fd_ = app_pair[1];
      ok_ = set_timeouts(app_fd_) && set_timeouts(server_fd_);
      return;
    }
    int server_pair[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, server_pair) != 0) {
      close(app_pair[1]);
      return;
    }
    server_fd_ = server_pair[0];
    ok_ = set_timeouts(app_fd_) && set_timeouts(server_fd_);
    loop_thread_ = std::thread([this, kind, client_fd = app_pair[1], upstream_fd = server_pair[1]] {
      loop_closed_ = run_relay(client_fd, upstream_fd, kind == kUringRelay);
    });
  }
  RelayHarness(const RelayHarness&) = delete;
  RelayHarness& operator=(const RelayHarness&) = delete;

  ~RelayHarness() { shut_down(); }

  // Closing our ends gives the relay EOF on both sides; it closes its handles and the loop
  // runs out of work. True if the loop then closed cleanly (every handle closed) or there
  // was no relay.
  bool shut_down() {
    if (app_fd_ >= 0) close(app_fd_);
    if (server_fd_ >= 0) close(server_fd_);
    app_fd_ = server_fd_ = -1;
    if (loop_thread_.joinable()) loop_thread_.join();
    return loop_closed_;
  }

  bool ok() const { return ok_; }
  int app_fd() const { return app_fd_; }
  int server_fd() const { return server_fd_; }

 private:
  static bool set_timeouts(int fd) {
    timeval tv{kIoTimeoutSeconds, 0};
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
           setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0;
  }

  static bool run_relay(int client_fd, int upstream_fd, bool uring) {
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
      close(client_fd);
      close(upstream_fd);
      return false;
    }
    std::string error;
    std::unique_ptr<UringLoop> ring = uring ? UringLoop::create(&loop, error) : nullptr;
    if (uring && !ring) {  // no io_uring here: the bench thread's I/O times out and reports it
      close(client_fd);
      close(upstream_fd);
      return uv_loop_close(&loop) == 0;
    }
    {
      Relay relay;
      relay.attach(&loop, client_fd, upstream_fd);
      UringLoop::run_loop(&loop, UV_RUN_DEFAULT);  // through the ring when there is one
    }
    if (ring) {
      ring->close();
      uv_run(&loop, UV_RUN_DEFAULT);
      ring.reset();
    }
    return uv_loop_close(&loop) == 0;
  }

  int app_fd_ = -1;
  int server_fd_ = -1;
  bool ok_ = false;
  bool loop_closed_ = true;  // written by the loop thread before join()
  std::thread loop_thread_;
};

bool send_all(int fd, std::span<const uint8_t> data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data = data.subspan(static_cast<size_t>(n));
  }
  return true;
}

bool recv_exact(int fd, std::span<uint8_t> out) {
  while (!out.empty()) {
    ssize_t n = recv(fd, out.data(), out.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out = out.subspan(static_cast<size_t>(n));
  }
  return true;
}

// One query round trip: a 64-byte command from the application, a response of range(1) bytes
// from the database (64: an OK packet or a one-row result; 16 KiB: a result set).
void BM_relay_round_trip(benchmark::State& state) {
  constexpr size_t kRequestSize = 64;
  RelayHarness harness(state.range(0));
  if (!harness.ok()) {
    state.SkipWithError("socketpair setup failed");
    return;
  }
  const std::vector<uint8_t> request(kRequestSize, 0x03);
  const std::vector<uint8_t> response(static_cast<size_t>(state.range(1)), 0x01);
  std::vector<uint8_t> in(std::max(request.size(), response.size()));
  for (auto _ : state) {
    if (!send_all(harness.app_fd(), request) || !recv_exact(harness.server_fd(), std::span(in).first(request.size())) ||
        !send_all(harness.server_fd(), response) ||
        !recv_exact(harness.app_fd(), std::span(in).first(response.size()))) {
      state.SkipWithError("relay lost or stalled bytes");
      return;
    }
  }
  if (!harness.shut_down()) state.SkipWithError("relay loop did not close cleanly");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(request.size() + response.size()));
}
BENCHMARK(BM_relay_round_trip)
    ->ArgNames({"relay", "response"})
    ->ArgsProduct({{0, 1, 2}, {64, 16 * 1024}})
    ->UseRealTime();

// Bulk transfer one way (a large result set): 64 KiB per iteration, fits the socket buffers.
void BM_relay_bulk(benchmark::State& state) {
  constexpr size_t kChunk = 64 * 1024;
  RelayHarness harness(state.range(0));
  if (!harness.ok()) {
    state.SkipWithError("socketpair setup failed");
    return;
  }
  const std::vector<uint8_t> chunk(kChunk, 0x42);
  std::vector<uint8_t> in(kChunk);
  for (auto _ : state) {
    if (!send_all(harness.server_fd(), chunk) || !recv_exact(harness.app_fd(), in)) {
      state.SkipWithError("relay lost or stalled bytes");
      return;
    }
  }
  if (!harness.shut_down()) state.SkipWithError("relay loop did not close cleanly");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kChunk));
}
BENCHMARK(BM_relay_bulk)->ArgName("relay")->Arg(0)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
}  // namespace camproxy::bench
