#pragma once
// Accepting connections on a listening socket, in place of uv_listen(). When accept() fails
// with EMFILE or ENFILE, libuv (1.44, uv__server_io) plays its "emfile trick": it closes a
// reserve descriptor, accepts every pending connection and closes each at once, and calls
// nobody. The clients are reset, and nothing is logged or counted (issue 17). An Acceptor
// polls the listening socket itself and accepts with accept4(). When the process or the system
// runs out of descriptors (or the kernel runs out of socket memory), it logs once, counts
// camproxy_accept_pauses_total{reason}, and stops polling for kRetryMs. The pending clients
// wait in the kernel's backlog and are accepted once descriptors are free again.
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace camproxy::proxy {

class Acceptor {
 public:
  // Called once per accepted connection with a non-blocking, close-on-exec fd the callee owns.
  using OnAccepted = void (*)(void* owner, int fd);

  // How long accepting pauses after running out of descriptors before it tries again.
  static constexpr uint64_t kRetryMs = 100;
  // Connections accepted per wake-up at most, so that one busy listener does not hold the loop.
  static constexpr int kBatch = 64;

  // `name` says which listener it is in logs ("unix:/run/camproxy.sock", "admin").
  Acceptor(uv_loop_t* loop, std::string name, OnAccepted on_accepted, void* owner);
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;
  ~Acceptor() = default;

  // Starts accepting on `fd`, a listening socket. The Acceptor owns `fd` from this call on,
  // also when it fails. Returns 0 or a libuv error code.
  int start(int fd);
  // Closes the socket and the handles. The object must outlive the loop's next iteration (the
  // handles' close callbacks). Safe to call more than once, and without start().
  void close();
  bool paused() const { return paused_; }
  int fd() const { return fd_; }  // -1 once closed

 private:
  static void on_readable(uv_poll_t* poll, int status, int events);
  static void on_retry(uv_timer_t* timer);
  void accept_pending();
  void pause(int error);
  void resume_if_paused();

  uv_loop_t* loop_;
  std::string name_;
  OnAccepted on_accepted_;
  void* owner_;
  uv_poll_t poll_{};
  uv_timer_t retry_{};
  int fd_ = -1;
  bool started_ = false;  // the handles are initialised
  bool closed_ = false;
  bool paused_ = false;
  std::chrono::steady_clock::time_point paused_since_{};
  uint64_t refused_while_paused_ = 0;  // retries that failed again, for the resume log line
};

}  // namespace camproxy::proxy
