#include "proxy/net/acceptor.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"

namespace camproxy::proxy {
namespace {

// accept(2), "Error handling": on Linux these are errors of the pending connection, not of the
// listener; the next accept() is worth trying at once.
bool connection_error(int error) {
  switch (error) {
    case ECONNABORTED:
    case EINTR:
    case EPROTO:
    case EPERM:  // a firewall refused the connection
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH: return true;
    default: return false;
  }
}

AcceptPause pause_reason(int error) {
  switch (error) {
    case EMFILE: return AcceptPause::process_fd_limit;
    case ENFILE: return AcceptPause::system_fd_limit;
    case ENOBUFS:
    case ENOMEM: return AcceptPause::kernel_memory;
    default: return AcceptPause::other;
  }
}

uint64_t soft_open_files_limit() {
  rlimit limit{};
  return ::getrlimit(RLIMIT_NOFILE, &limit) == 0 ? static_cast<uint64_t>(limit.rlim_cur) : 0;
}

}  // namespace

Acceptor::Acceptor(uv_loop_t* loop, std::string name, OnAccepted on_accepted, void* owner)
    : loop_(loop), name_(std::move(name)), on_accepted_(on_accepted), owner_(owner) {}

int Acceptor::start(int fd) {
  fd_ = fd;
  // uv_poll_init makes the socket non-blocking (libuv docs/src/poll.rst).
  int rc = uv_poll_init(loop_, &poll_, fd);
  if (rc != 0) {
    ::close(std::exchange(fd_, -1));
    return rc;
  }
  uv_timer_init(loop_, &retry_);
  poll_.data = this;
  retry_.data = this;
  started_ = true;
  return uv_poll_start(&poll_, UV_READABLE, on_readable);
}

void Acceptor::close() {
  if (closed_) return;
  closed_ = true;
  if (started_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&retry_), nullptr);
  }
  // After uv_close: the poll handle no longer watches it (libuv docs/src/poll.rst).
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

void Acceptor::on_readable(uv_poll_t* poll, int status, int) {
  auto* self = static_cast<Acceptor*>(poll->data);
  if (status != 0) {
    self->pause(-status);
    return;
  }
  self->accept_pending();
}

void Acceptor::on_retry(uv_timer_t* timer) {
  auto* self = static_cast<Acceptor*>(timer->data);
  uv_poll_start(&self->poll_, UV_READABLE, on_readable);
  self->accept_pending();
}

void Acceptor::accept_pending() {
  for (int i = 0; i < kBatch && !closed_; ++i) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      resume_if_paused();
      on_accepted_(owner_, fd);
      continue;
    }
    const int error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK) {
      resume_if_paused();
      return;
    }
    if (connection_error(error)) continue;
    pause(error);
    return;
  }
}

// Level-triggered polling would wake the loop at once again for the same pending client: stop
// polling and try again in kRetryMs.
void Acceptor::pause(int error) {
  uv_poll_stop(&poll_);
  uv_timer_start(&retry_, on_retry, kRetryMs, 0);
  if (paused_) {
    ++refused_while_paused_;
    return;
  }
  paused_ = true;
  paused_since_ = std::chrono::steady_clock::now();
  refused_while_paused_ = 0;
  const AcceptPause reason = pause_reason(error);
  process_metrics().counter(MetricId::accept_pauses, reason).inc();
  log_warn("accept_paused", {{"listener", name_},
                             {"reason", label_value(reason)},
                             {"error", std::strerror(error)},
                             {"open_files_limit", soft_open_files_limit()},
                             {"retry_ms", kRetryMs}});
}

void Acceptor::resume_if_paused() {
  if (!paused_) return;
  paused_ = false;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - paused_since_);
  log_info("accept_resumed",
           {{"listener", name_}, {"paused_ms", static_cast<int64_t>(ms.count())}, {"retries", refused_while_paused_}});
}

}  // namespace camproxy::proxy
