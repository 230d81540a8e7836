// The four credential sources behind make_credential_provider (spec/tencentcloud-cam.md
// §7.1-7.4). Internal to auth/: programs use make_credential_provider.
#pragma once

#include <memory>
#include <string>

#include "auth/credential_provider.h"

namespace camproxy::auth {

// What probing one source found: a provider, or (provider == nullptr) that the source
// is not configured on this machine, and why (for the chain's final message). A forced
// probe reports a source that is not configured as an error instead.
struct SourceProbe {
  std::unique_ptr<CredentialProvider> provider;
  std::string absent;
};

using ProbeResult = CredentialResult<SourceProbe>;

struct ProbeContext {
  const CredentialOptions& options;
  const EnvLookup& env;
  bool forced;  // the operator chose this source (not "auto")
};

ProbeResult probe_env(const ProbeContext& context);
ProbeResult probe_profile(const ProbeContext& context);
ProbeResult probe_tke_oidc(const ProbeContext& context);
// When forced, an unreachable metadata service is an error rather than "not a CVM".
ProbeResult probe_cvm_role(const ProbeContext& context);

// A CredentialError whose message is `context` + ": " + the code's own text.
CredentialError credential_error(AuthErr code, std::string_view context, bool transient = false);

// now >= current.refresh_at (never true for a credential without one).
bool refresh_due(const CredentialSnapshot& current, SystemTime now);

}  // namespace camproxy::auth
