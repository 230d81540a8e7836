#include "proxy/net/uring_loop.h"

#include <poll.h>
#include <sys/mman.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace camproxy::proxy {
namespace {

constexpr unsigned kSqEntries = 256;
constexpr unsigned kCqEntries = 4096;  // multishot receives post many CQEs per SQE
constexpr uint64_t kOpMask = 7;

thread_local UringLoop* t_attached = nullptr;

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

}  // namespace

std::unique_ptr<UringLoop> UringLoop::create(uv_loop_t* loop, std::string& error) {
  std::unique_ptr<UringLoop> ring(new UringLoop(loop));
  if (!ring->init(error)) return nullptr;  // no handle was opened: nothing to close
  t_attached = ring.get();
  return ring;
}

UringLoop* UringLoop::of(uv_loop_t* loop) {
  return t_attached != nullptr && t_attached->loop_ == loop && !t_attached->closing_ ? t_attached : nullptr;
}

int UringLoop::run_loop(uv_loop_t* loop, uv_run_mode mode) {
  UringLoop* ring = of(loop);
  return ring != nullptr ? ring->run(mode) : uv_run(loop, mode);
}

// The most the kernel takes, in order: completions run only when this thread waits (Linux
// 6.1), else without an interrupt (5.19), else as the kernel sees fit.
bool UringLoop::setup_ring(std::string& error) {
  constexpr unsigned kTries[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_COOP_TASKRUN, 0};
  int rc = -EINVAL;
  for (unsigned flags : kTries) {
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | flags;
    params.cq_entries = kCqEntries;
    rc = io_uring_queue_init_params(kSqEntries, &ring_, &params);
    if (rc != -EINVAL) {
      setup_flags_ = flags;
      break;
    }
  }
  if (rc < 0) {
    error = errno_text("io_uring_setup", -rc);
    return false;
  }
  ring_ready_ = true;
  return true;
}

bool UringLoop::init(std::string& error) {
  if (!setup_ring(error)) return false;
  buf_ring_bytes_ = kBufferCount * sizeof(io_uring_buf);
  void* mem = ::mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    error = errno_text("mmap", errno);
    return false;
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(buf_ring_);
  reg.ring_entries = kBufferCount;
  reg.bgid = kBufferGroup;
  if (int rc = io_uring_register_buf_ring(&ring_, &reg, 0); rc < 0) {
    error = errno_text("io_uring_register_buf_ring", -rc);
    return false;
  }
  buffers_.reset(new uint8_t[size_t{kBufferCount} * kBufferSize]);  // not zeroed: see kBufferCount
  io_uring_buf_ring_init(buf_ring_);
  const int mask = io_uring_buf_ring_mask(kBufferCount);
  for (unsigned i = 0; i < kBufferCount; ++i) {
    io_uring_buf_ring_add(buf_ring_, buffers_.get() + size_t{i} * kBufferSize, kBufferSize,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, kBufferCount);

  uv_prepare_init(loop_, &alive_);
  handles_open_ = 1;
  alive_.data = this;
  uv_prepare_start(&alive_, [](uv_prepare_t*) {});
  uv_unref(reinterpret_cast<uv_handle_t*>(&alive_));  // only I/O in flight keeps the loop alive
  return true;
}

UringLoop::~UringLoop() {
  assert(handles_open_ == 0);
  if (t_attached == this) t_attached = nullptr;
  if (ring_ready_) io_uring_queue_exit(&ring_);  // unregisters the buffer ring too
  if (buf_ring_ != nullptr) ::munmap(buf_ring_, buf_ring_bytes_);
}

io_uring_sqe* UringLoop::sqe(User& user, Op op) {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (s == nullptr) {
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  if (s == nullptr) {
    // Without SQPOLL a submit empties the queue; a ring that refuses is beyond repair here.
    std::fprintf(stderr, "camproxy: io_uring submission queue stuck\n");
    std::abort();
  }
  ++in_flight_;
  io_uring_sqe_set_data64(s, user_data(user, op));
  keep_loop_alive_while_busy();
  return s;
}

void UringLoop::want_flush(User& user) {
  flush_.push_back(&user);
  keep_loop_alive_while_busy();
}

// One turn: queue what users asked for, submit it and sleep in the same io_uring_enter until a
// completion, libuv's descriptor or the next timer; handle the completions; give libuv its
// turn when it has one. libuv's uv_run() does the same around epoll_wait.
int UringLoop::run(uv_run_mode mode) {
  for (;;) {
    flush_users();
    if (uv_loop_alive(loop_) == 0) return 0;
    if (!backend_poll_armed_) {
      io_uring_sqe* s = io_uring_get_sqe(&ring_);
      if (s == nullptr) {
        io_uring_submit(&ring_);
        s = io_uring_get_sqe(&ring_);
      }
      if (s != nullptr) {  // else next turn: the queue was just emptied, this cannot repeat
        io_uring_prep_poll_add(s, uv_backend_fd(loop_), POLLIN);
        io_uring_sqe_set_data64(s, kBackendPoll);
        backend_poll_armed_ = true;
      }
    }
    const int timeout = mode == UV_RUN_NOWAIT || libuv_needs_a_turn() ? 0 : uv_backend_timeout(loop_);
    wait(timeout);
    uv_update_time(loop_);
    const bool libuv_ready = reap();
    if (libuv_ready || libuv_needs_a_turn() || uv_backend_timeout(loop_) == 0) uv_run(loop_, UV_RUN_NOWAIT);
    if (mode != UV_RUN_DEFAULT) return uv_loop_alive(loop_);
  }
}

// libuv starts watching a descriptor (uv_poll_start, a connect) only in its next poll phase: a
// watcher queued by a completion handler must get that turn before the thread sleeps. The queue
// is a public field of uv_loop_t whose first word points at itself when empty (libuv's QUEUE,
// and uv__queue since 1.46).
bool UringLoop::libuv_needs_a_turn() const {
  const void* const* queue = reinterpret_cast<const void* const*>(&loop_->watcher_queue);
  return queue[0] != static_cast<const void*>(&loop_->watcher_queue);
}

// One system call: submits, makes the completions due (DEFER_TASKRUN makes them only here) and
// sleeps for one unless `timeout_ms` is 0 (-1: no limit). -ETIME (the timeout), -EINTR (a
// signal) and -EBUSY (the completion queue overflowed: reaped now) end it as uv_run's poll ends.
void UringLoop::wait(int timeout_ms) {
  io_uring_cqe* cqe = nullptr;
  __kernel_timespec ts{.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000LL};
  io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, timeout_ms < 0 ? nullptr : &ts, nullptr);
}

// A user's on_flush() may ask for another user's flush (data it delivered was relayed): those
// are served in the same pass, a few rounds at most.
void UringLoop::flush_users() {
  for (int round = 0; round < 8 && !flush_.empty(); ++round) {
    flushing_.swap(flush_);
    for (User* u : flushing_) u->on_flush(*this);
    flushing_.clear();
  }
  keep_loop_alive_while_busy();
}

// True when the poll on libuv's descriptor fired (it is re-armed on the next turn).
bool UringLoop::reap() {
  const int mask = io_uring_buf_ring_mask(kBufferCount);
  bool libuv_ready = false;
  io_uring_cqe* batch[64];
  for (;;) {
    const unsigned n = io_uring_peek_batch_cqe(&ring_, batch, 64);
    if (n == 0) break;
    int recycled = 0;
    for (unsigned i = 0; i < n; ++i) {
      const uint64_t ud = io_uring_cqe_get_data64(batch[i]);
      const int res = batch[i]->res;
      const uint32_t flags = batch[i]->flags;
      if (ud == kBackendPoll) {
        backend_poll_armed_ = false;
        libuv_ready = true;
        continue;
      }
      std::span<const uint8_t> data;
      unsigned bid = kBufferCount;
      if ((flags & IORING_CQE_F_BUFFER) != 0) {
        bid = flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0 && bid < kBufferCount)
          data = {buffers_.get() + size_t{bid} * kBufferSize, std::min<size_t>(static_cast<size_t>(res), kBufferSize)};
      }
      if ((flags & IORING_CQE_F_MORE) == 0) --in_flight_;
      auto* user = reinterpret_cast<User*>(ud & ~kOpMask);
      user->on_completion(static_cast<Op>(ud & kOpMask), res, flags, data);
      if (bid < kBufferCount) {
        io_uring_buf_ring_add(buf_ring_, buffers_.get() + size_t{bid} * kBufferSize, kBufferSize,
                              static_cast<unsigned short>(bid), mask, recycled++);
      }
    }
    io_uring_buf_ring_advance(buf_ring_, recycled);
    io_uring_cq_advance(&ring_, n);
  }
  keep_loop_alive_while_busy();
  return libuv_ready;
}

void UringLoop::keep_loop_alive_while_busy() {
  if (closing_) return;
  auto* h = reinterpret_cast<uv_handle_t*>(&alive_);
  if (in_flight_ > 0 || !flush_.empty()) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

void UringLoop::close() {
  if (closing_) return;
  assert(in_flight_ == 0 && flush_.empty());
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&alive_), on_handle_closed);
}

void UringLoop::on_handle_closed(uv_handle_t* h) { --static_cast<UringLoop*>(h->data)->handles_open_; }

std::vector<uint8_t> UringLoop::take_send_buffer() {
  if (spare_send_buffers_.empty()) {
    std::vector<uint8_t> buffer;
    buffer.reserve(kSendBufferCapacity);
    return buffer;
  }
  std::vector<uint8_t> buffer = std::move(spare_send_buffers_.back());
  spare_send_buffers_.pop_back();
  return buffer;
}

void UringLoop::give_send_buffer(std::vector<uint8_t> buffer) {
  if (buffer.capacity() == 0 || buffer.capacity() > kSendBufferCapacity ||
      spare_send_buffers_.size() >= kSpareSendBuffers)
    return;
  buffer.clear();
  spare_send_buffers_.push_back(std::move(buffer));
}

}  // namespace camproxy::proxy
