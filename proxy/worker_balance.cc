#include "proxy/worker_balance.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proxy/ops/log.h"
#include "proxy/session/client_session.h"
#include "proxy/worker.h"

namespace camproxy::proxy {
namespace {

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::optional<size_t> lighter_worker(size_t mine, std::span<const size_t> sessions) {
  std::optional<size_t> best;
  for (size_t i = 0; i < sessions.size(); ++i) {
    if (i == mine || sessions[i] + kHandOverGap > sessions[mine]) continue;
    if (!best || sessions[i] < sessions[*best]) best = i;
  }
  return best;
}

std::optional<size_t> worker_for_client(size_t mine, std::span<const size_t> sessions,
                                        std::span<const int64_t> returned_at, int64_t now) {
  if (auto lighter = lighter_worker(mine, sessions)) return lighter;
  std::optional<size_t> latest;
  for (size_t i = 0; i < returned_at.size(); ++i) {
    if (returned_at[i] != 0 && (!latest || returned_at[i] > returned_at[*latest])) latest = i;
  }
  if (!latest || *latest == mine || now - returned_at[*latest] > kSteerWindow.count()) return std::nullopt;
  if (sessions[*latest] >= sessions[mine] + kHandOverGap) return std::nullopt;
  return latest;
}

Worker* Worker::sibling_for_client() const {
  if (siblings_.size() < 2) return nullptr;
  thread_local std::vector<size_t> sessions;  // reused: no allocation per accepted client
  thread_local std::vector<int64_t> returned_at;
  sessions.clear();
  returned_at.clear();
  size_t mine = 0;
  for (size_t i = 0; i < siblings_.size(); ++i) {
    if (siblings_[i] == this) mine = i;
    sessions.push_back(siblings_[i]->session_count());
    returned_at.push_back(siblings_[i]->returned_at_.load(std::memory_order_relaxed));
  }
  const auto to = worker_for_client(mine, sessions, returned_at, steady_now_ns());
  return to ? siblings_[*to] : nullptr;
}

void Worker::note_connection_returning() {
  const int64_t now = steady_now_ns();
  returned_at_.store(now, std::memory_order_relaxed);
  if (siblings_.size() < 2) return;
  Worker& target = *siblings_.front();
  std::lock_guard lock(target.kernel_steer_mu_);
  if (target.kernel_steer_ == index_ || now - target.kernel_steered_at_ < kKernelSteerGap.count()) return;
  target.kernel_steer_ = index_;
  target.kernel_steered_at_ = now;
  steer_kernel_here();
}

// One SO_REUSEPORT group per TCP listener: attaching to any of its sockets steers the group.
// A kernel that refuses leaves the hash, and the hand-over above does the steering.
void Worker::steer_kernel_here() {
  for (auto& l : listeners_) {
    if (l->group_index < 0 || l->acceptor.fd() < 0) continue;
    if (!steer_listen_group(l->acceptor.fd(), l->group_index))
      log_debug("listen_steer_failed", {{"worker", index_}, {"error", std::strerror(errno)}});
  }
}

// Accepted here, served there: the accepted socket is queued for `to`, which counts it at once
// so that a burst is spread rather than all sent to the same worker.
bool Worker::take_over(int fd, const ListenAddress& address) {
  std::lock_guard lock(handed_mu_);  // held across the send: on_stop_async closes the handle under it
  if (!taking_over_) return false;
  session_count_.fetch_add(1, std::memory_order_relaxed);
  handed_.push_back({fd, address});
  uv_async_send(&adopt_async_);
  return true;
}

// `counted`: take_over() already counted the session.
void Worker::serve_adopted(int fd, const ListenAddress& address, bool counted) {
  auto* session = new ClientSession(*this);
  if (!session->adopt(fd, address)) {  // it cleans up after itself
    if (counted) session_count_.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  if (!counted) session_count_.fetch_add(1, std::memory_order_relaxed);
  sessions_.insert(session);
  session->start();
}

void Worker::on_adopt_async(uv_async_t* a) {
  auto* self = static_cast<Worker*>(a->data);
  std::vector<HandedOver> handed;
  {
    std::lock_guard lock(self->handed_mu_);
    handed.swap(self->handed_);
  }
  for (auto& h : handed) self->serve_adopted(h.fd, h.address, true);
}

void Worker::set_taking_over(bool on) {
  std::lock_guard lock(handed_mu_);
  taking_over_ = on;
}

// Sockets handed over but not adopted when the worker stops.
void Worker::close_handed_over() {
  std::lock_guard lock(handed_mu_);
  taking_over_ = false;
  for (auto& h : handed_) {
    ::close(h.fd);
    session_count_.fetch_sub(1, std::memory_order_relaxed);
  }
  handed_.clear();
}

}  // namespace camproxy::proxy
