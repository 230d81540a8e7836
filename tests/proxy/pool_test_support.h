#pragma once
// What the tests of UpstreamPool and of ClientSession over a pool share: a PoolEnv with one
// account's token (generation 7, "token-7") and no warm-up, and script steps for the replies a
// pooled connection's own commands get.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/pool/upstream_pool.h"
#include "tests/proxy/scripted_server.h"

namespace camproxy::proxy::testing {

class FakePoolEnv final : public PoolEnv {
 public:
  explicit FakePoolEnv(uv_loop_t* loop);

  uv_loop_t* loop() override { return loop_; }
  const TargetConfig& config() const override { return config_; }
  std::shared_ptr<const TokenState> token(const std::string&) const override { return token_; }
  void token_rejected(const std::string& account, uint64_t generation) override {
    rejected.emplace_back(account, generation);
  }
  CollationNames& collations() override { return collations_; }
  SSL_CTX* upstream_tls() const override { return nullptr; }
  size_t worker_count() const override { return 1; }
  ConnectionBudget& budget() override { return *budget_; }

  TargetConfig config_;
  std::shared_ptr<const TokenState> token_;
  std::vector<std::pair<std::string, uint64_t>> rejected;
  // Its own budget unless a test shares one between pools (two workers of one target).
  ConnectionBudget own_budget_;
  ConnectionBudget* budget_ = &own_budget_;

 private:
  uv_loop_t* loop_;
  CollationNames collations_;
};

// A text resultset of one row, with classic EOF packets (the tests' pool keys have no
// DEPRECATE_EOF); std::nullopt is SQL NULL.
std::vector<Step> resultset(std::vector<std::optional<std::string>> row);

// Expects a command packet of `cmd` whose text starts with `text`.
Step expect_command(protocol::Command cmd, std::string_view text = {});

}  // namespace camproxy::proxy::testing
