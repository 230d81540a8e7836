#pragma once
// What an UpstreamPool needs from the process around it, passed at construction: a Worker gives
// it its loop and target (proxy/context_pool_env.h), a test a loop and a scripted server's settings.
#include <openssl/ssl.h>
#include <uv.h>

#include <memory>
#include <string>

#include "proxy/config/config.h"
#include "proxy/pool/collation_names.h"
#include "proxy/pool/connection_budget.h"
#include "proxy/tokens/token_service.h"

namespace camproxy::proxy {

class PoolEnv {
 public:
  virtual uv_loop_t* loop() = 0;
  // The target's settings as of now (a reload may publish new ones between calls).
  virtual const TargetConfig& config() const = 0;
  // The account's current CAM token state (nullptr: none yet).
  virtual std::shared_ptr<const TokenState> token(const std::string& account) const = 0;
  // The database refused the token of `generation` with 1045: have it refetched (rate-limited).
  virtual void token_rejected(const std::string& account, uint64_t generation) = 0;
  virtual CollationNames& collations() = 0;
  virtual SSL_CTX* upstream_tls() const = 0;  // null when --upstream-tls=disable
  // The target's workers, among which --pool-min-idle is divided.
  virtual size_t worker_count() const = 0;
  // The target's --pool-max and borrow queue, shared by its workers' pools.
  virtual ConnectionBudget& budget() = 0;
  // A connection was given back and its cleanup started: a worker steers the next new client
  // here, where the cleanup can be handed over (proxy/worker_balance.h).
  virtual void connection_returning() {}

 protected:
  ~PoolEnv() = default;
};

}  // namespace camproxy::proxy
