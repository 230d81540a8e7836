#pragma once
// What the workers and sessions of one target share (read-mostly, thread-safe).
#include <openssl/ssl.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "proxy/collation_names.h"
#include "proxy/config.h"
#include "proxy/session_registry.h"
#include "proxy/token_service.h"

namespace camproxy::proxy {

// What the application's greeting mirrors from the database (spec/mysql-protocol.md §2.1).
struct UpstreamProfile {
  std::string server_version;
  uint32_t capabilities = 0;
  uint8_t collation = 0;
  uint16_t status_flags = 0;
};

class ProxyContext {
 public:
  ProxyContext(const Config& process, const TargetConfig& config, TokenService& tokens, SSL_CTX* client_tls,
               SSL_CTX* upstream_tls)
      : process_(process), config_(config), tokens_(tokens), client_tls_(client_tls), upstream_tls_(upstream_tls) {}

  const Config& process() const { return process_; }
  const TargetConfig& config() const { return config_; }
  TokenService& tokens() { return tokens_; }
  SSL_CTX* client_tls() const { return client_tls_; }
  SSL_CTX* upstream_tls() const { return upstream_tls_; }

  // Handshake connection ids: unique and never reused while the process lives (§2.1, §7.3).
  uint32_t next_connection_id() { return next_connection_id_.fetch_add(1, std::memory_order_relaxed); }

  SessionRegistry& sessions() { return sessions_; }
  CollationNames& collations() { return collations_; }
  // Application connections open in the whole process (--max-client-connections).
  std::atomic<int64_t>& open_clients() { return open_clients_; }
  // Their peak since the last memory trim (proxy/memory_trim.h).
  std::atomic<int64_t>& peak_clients() { return peak_clients_; }
  void note_open_clients(int64_t open) {
    int64_t peak = peak_clients_.load(std::memory_order_relaxed);
    while (open > peak && !peak_clients_.compare_exchange_weak(peak, open, std::memory_order_relaxed)) {
    }
  }

  size_t worker_count() const { return worker_count_; }
  void set_worker_count(size_t n) { worker_count_ = n; }

  std::shared_ptr<const UpstreamProfile> profile() const {
    std::lock_guard lock(mu_);
    return profile_;
  }
  void set_profile(std::shared_ptr<const UpstreamProfile> p) {
    std::lock_guard lock(mu_);
    profile_ = std::move(p);
  }

 private:
  const Config& process_;
  const TargetConfig& config_;
  TokenService& tokens_;
  SSL_CTX* client_tls_;
  SSL_CTX* upstream_tls_;
  std::atomic<uint32_t> next_connection_id_{1};
  size_t worker_count_ = 1;
  SessionRegistry sessions_;
  CollationNames collations_;
  std::atomic<int64_t> open_clients_{0};
  std::atomic<int64_t> peak_clients_{0};
  mutable std::mutex mu_;
  std::shared_ptr<const UpstreamProfile> profile_;
};

}  // namespace camproxy::proxy
