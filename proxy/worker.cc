#include "proxy/worker.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>

#include "proxy/ops/log.h"
#include "proxy/session/client_session.h"

namespace camproxy::proxy {

Worker::Worker(ProxyContext& ctx, int index) : ctx_(ctx), index_(index) {}

Worker::~Worker() {
  if (thread_.joinable()) stop();
  if (!loop_ready_) return;
  close_handed_over();
  for (auto& l : listeners_) l->acceptor.close();  // their fds too, which uv_walk would leave open
  // After a start that failed part-way no thread ran the loop: its handles (asyncs, the
  // listeners opened so far) are still open, and uv_loop_close would refuse with UV_EBUSY.
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

bool Worker::start(const std::vector<ListenSocket>& sockets, int workers, std::string& error) {
  if (int rc = uv_loop_init(&loop_); rc != 0) {
    error = std::string("uv_loop_init: ") + uv_strerror(rc);
    return false;
  }
  loop_ready_ = true;
  uv_async_init(&loop_, &token_async_, on_token_async);
  token_async_.data = this;
  uv_async_init(&loop_, &stop_async_, on_stop_async);
  stop_async_.data = this;
  uv_async_init(&loop_, &drain_async_, on_drain_async);
  drain_async_.data = this;
  uv_async_init(&loop_, &adopt_async_, on_adopt_async);
  adopt_async_.data = this;
  uv_async_init(&loop_, &snapshot_async_, on_snapshot_async);
  snapshot_async_.data = this;
  set_taking_over(true);
  for (const auto& s : sockets) {
    for (int fd : worker_fds(s, index_, workers)) {
      const auto at = std::find(s.fds.begin(), s.fds.end(), fd) - s.fds.begin();
      if (!listen_on(s.address, fd, s.address.is_unix ? -1 : static_cast<int>(at), error)) return false;
    }
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

// A dup, so that closing this worker's listener leaves the socket to the control thread (and
// to the workers of a target it is handed to on a reload).
bool Worker::listen_on(const ListenAddress& address, int fd, int group_index, std::string& error) {
  const int own_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own_fd < 0) {
    error = "worker cannot listen on " + address.to_string() + ": " + std::strerror(errno);
    return false;
  }
  auto& l = listeners_.emplace_back(std::make_unique<Listener>(this, address, &loop_));
  l->group_index = group_index;
  if (int rc = l->acceptor.start(own_fd); rc != 0) {
    error = "worker cannot listen on " + address.to_string() + ": " + uv_strerror(rc);
    return false;
  }
  return true;
}

void Worker::run() {
  if (ctx_.io_uring_data_path()) {  // before any socket: transports pick their backend at init
    std::string error;
    uring_ = UringLoop::create(&loop_, error);
    if (!uring_) log_warn("worker_data_path_epoll", {{"worker", index_}, {"error", error}});
  }
  pool_env_ = std::make_unique<ContextPoolEnv>(&loop_, ctx_, [this] { note_connection_returning(); });
  pool_ = std::make_unique<UpstreamPool>(*pool_env_);
  pool_->start();
  // Through the ring when there is one; returns once every transport has closed, its SQEs finished.
  UringLoop::run_loop(&loop_, UV_RUN_DEFAULT);
  if (uring_) {
    uring_->close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uring_.reset();
  }
  log_debug("worker_stopped", {{"worker", index_}});
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  uv_async_send(&stop_async_);
  thread_.join();
}

void Worker::on_drain_async(uv_async_t* a) {
  auto* self = static_cast<Worker*>(a->data);
  for (auto& l : self->listeners_) l->acceptor.close();
  std::vector<ClientSession*> sessions(self->sessions_.begin(), self->sessions_.end());
  for (auto* s : sessions) s->drain();
}

void Worker::on_stop_async(uv_async_t* a) {
  auto* self = static_cast<Worker*>(a->data);
  for (auto& l : self->listeners_) l->acceptor.close();
  // Copy: shutting a session down removes it from the set (later, in its close callback).
  std::vector<ClientSession*> sessions(self->sessions_.begin(), self->sessions_.end());
  for (auto* s : sessions) s->shutdown();
  self->pool_->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&self->token_async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->drain_async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->snapshot_async_), nullptr);
  self->close_handed_over();  // first: no sibling sends to adopt_async_ once it is closing
  uv_close(reinterpret_cast<uv_handle_t*>(&self->adopt_async_), nullptr);
}

void Worker::on_token_async(uv_async_t* a) {
  auto* self = static_cast<Worker*>(a->data);
  self->pool_->on_token_published();
  std::vector<ClientSession*> waiters(self->token_waiters_.begin(), self->token_waiters_.end());
  for (auto* s : waiters) {
    if (self->token_waiters_.count(s) != 0) s->on_token_published();
  }
}

void Worker::request_snapshot(std::shared_ptr<SnapshotBox> box) {
  {
    std::lock_guard lock(snapshot_mu_);
    snapshot_boxes_.push_back(std::move(box));
  }
  uv_async_send(&snapshot_async_);
}

// Wake-ups merge (libuv docs/src/async.rst): every box queued so far gets the same copy.
void Worker::on_snapshot_async(uv_async_t* a) {
  auto* self = static_cast<Worker*>(a->data);
  std::vector<std::shared_ptr<SnapshotBox>> boxes;
  {
    std::lock_guard lock(self->snapshot_mu_);
    boxes.swap(self->snapshot_boxes_);
  }
  if (boxes.empty()) return;
  const WorkerSnapshot snapshot = self->snapshot();
  for (auto& box : boxes) box->deliver(snapshot);
}

WorkerSnapshot Worker::snapshot() {
  const auto now = std::chrono::steady_clock::now();
  WorkerSnapshot out{.target = ctx_.config().name, .worker = index_, .pool = pool_->snapshot(now), .sessions = {}};
  for (auto* s : sessions_) {
    SessionSnapshot session = s->snapshot(now);
    if (session.pool_caps) ++out.pool.key(session.account, *session.pool_caps, session.pool_mariadb_caps).in_use;
    out.sessions.push_back(std::move(session));
  }
  std::sort(out.sessions.begin(), out.sessions.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

void Worker::on_accepted(void* listener, int fd) {
  auto* l = static_cast<Listener*>(listener);
  Worker* self = l->worker;
  if (!l->address.is_unix) {  // unix listeners share one socket: whichever worker is free accepts
    if (Worker* to = self->sibling_for_client()) {
      if (to->take_over(fd, l->address)) return;  // else it is stopping: served here
    }
  }
  self->serve_adopted(fd, l->address, false);
}

// A refusal instead of a hang (issue 7): the session answers the client with an ERR. Logins in
// progress do not count: they have their own cap (login_started).
bool Worker::admit_client() {
  const int64_t already_open = ctx_.open_clients().fetch_add(1);
  ctx_.note_open_clients(already_open + 1);
  return already_open - ctx_.logins_in_progress().load() < ctx_.process().max_client_connections;
}

// Each worker has its share of the cap, so that making room never needs another thread: a new
// client always finds room on its own worker, at the expense of that worker's oldest login.
void Worker::login_started(ClientSession* s) {
  logging_in_.push_back(s);
  ctx_.logins_in_progress().fetch_add(1);
  const auto workers = static_cast<int64_t>(std::max<size_t>(ctx_.worker_count(), 1));
  const Config& process = ctx_.process();
  const int64_t cap = process.max_logins_in_progress != 0 ? process.max_logins_in_progress
                                                          : std::max(process.max_client_connections / 4, 1);
  const auto share = static_cast<size_t>(std::max<int64_t>(cap / workers, 1));
  if (logging_in_.size() <= share) return;
  ClientSession* oldest = logging_in_.front();  // not `s`: the list holds at least two
  login_finished(oldest);  // first: crowd_out() ends in login_finished() again, which then finds nothing
  oldest->crowd_out();
}

// Linear in this worker's logins in progress, a few dozen at most.
void Worker::login_finished(ClientSession* s) {
  const auto it = std::find(logging_in_.begin(), logging_in_.end(), s);
  if (it == logging_in_.end()) return;
  logging_in_.erase(it);
  ctx_.logins_in_progress().fetch_sub(1);
}

void Worker::on_session_closed(ClientSession* s) {
  token_waiters_.erase(s);
  if (sessions_.erase(s) != 0) session_count_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace camproxy::proxy
