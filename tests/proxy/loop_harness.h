#pragma once
// A real libuv loop for unit tests of classes that own libuv handles.
//
// LoopTest owns the loop and ignores SIGPIPE as the program does. run_until() runs it until a condition holds or a
// deadline passes (a uv timer, never a sleep). TearDown() first lets pending closes finish, then closes whatever the
// test left open (each one a test failure: every test must close what it opened), runs the loop to the end and checks
// uv_loop_close() == 0.
//
// Fixtures that own objects holding handles close them in their own TearDown() before calling
// LoopTest::TearDown(); harness objects made with own() are closed by LoopTest itself.
#include <gtest/gtest.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace camproxy::proxy::testing {

// A harness object with handles of its own (ScriptedServer, ...): close() starts closing them,
// closed() says when their close callbacks have all run.
class LoopObject {
 public:
  virtual ~LoopObject() = default;
  virtual void close() = 0;
  virtual bool closed() const = 0;
};

class LoopTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kDefaultTimeoutMs = 5000;

  void SetUp() override;
  void TearDown() override;

  uv_loop_t* loop() { return &loop_; }

  // Runs the loop until `done()` is true; false if `timeout_ms` passed first, or if the loop
  // ran out of work with `done()` still false (nothing could make it true any more).
  bool run_until(const std::function<bool()>& done, uint64_t timeout_ms = kDefaultTimeoutMs);
  // Runs the loop until no handle or request is active (pending closes included).
  bool run_until_idle(uint64_t timeout_ms = kDefaultTimeoutMs);
  // Runs the loop for `ms` of loop time, for tests asserting that something does NOT happen.
  void run_for(uint64_t ms);

  // Handles on the loop not yet closing, without the harness's own.
  int open_handle_count();

  // Keeps a harness object alive for the test and closes it at TearDown().
  template <typename T>
  T& own(std::unique_ptr<T> object) {
    T& ref = *object;
    owned_.push_back(std::move(object));
    return ref;
  }

 private:
  static void on_deadline(uv_timer_t* t);

  uv_loop_t loop_{};
  uv_timer_t deadline_{};  // unreferenced: it bounds a wait without keeping the loop alive
  bool expired_ = false;
  std::vector<std::unique_ptr<LoopObject>> owned_;
};

// A connected AF_UNIX stream pair; the caller owns both descriptors.
struct SocketPair {
  int a = -1;
  int b = -1;
};
SocketPair make_socketpair();
// Shrinks the kernel buffers of `fd` (send and receive) so that back-pressure shows quickly.
void shrink_socket_buffers(int fd, int bytes);
// A loopback port that nothing listens on (bound, read and released): connecting is refused.
uint16_t unused_tcp_port();
// A connected loopback TCP pair made with plain sockets (accept done): caller owns both fds.
SocketPair make_tcp_pair();
// Reads everything `fd` has right now (non-blocking); appends to `out`, returns bytes read,
// or -1 once the peer closed.
long drain_fd(int fd, std::vector<uint8_t>& out);

}  // namespace camproxy::proxy::testing
