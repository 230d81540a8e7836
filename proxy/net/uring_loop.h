#pragma once
// One io_uring per worker loop: the data path's reads and writes, batched (issue 19).
//
// How it meets libuv (docs/architecture.md "The io_uring data path"): the ring drives the loop.
// - run() replaces uv_run() for a loop with a ring: the thread sleeps in io_uring_enter, which
//   submits every socket's sends and receive re-arms of the iteration and waits for completions
//   in the same system call. libuv's own descriptor (uv_backend_fd, its epoll set: timers
//   aside, everything the control path waits for) is watched by a one-shot poll on the ring;
//   when it fires, a due timer's time comes, or libuv has work it must do before sleeping, the
//   ring runs uv_run(UV_RUN_NOWAIT). A relayed packet costs one io_uring_enter per batch.
// - Users (Transports) do not submit: they ask for a flush (want_flush), and the ring calls
//   their on_flush() just before it next enters the kernel, where they queue their SQEs.
// - Receives land in a provided-buffer ring shared by the loop's users; a buffer goes back to
//   the kernel as soon as its completion was handled, so users must consume data at once.
// - Every SQE counts as in flight until its last CQE (one without IORING_CQE_F_MORE); while
//   any is, a referenced uv_prepare keeps the loop alive (closing transports wait for their CQEs).
// - Where the kernel has them, the ring is IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN:
//   completions are made only when this thread waits, never by interrupting it.
//
// Thread: the loop's. create() attaches the ring to the calling thread, where of() finds it.
#include <liburing.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace camproxy::proxy {

class UringLoop {
 public:
  enum class Op : uint8_t { recv = 1, send = 2, cancel = 3 };

  class User {
   public:
    // One CQE of this user's. `data` is the provided buffer a receive filled (empty otherwise);
    // it is valid during the call only.
    virtual void on_completion(Op op, int res, uint32_t flags, std::span<const uint8_t> data) = 0;
    // Asked for with want_flush(): queue SQEs now (sqe()); they are submitted right after.
    virtual void on_flush(UringLoop& ring) = 0;

   protected:
    ~User() = default;
  };

  // Users must be aligned to 8 bytes: the op travels in the low bits of the user_data.
  static std::unique_ptr<UringLoop> create(uv_loop_t* loop, std::string& error);
  // The ring attached to `loop` on this thread, or nullptr (the epoll data path).
  static UringLoop* of(uv_loop_t* loop);
  // uv_run() for `loop`: through its ring when it has one (a loop with a ring must be run so).
  static int run_loop(uv_loop_t* loop, uv_run_mode mode);

  UringLoop(const UringLoop&) = delete;
  UringLoop& operator=(const UringLoop&) = delete;
  ~UringLoop();

  // An SQE owned by `user` until its last CQE; never nullptr (a full queue is submitted first).
  io_uring_sqe* sqe(User& user, Op op);
  // What sqe() tags the SQE with, for a cancel of it.
  static uint64_t user_data(User& user, Op op) { return reinterpret_cast<uint64_t>(&user) | static_cast<uint64_t>(op); }
  // The provided-buffer group a receive selects from (IOSQE_BUFFER_SELECT).
  uint16_t buffer_group() const { return kBufferGroup; }
  // on_flush() will be called once, before the loop next waits. The caller keeps itself alive
  // (and open to the call) until then: it remembers that it asked.
  void want_flush(User& user);

  // Send buffers: a transport takes one for its next writes and gives it back once its sends are
  // done, so a relayed packet costs no allocation and an idle connection holds no buffer.
  std::vector<uint8_t> take_send_buffer();
  void give_send_buffer(std::vector<uint8_t> buffer);

  // uv_run's contract: runs until nothing is alive (DEFAULT) or once; nonzero while alive.
  int run(uv_run_mode mode);
  // Which setup flags the kernel took (for the start-up log line).
  bool defer_taskrun() const { return (setup_flags_ & IORING_SETUP_DEFER_TASKRUN) != 0; }

  // Closes the libuv handle; the ring itself goes with the destructor, after closed().
  void close();
  bool closed() const { return handles_open_ == 0; }
  uint64_t in_flight() const { return in_flight_; }

 private:
  static constexpr uint16_t kBufferGroup = 1;
  // A power of two (the buffer ring's mask). Buffers are handed back after each batch of
  // completions, so a few dozen cover a worker's sockets; a receive that finds none ends
  // with ENOBUFS and is re-armed. Pages are touched only once the kernel fills them.
  static constexpr unsigned kBufferCount = 64;
  static constexpr unsigned kBufferSize = 16 * 1024;

  // Send buffers are made with room for what a transport queues before it reports pending
  // writes (transport_uring.cc's 64 KiB) and the next receive buffer, so a large result is
  // never moved by a growing vector; pages are touched only as they are filled. A few are kept
  // (about 1 MiB a worker at most); a buffer that grew beyond that room is freed.
  static constexpr size_t kSpareSendBuffers = 8;
  static constexpr size_t kSendBufferCapacity = 128 * 1024;

  // The user_data of the poll on libuv's descriptor (a User's is never below 8).
  static constexpr uint64_t kBackendPoll = 0;

  explicit UringLoop(uv_loop_t* loop) : loop_(loop) {}
  bool init(std::string& error);
  bool setup_ring(std::string& error);
  void flush_users();
  void wait(int timeout_ms);
  bool reap();
  bool libuv_needs_a_turn() const;
  void keep_loop_alive_while_busy();
  static void on_handle_closed(uv_handle_t* h);

  uv_loop_t* loop_;
  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  std::unique_ptr<uint8_t[]> buffers_;
  unsigned setup_flags_ = 0;
  uv_prepare_t alive_{};  // referenced while busy: keeps uv_loop_alive() true; its callback is empty
  bool backend_poll_armed_ = false;
  int handles_open_ = 0;
  bool closing_ = false;
  uint64_t in_flight_ = 0;
  std::vector<User*> flush_;
  std::vector<User*> flushing_;  // the list being worked through (kept for its capacity)
  std::vector<std::vector<uint8_t>> spare_send_buffers_;
};

}  // namespace camproxy::proxy
