#pragma once
// One io_uring per worker loop: the data path's reads and writes, batched (issue 19).
//
// How it meets libuv (docs/architecture.md "The io_uring data path"):
// - The ring's own descriptor is watched by a uv_poll (it is readable while completions wait),
//   so completions are reaped in one pass per wake-up, without an extra eventfd read.
// - Users (Transports) do not submit: they ask for a flush (want_flush), and the ring calls
//   their on_flush() from its uv_prepare and uv_check callbacks, where they queue their SQEs;
//   then one io_uring_submit carries every socket's sends and receive re-arms of the iteration.
// - Receives land in a provided-buffer ring shared by the loop's users; a buffer goes back to
//   the kernel as soon as its completion was handled, so users must consume data at once.
// - Every SQE counts as in flight until its last CQE (one without IORING_CQE_F_MORE); while
//   any is, the uv_poll keeps the loop alive (closing transports wait for their CQEs).
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

  // Closes the libuv handles; the ring itself goes with the destructor, after closed().
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

  // Spare send buffers kept: bounded in count and size (a large result's buffer is freed).
  static constexpr size_t kSpareSendBuffers = 16;
  static constexpr size_t kSpareSendBufferCapacity = 16 * 1024;

  explicit UringLoop(uv_loop_t* loop) : loop_(loop) {}
  bool init(std::string& error);
  void flush_and_submit();
  void reap();
  void keep_loop_alive_while_busy();
  static void on_prepare(uv_prepare_t* h);
  static void on_check(uv_check_t* h);
  static void on_poll(uv_poll_t* h, int status, int events);
  static void on_handle_closed(uv_handle_t* h);

  uv_loop_t* loop_;
  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  std::unique_ptr<uint8_t[]> buffers_;
  uv_poll_t poll_{};
  uv_prepare_t prepare_{};
  uv_check_t check_{};
  int handles_open_ = 0;
  bool closing_ = false;
  uint64_t in_flight_ = 0;
  std::vector<User*> flush_;
  std::vector<User*> flushing_;  // the list being worked through (kept for its capacity)
  std::vector<std::vector<uint8_t>> spare_send_buffers_;
};

}  // namespace camproxy::proxy
