#pragma once
// A worker: one thread, one libuv loop, its own client sessions. Nothing on a worker blocks;
// the only cross-thread calls are the uv_async wake-ups below.
#include <uv.h>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "proxy/context_pool_env.h"
#include "proxy/net/acceptor.h"
#include "proxy/net/listen_socket.h"
#include "proxy/net/uring_loop.h"
#include "proxy/pool/upstream_pool.h"
#include "proxy/proxy_context.h"
#include "proxy/session/session_env.h"
#include "proxy/worker_snapshot.h"

namespace camproxy::proxy {

class ClientSession;

class Worker final : public SessionEnv {
 public:
  Worker(ProxyContext& ctx, int index);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker() override;

  // Control thread, before any worker of the target starts: all of them (this one included),
  // among which clients are spread (worker_balance.h).
  void set_siblings(std::vector<Worker*> all) { siblings_ = std::move(all); }
  // Control thread: starts the thread, listening on dups of its fds of `sockets` (worker_fds
  // for this worker's index among `workers`).
  bool start(const std::vector<ListenSocket>& sockets, int workers, std::string& error);
  // Control thread: closes listeners and sessions, then joins the thread.
  void stop();
  // Control thread: stop accepting; close sessions between transactions now and the others
  // as soon as they are.
  void drain() { uv_async_send(&drain_async_); }
  // Any thread: a new token snapshot was published.
  void notify_tokens() { uv_async_send(&token_async_); }
  // Control thread, while the worker runs: the worker drops a copy of its pool and sessions
  // in `box`, on its own thread (worker_snapshot.h).
  void request_snapshot(std::shared_ptr<SnapshotBox> box);

  ProxyContext& ctx() { return ctx_; }
  size_t session_count() const { return session_count_.load(std::memory_order_relaxed); }

  // SessionEnv: worker thread, for its sessions.
  uv_loop_t* loop() override { return &loop_; }
  int index() const override { return index_; }
  const TargetConfig& config() const override { return ctx_.config(); }
  TokenSource& tokens() override { return ctx_.tokens(); }
  UpstreamPool& pool() override { return *pool_; }
  CollationNames& collations() override { return ctx_.collations(); }
  SessionRegistry& sessions() override { return ctx_.sessions(); }
  std::shared_ptr<const LocalUsers> local_users() const override { return ctx_.local_users(); }
  SSL_CTX* client_tls() const override { return ctx_.client_tls(); }
  SSL_CTX* upstream_tls() const override { return ctx_.upstream_tls(); }
  std::shared_ptr<const GreetingProfile> profile() const override { return ctx_.profile(); }
  void set_profile(std::shared_ptr<const GreetingProfile> p) override { ctx_.set_profile(std::move(p)); }
  uint32_t next_connection_id() override { return ctx_.next_connection_id(); }
  bool admit_client() override;
  void client_gone() override { ctx_.open_clients().fetch_sub(1); }
  void login_started(ClientSession* s) override;
  void login_finished(ClientSession* s) override;
  void add_token_waiter(ClientSession* s) override { token_waiters_.insert(s); }
  void remove_token_waiter(ClientSession* s) override { token_waiters_.erase(s); }
  void on_session_closed(ClientSession* s) override;

 private:
  struct Listener {
    Listener(Worker* w, const ListenAddress& a, uv_loop_t* loop)
        : address(a), worker(w), acceptor(loop, a.to_string(), on_accepted, this) {}
    ListenAddress address;  // a copy: what sessions accepted here check
    Worker* worker;
    Acceptor acceptor;
    int group_index = -1;  // its socket's place in the TCP listener's SO_REUSEPORT group
  };

  // A client accepted by another worker, waiting to be adopted here.
  struct HandedOver {
    int fd = -1;
    ListenAddress address;
  };

  bool listen_on(const ListenAddress& address, int fd, int group_index, std::string& error);
  // Has the kernel put new TCP clients on this worker's sockets, when it does not already.
  void steer_kernel_here();
  // Spreading and steering clients (worker_balance.cc).
  Worker* sibling_for_client() const;
  // Worker thread: its pool took a connection back to reset it; new clients come here for a while.
  void note_connection_returning();
  // Any thread: queues a client for this worker; false when it no longer takes any.
  bool take_over(int fd, const ListenAddress& address);
  void serve_adopted(int fd, const ListenAddress& address, bool counted);
  static void on_adopt_async(uv_async_t* a);
  void set_taking_over(bool on);
  void close_handed_over();
  void run();
  static void on_accepted(void* listener, int fd);
  static void on_token_async(uv_async_t* a);
  static void on_stop_async(uv_async_t* a);
  static void on_drain_async(uv_async_t* a);
  static void on_snapshot_async(uv_async_t* a);
  WorkerSnapshot snapshot();

  ProxyContext& ctx_;
  int index_;
  uv_loop_t loop_{};
  uv_async_t token_async_{};
  uv_async_t stop_async_{};
  uv_async_t drain_async_{};
  uv_async_t adopt_async_{};
  uv_async_t snapshot_async_{};
  std::mutex snapshot_mu_;
  std::vector<std::shared_ptr<SnapshotBox>> snapshot_boxes_;  // guarded by snapshot_mu_
  std::vector<Worker*> siblings_;                             // set before start, read-only after
  std::mutex handed_mu_;
  std::vector<HandedOver> handed_;  // guarded by handed_mu_
  bool taking_over_ = false;        // guarded by handed_mu_: adopt_async_ is open
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_set<ClientSession*> sessions_;
  std::unordered_set<ClientSession*> token_waiters_;
  std::list<ClientSession*> logging_in_;  // logins in progress on this worker, oldest first
  std::atomic<size_t> session_count_{0};
  std::atomic<int64_t> returned_at_{0};  // steady-clock ns of its pool's latest give_back(), 0: none
  // The first sibling's are the target's: which worker the kernel steers to (-1: none, the
  // hash) and when it was last changed; the mutex orders the changes with their setsockopt.
  std::mutex kernel_steer_mu_;
  int kernel_steer_ = -1;                     // guarded by kernel_steer_mu_
  int64_t kernel_steered_at_ = 0;             // guarded by kernel_steer_mu_
  std::unique_ptr<ContextPoolEnv> pool_env_;  // what pool_ reads of the process
  std::unique_ptr<UpstreamPool> pool_;
  std::unique_ptr<UringLoop> uring_;  // the io_uring data path's, on the worker thread
  std::thread thread_;
  bool loop_ready_ = false;
};

}  // namespace camproxy::proxy
