#pragma once
// A worker's PoolEnv: its loop and its target's shared context.
#include <functional>
#include <utility>

#include "proxy/pool/upstream_pool_env.h"
#include "proxy/proxy_context.h"

namespace camproxy::proxy {

class ContextPoolEnv final : public PoolEnv {
 public:
  ContextPoolEnv(uv_loop_t* loop, ProxyContext& ctx, std::function<void()> on_returning)
      : loop_(loop), ctx_(ctx), on_returning_(std::move(on_returning)) {}

  uv_loop_t* loop() override { return loop_; }
  const TargetConfig& config() const override;
  std::shared_ptr<const TokenState> token(const std::string& account) const override;
  void token_rejected(const std::string& account, uint64_t generation) override;
  CollationNames& collations() override;
  SSL_CTX* upstream_tls() const override;
  size_t worker_count() const override;
  ConnectionBudget& budget() override;
  void connection_returning() override { on_returning_(); }

 private:
  uv_loop_t* loop_;
  ProxyContext& ctx_;
  std::function<void()> on_returning_;  // the worker's note_connection_returning()
};

}  // namespace camproxy::proxy
