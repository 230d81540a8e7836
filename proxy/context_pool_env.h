#pragma once
// A worker's PoolEnv: its loop and its target's shared context.
#include "proxy/pool/upstream_pool_env.h"
#include "proxy/proxy_context.h"

namespace camproxy::proxy {

class ContextPoolEnv final : public PoolEnv {
 public:
  ContextPoolEnv(uv_loop_t* loop, ProxyContext& ctx) : loop_(loop), ctx_(ctx) {}

  uv_loop_t* loop() override { return loop_; }
  const TargetConfig& config() const override;
  std::shared_ptr<const TokenState> token(const std::string& account) const override;
  void token_rejected(const std::string& account, uint64_t generation) override;
  CollationNames& collations() override;
  SSL_CTX* upstream_tls() const override;
  size_t worker_count() const override;
  ConnectionBudget& budget() override;

 private:
  uv_loop_t* loop_;
  ProxyContext& ctx_;
};

}  // namespace camproxy::proxy
