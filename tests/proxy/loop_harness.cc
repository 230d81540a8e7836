#include "tests/proxy/loop_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>

#include "proxy/net/uring_loop.h"

namespace camproxy::proxy::testing {
namespace {

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

int bind_loopback(sockaddr_in& addr) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot bind a loopback socket: errno " << errno;
  }
  return fd;
}

}  // namespace

void LoopTest::SetUp() {
  // As the program does (app.cc): a write to a closed socket is an EPIPE, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  ASSERT_EQ(uv_loop_init(&loop_), 0);
  uv_timer_init(&loop_, &deadline_);
  deadline_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&deadline_));
}

// uv_stop() as well as the flag: when the deadline is already due as a UV_RUN_ONCE iteration
// starts, libuv runs it before computing the poll timeout, finds no timer left and would block in
// epoll_wait(-1) on handles that will never fire (a slow sanitizer build hit this). A stopped
// loop polls with timeout 0 and returns.
void LoopTest::on_deadline(uv_timer_t* t) {
  auto* self = static_cast<LoopTest*>(t->data);
  self->expired_ = true;
  uv_stop(t->loop);
}

bool LoopTest::run_until(const std::function<bool()>& done, uint64_t timeout_ms) {
  expired_ = false;
  // The timer is unreferenced, yet libuv's poll timeout honours every timer in the heap: a
  // UV_RUN_ONCE with other live handles wakes at the deadline at the latest.
  uv_timer_start(&deadline_, on_deadline, timeout_ms, 0);
  bool ok = done();
  while (!ok && !expired_ && uv_loop_alive(&loop_)) {
    UringLoop::run_loop(&loop_, UV_RUN_ONCE);  // a loop with an io_uring runs through it
    ok = done();
  }
  uv_timer_stop(&deadline_);
  return ok;
}

bool LoopTest::run_until_idle(uint64_t timeout_ms) {
  return run_until([this] { return !uv_loop_alive(&loop_); }, timeout_ms);
}

void LoopTest::run_for(uint64_t ms) {
  uv_ref(reinterpret_cast<uv_handle_t*>(&deadline_));
  run_until([] { return false; }, ms);
  uv_unref(reinterpret_cast<uv_handle_t*>(&deadline_));
}

void LoopTest::TearDown() {
  for (auto& object : owned_) object->close();
  EXPECT_TRUE(run_until([this] {
    for (auto& object : owned_) {
      if (!object->closed()) return false;
    }
    return true;
  })) << "a harness object did not finish closing";
  EXPECT_TRUE(run_until_idle()) << "the loop still has active handles or requests";
  EXPECT_EQ(open_handle_count(), 0) << "the test left handles open";
  // Close what was left (already a failure above) so that the loop can be closed.
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop_), 0);
  owned_.clear();
}

int LoopTest::open_handle_count() {
  struct Count {
    uv_handle_t* skip;
    int n = 0;
  } count{reinterpret_cast<uv_handle_t*>(&deadline_)};
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void* arg) {
        auto* c = static_cast<Count*>(arg);
        if (h != c->skip && !uv_is_closing(h)) ++c->n;
      },
      &count);
  return count.n;
}

SocketPair make_socketpair() {
  int fds[2] = {-1, -1};
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0) << "errno " << errno;
  set_nonblocking(fds[0]);
  set_nonblocking(fds[1]);
  return {fds[0], fds[1]};
}

void shrink_socket_buffers(int fd, int bytes) {
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

uint16_t unused_tcp_port() {
  sockaddr_in addr{};
  int fd = bind_loopback(addr);
  close(fd);
  return ntohs(addr.sin_port);
}

SocketPair make_tcp_pair() {
  sockaddr_in addr{};
  int listener = bind_loopback(addr);
  EXPECT_EQ(listen(listener, 1), 0);
  int client = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << "errno " << errno;
  int server = accept(listener, nullptr, nullptr);
  EXPECT_GE(server, 0) << "errno " << errno;
  close(listener);
  set_nonblocking(client);
  set_nonblocking(server);
  return {client, server};
}

long drain_fd(int fd, std::vector<uint8_t>& out) {
  long total = 0;
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      out.insert(out.end(), buf, buf + n);
      total += n;
      continue;
    }
    if (n == 0) return -1;
    if (errno == EINTR) continue;
    return total;  // EAGAIN: nothing more for now
  }
}

}  // namespace camproxy::proxy::testing
