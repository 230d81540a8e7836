#include "proxy/context_pool_env.h"

namespace camproxy::proxy {

const TargetConfig& ContextPoolEnv::config() const { return ctx_.config(); }

std::shared_ptr<const TokenState> ContextPoolEnv::token(const std::string& account) const {
  return ctx_.tokens().current(account);
}

void ContextPoolEnv::token_rejected(const std::string& account, uint64_t generation) {
  ctx_.tokens().request_after_rejection(account, generation);
}

CollationNames& ContextPoolEnv::collations() { return ctx_.collations(); }
SSL_CTX* ContextPoolEnv::upstream_tls() const { return ctx_.upstream_tls(); }
size_t ContextPoolEnv::worker_count() const { return ctx_.worker_count(); }
ConnectionBudget& ContextPoolEnv::budget() { return ctx_.budget(); }

}  // namespace camproxy::proxy
