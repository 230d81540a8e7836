// Transport's io_uring backend (transport.h, uring_loop.h): the raw I/O under TLS and the
// Events contract, with the same guarantees as the epoll backend in transport.cc.
#include <sys/socket.h>

#include <cerrno>
#include <utility>

#include "proxy/net/transport.h"

namespace camproxy::proxy {
namespace {

// Writes wait for the loop's next submit, so some bytes are nearly always queued: only beyond
// this many does a writer report pending writes (the relay then stops reading its source).
constexpr size_t kPendingLimit = 64 * 1024;

// Bytes held while reading was stopped are delivered on resume in pieces of at most one provided
// buffer, the receiver's back-pressure check (it may stop_reading() in on_data) between pieces:
// a megabyte held is never queued for the other side at once.
constexpr size_t kHeldPiece = 16 * 1024;
// Once delivered, a held_ buffer up to this capacity is kept for the next stop (no regrowth at
// each back-pressure cycle of a large result); a larger one is freed, so memory stays bounded.
constexpr size_t kHeldKeptCapacity = 256 * 1024;

int socket_fd(uv_handle_t* h) {
  uv_os_fd_t fd = -1;
  return uv_fileno(h, &fd) == 0 ? fd : -1;
}

std::string reason(int code) { return code == UV_EOF ? "connection closed by peer" : uv_strerror(code); }

}  // namespace

bool Transport::has_pending_writes() const {
  if (uring_ == nullptr) return !inflight_.empty();
  return inflight_.size() - inflight_sent_ + queued_.size() > kPendingLimit;
}

void Transport::uring_start_reading() {
  reading_ = true;
  if (!recv_armed_ || has_held() || held_error_ != 0) ask_flush();
}

// A multishot receive would go on filling buffers: it is cancelled. What it still brings before
// the cancel lands is held for start_reading() (bounded by the socket's receive buffer).
void Transport::uring_stop_reading() {
  reading_ = false;
  if (!recv_armed_ || recv_cancelled_) return;
  io_uring_sqe* sqe = uring_->sqe(*this, UringLoop::Op::cancel);
  io_uring_prep_cancel64(sqe, UringLoop::user_data(*this, UringLoop::Op::recv), 0);
  ++ops_;
  recv_cancelled_ = true;
}

void Transport::uring_write(std::span<const uint8_t> data) {
  if (queued_.capacity() == 0) queued_ = uring_->take_send_buffer();
  queued_.insert(queued_.end(), data.begin(), data.end());
  if (has_pending_writes()) drained_owed_ = true;
  if (!send_armed_) ask_flush();
}

// The descriptor stays open until every SQE of this transport has finished: in-flight ones are
// cancelled, then uv_close. Bytes written just before close() are still sent first when the
// socket has room, as uv_try_write would have sent them.
void Transport::uring_close() {
  held_head_ = held_.size();  // dropped; not freed here: deliver_held() may be in a callback
  if (ops_ == 0 && !has_unsent_bytes() && !flush_asked_) {  // else on_flush() closes it
    uring_finish_close();
  } else {
    ask_flush();
  }
}

void Transport::uring_finish_close() {
  if (uv_is_closing(&handle_.handle) != 0) return;
  uv_close(&handle_.handle, on_close_done);
}

void Transport::ask_flush() {
  if (flush_asked_) return;
  flush_asked_ = true;
  uring_->want_flush(*this);
}

void Transport::on_flush(UringLoop& ring) {
  flush_asked_ = false;
  deliver_held();
  if (state_ == State::open && !failed_) {
    if (reading_ && !recv_armed_) queue_recv(ring);
    if (!send_armed_ && has_unsent_bytes()) queue_send(ring);
    return;
  }
  if (state_ != State::closing) return;
  if (!failed_ && !send_armed_ && has_unsent_bytes()) queue_send(ring);
  if (ops_ > 0 && !cancel_all_sent_) {
    io_uring_prep_cancel_fd(ring.sqe(*this, UringLoop::Op::cancel), socket_fd(&handle_.handle),
                            IORING_ASYNC_CANCEL_ALL);
    ++ops_;
    cancel_all_sent_ = true;
  }
  if (ops_ == 0) uring_finish_close();
}

// While reading_ stays on: the held bytes in order, then the EOF or error that came after them.
void Transport::deliver_held() {
  while (state_ == State::open && reading_ && !failed_ && has_held()) {
    const size_t n = std::min(kHeldPiece, held_.size() - held_head_);
    const size_t at = std::exchange(held_head_, held_head_ + n);
    deliver(std::span<const uint8_t>(held_).subspan(at, n));
  }
  if (held_head_ == held_.size() && held_head_ != 0) {
    held_head_ = 0;
    if (held_.capacity() > kHeldKeptCapacity) {
      held_ = {};
    } else {
      held_.clear();
    }
  }
  if (state_ == State::open && reading_ && !failed_ && !has_held() && held_error_ != 0) {
    const int error = std::exchange(held_error_, 0);
    fail(error, reason(error));
  }
}

void Transport::queue_recv(UringLoop& ring) {
  io_uring_sqe* sqe = ring.sqe(*this, UringLoop::Op::recv);
  io_uring_prep_recv_multishot(sqe, socket_fd(&handle_.handle), nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = ring.buffer_group();
  ++ops_;
  recv_armed_ = true;
  recv_cancelled_ = false;
}

// Everything queued so far goes in one send; writes made meanwhile queue behind it (one send in
// flight at a time keeps the byte order).
void Transport::queue_send(UringLoop& ring) {
  if (inflight_.empty()) {
    inflight_.swap(queued_);
    queued_.clear();
    inflight_sent_ = 0;
  }
  io_uring_sqe* sqe = ring.sqe(*this, UringLoop::Op::send);
  io_uring_prep_send(sqe, socket_fd(&handle_.handle), inflight_.data() + inflight_sent_,
                     inflight_.size() - inflight_sent_, MSG_NOSIGNAL);
  ++ops_;
  send_armed_ = true;
}

void Transport::on_completion(UringLoop::Op op, int res, uint32_t flags, std::span<const uint8_t> data) {
  if ((flags & IORING_CQE_F_MORE) == 0) --ops_;
  switch (op) {
    case UringLoop::Op::recv: on_recv(res, flags, data); break;
    case UringLoop::Op::send: on_send(res); break;
    case UringLoop::Op::cancel: break;
  }
  if (state_ == State::closing && ops_ == 0 && !flush_asked_) uring_finish_close();
}

void Transport::on_recv(int res, uint32_t flags, std::span<const uint8_t> data) {
  const bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (!more) recv_armed_ = false;
  if (state_ != State::open || failed_) return;
  int error = 0;
  if (res > 0) {
    bytes_in_ += data.size();
    if (reading_ && !has_held()) {
      deliver(data);
    } else {  // stopped, or resumed with held bytes not yet delivered: keep the order
      held_.insert(held_.end(), data.begin(), data.end());
      if (reading_) ask_flush();
    }
  } else if (res == 0) {
    error = UV_EOF;
  } else if (res != -ECANCELED && res != -ENOBUFS) {  // stop_reading's cancel; all buffers busy
    error = res;                                      // UV_* codes are -errno on Linux
  }
  if (error != 0) {
    if (reading_ && !has_held()) {
      fail(error, reason(error));
    } else {
      held_error_ = error;  // after the held bytes, once reading resumes
    }
    return;
  }
  if (!more && reading_ && state_ == State::open && !failed_) ask_flush();  // re-arm
}

void Transport::on_send(int res) {
  send_armed_ = false;
  if (state_ != State::open) return;  // closing: the close follows, no more events
  if (res < 0) {
    inflight_.clear();
    inflight_sent_ = 0;
    queued_.clear();
    fail(res, std::string("write failed: ") + uv_strerror(res));
    return;
  }
  inflight_sent_ += static_cast<size_t>(res);
  if (inflight_sent_ == inflight_.size()) {
    inflight_.clear();
    inflight_sent_ = 0;
  }
  if (has_unsent_bytes()) {
    ask_flush();  // the rest of a short send, or what was queued meanwhile
    return;
  }
  // Every write passes through these buffers here (not only the ones the kernel refused, as on
  // epoll): they go back to the loop's spares, so an idle connection keeps none of them.
  uring_->give_send_buffer(std::exchange(inflight_, {}));
  uring_->give_send_buffer(std::exchange(queued_, {}));
  if (!std::exchange(drained_owed_, false)) return;
  events_.on_drained(*this);
}

}  // namespace camproxy::proxy
