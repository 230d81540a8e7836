// Credential source "env" (spec/tencentcloud-cam.md §7.1): read once, never changes.
#include <utility>

#include "auth/credential_sources.h"

namespace camproxy::auth {
namespace {

class EnvProvider final : public CredentialProvider {
 public:
  explicit EnvProvider(Credential credential)
      : credential_(std::make_shared<const Credential>(std::move(credential))) {}

  CredentialResult<CredentialSnapshot> fetch() override {
    return CredentialSnapshot{credential_, credential_->secret_id, "env", std::nullopt, std::nullopt};
  }
  bool needs_refresh(const CredentialSnapshot&, SystemTime) const override { return false; }
  std::string_view name() const override { return "env"; }

 private:
  std::shared_ptr<const Credential> credential_;
};

}  // namespace

ProbeResult probe_env(const ProbeContext& context) {
  // Configured as soon as either variable has a value; then both must (the Go SDK
  // stops the chain on a half-set pair, and so do we).
  if (!context.forced && env_or_empty(context.env, "TENCENTCLOUD_SECRET_ID").empty() &&
      env_or_empty(context.env, "TENCENTCLOUD_SECRET_KEY").empty()) {
    return SourceProbe{nullptr, "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY are not set"};
  }
  auto credential = credential_from_env(context.env);
  if (!credential) {
    const std::error_code ec = credential.error();
    return tl::unexpected(CredentialError{ec, "environment credentials: " + ec.message(), false});
  }
  return SourceProbe{std::make_unique<EnvProvider>(std::move(*credential)), {}};
}

}  // namespace camproxy::auth
