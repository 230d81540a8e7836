#include "proxy/net/uring_loop.h"

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

bool UringLoop::init(std::string& error) {
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE;
  params.cq_entries = kCqEntries;
  if (int rc = io_uring_queue_init_params(kSqEntries, &ring_, &params); rc < 0) {
    error = errno_text("io_uring_setup", -rc);
    return false;
  }
  ring_ready_ = true;
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

  if (int rc = uv_poll_init(loop_, &poll_, ring_.ring_fd); rc != 0) {
    error = std::string("uv_poll_init: ") + uv_strerror(rc);
    return false;
  }
  uv_prepare_init(loop_, &prepare_);
  uv_check_init(loop_, &check_);
  handles_open_ = 3;
  poll_.data = prepare_.data = check_.data = this;
  uv_poll_start(&poll_, UV_READABLE, on_poll);
  uv_prepare_start(&prepare_, on_prepare);
  uv_check_start(&check_, on_check);
  // None of them keeps the loop alive by itself: only I/O in flight does (keep_loop_alive_while_busy).
  uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
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

void UringLoop::on_prepare(uv_prepare_t* h) { static_cast<UringLoop*>(h->data)->flush_and_submit(); }
void UringLoop::on_check(uv_check_t* h) { static_cast<UringLoop*>(h->data)->flush_and_submit(); }

void UringLoop::on_poll(uv_poll_t* h, int status, int) {
  auto* self = static_cast<UringLoop*>(h->data);
  if (status < 0) return;  // the ring's fd cannot fail to poll; nothing to reap then
  self->reap();
}

// A user's on_flush() may ask for another user's flush (data it delivered was relayed): those
// are served in the same pass, a few rounds at most.
void UringLoop::flush_and_submit() {
  for (int round = 0; round < 8 && !flush_.empty(); ++round) {
    flushing_.swap(flush_);
    for (User* u : flushing_) u->on_flush(*this);
    flushing_.clear();
  }
  if (io_uring_sq_ready(&ring_) > 0) {
    int rc;
    do {
      rc = io_uring_submit(&ring_);
    } while (rc == -EINTR);
  }
  keep_loop_alive_while_busy();
}

void UringLoop::reap() {
  const int mask = io_uring_buf_ring_mask(kBufferCount);
  io_uring_cqe* batch[64];
  for (;;) {
    const unsigned n = io_uring_peek_batch_cqe(&ring_, batch, 64);
    if (n == 0) break;
    int recycled = 0;
    for (unsigned i = 0; i < n; ++i) {
      const uint64_t ud = io_uring_cqe_get_data64(batch[i]);
      const int res = batch[i]->res;
      const uint32_t flags = batch[i]->flags;
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
}

void UringLoop::keep_loop_alive_while_busy() {
  if (closing_) return;
  auto* h = reinterpret_cast<uv_handle_t*>(&poll_);
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
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), on_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), on_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), on_handle_closed);
}

void UringLoop::on_handle_closed(uv_handle_t* h) { --static_cast<UringLoop*>(h->data)->handles_open_; }

std::vector<uint8_t> UringLoop::take_send_buffer() {
  if (spare_send_buffers_.empty()) return {};
  std::vector<uint8_t> buffer = std::move(spare_send_buffers_.back());
  spare_send_buffers_.pop_back();
  return buffer;
}

void UringLoop::give_send_buffer(std::vector<uint8_t> buffer) {
  if (buffer.capacity() == 0 || buffer.capacity() > kSpareSendBufferCapacity ||
      spare_send_buffers_.size() >= kSpareSendBuffers)
    return;
  buffer.clear();
  spare_send_buffers_.push_back(std::move(buffer));
}

}  // namespace camproxy::proxy
