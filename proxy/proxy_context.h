#pragma once
// What the workers and sessions of one target share (read-mostly, thread-safe).
#include <openssl/ssl.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/config/local_users.h"
#include "proxy/pool/collation_names.h"
#include "proxy/pool/connection_budget.h"
#include "proxy/session/greeting_profile.h"
#include "proxy/session/session_registry.h"
#include "proxy/tokens/token_service.h"

namespace camproxy::proxy {

// What all targets of the process share.
struct ProcessShared {
  // Counts handshake connection ids (§2.1, §7.3): the n-th is client_connection_id(n)
  // (session_registry.h), unique in the process until 2^30 logins wrapped it.
  std::atomic<uint32_t> next_connection_id{1};
  // Application connections open in the whole process (--max-client-connections), and their
  // peak since the last memory trim (proxy/memory_trim.h).
  std::atomic<int64_t> open_clients{0};
  std::atomic<int64_t> peak_clients{0};
  // Every target's CAM calls (--cam-rate-limit, --cam-burst), configured by App at start.
  CamCallBudget cam_budget;
  // --data-path as resolved by App at start, before any worker runs: each worker then runs
  // its sockets over an io_uring of its own (proxy/net/uring_loop.h).
  bool io_uring_data_path = false;
  // Of open_clients, those still logging in (--max-logins-in-progress).
  std::atomic<int64_t> logins_in_progress{0};
};

class ProxyContext {
 public:
  ProxyContext(const Config& process, ProcessShared& shared, TargetConfig config, TokenService& tokens,
               SSL_CTX* client_tls, SSL_CTX* upstream_tls)
      : process_(process), shared_(shared), tokens_(tokens), client_tls_(client_tls), upstream_tls_(upstream_tls) {
    set_config(std::move(config));
  }

  const Config& process() const { return process_; }
  // The target's settings as of now: a SIGHUP may publish new ones (set_config). A reference
  // stays valid for the context's life, so a session may keep the one it started with.
  const TargetConfig& config() const { return *config_.load(std::memory_order_acquire); }
  // Control thread. Earlier versions are kept (a reload is rare and a version small): workers
  // may still be reading them.
  void set_config(TargetConfig next) {
    versions_.push_back(std::make_unique<const TargetConfig>(std::move(next)));
    config_.store(versions_.back().get(), std::memory_order_release);
  }
  TokenService& tokens() { return tokens_; }
  SSL_CTX* client_tls() const { return client_tls_; }
  SSL_CTX* upstream_tls() const { return upstream_tls_; }

  uint32_t next_connection_id() {
    return client_connection_id(shared_.next_connection_id.fetch_add(1, std::memory_order_relaxed));
  }

  SessionRegistry& sessions() { return sessions_; }
  CollationNames& collations() { return collations_; }
  // The target's --pool-max and borrow queue, shared by its workers' pools.
  ConnectionBudget& budget() { return budget_; }
  const ConnectionBudget& budget() const { return budget_; }
  std::atomic<int64_t>& open_clients() { return shared_.open_clients; }
  std::atomic<int64_t>& logins_in_progress() { return shared_.logins_in_progress; }
  // Their peak since the last memory trim (proxy/memory_trim.h).
  void note_open_clients(int64_t open) {
    int64_t peak = shared_.peak_clients.load(std::memory_order_relaxed);
    while (open > peak && !shared_.peak_clients.compare_exchange_weak(peak, open, std::memory_order_relaxed)) {
    }
  }

  bool io_uring_data_path() const { return shared_.io_uring_data_path; }
  size_t worker_count() const { return worker_count_; }
  void set_worker_count(size_t n) { worker_count_ = n; }

  std::shared_ptr<const GreetingProfile> profile() const {
    std::lock_guard lock(mu_);
    return profile_;
  }
  void set_profile(std::shared_ptr<const GreetingProfile> p) {
    std::lock_guard lock(mu_);
    profile_ = std::move(p);
  }

  // Local authentication's users; nullptr when it is off (any password is accepted).
  std::shared_ptr<const LocalUsers> local_users() const {
    std::lock_guard lock(mu_);
    return local_users_;
  }
  void set_local_users(std::shared_ptr<const LocalUsers> users) {
    std::lock_guard lock(mu_);
    local_users_ = std::move(users);
  }

 private:
  const Config& process_;
  ProcessShared& shared_;
  std::vector<std::unique_ptr<const TargetConfig>> versions_;
  std::atomic<const TargetConfig*> config_{nullptr};
  TokenService& tokens_;
  SSL_CTX* client_tls_;
  SSL_CTX* upstream_tls_;
  size_t worker_count_ = 1;
  SessionRegistry sessions_;
  CollationNames collations_;
  ConnectionBudget budget_;
  mutable std::mutex mu_;
  std::shared_ptr<const GreetingProfile> profile_;
  std::shared_ptr<const LocalUsers> local_users_;
};

}  // namespace camproxy::proxy
