#include "auth/credential_provider.h"

#include <algorithm>
#include <array>

#include "auth/credential_sources.h"

namespace camproxy::auth {
namespace {

struct Source {
  std::string_view name;
  ProbeResult (*probe)(const ProbeContext&);
};

// spec §7.6 [camproxy]: env -> profile -> TKE OIDC -> CVM role. OIDC goes before the
// metadata probe: it avoids a timeout on non-CVM Kubernetes nodes, and on TKE the
// pod's own role is the intended one.
constexpr std::array<Source, 4> kChain = {{
    {"env", &probe_env},
    {"profile", &probe_profile},
    {"tke-oidc", &probe_tke_oidc},
    {"cvm-role", &probe_cvm_role},
}};

}  // namespace

CredentialError credential_error(AuthErr code, std::string_view context, bool transient) {
  const std::error_code ec = make_error_code(code);
  std::string message(context);
  if (!message.empty()) message += ": ";
  message += ec.message();
  return CredentialError{ec, std::move(message), transient};
}

bool refresh_due(const CredentialSnapshot& current, SystemTime now) {
  return current.refresh_at.has_value() && now >= *current.refresh_at;
}

SystemTime refresh_time(SystemTime fetched_at, SystemTime expires_at, std::chrono::seconds margin) {
  constexpr std::chrono::seconds kMinInterval{1};
  const auto remaining = expires_at - fetched_at;
  const auto early = std::min<SystemTime::duration>(
      margin, std::max<SystemTime::duration>(remaining / 2, SystemTime::duration::zero()));
  return std::max(expires_at - early, fetched_at + kMinInterval);
}

CredentialResult<std::unique_ptr<CredentialProvider>> make_credential_provider(const CredentialOptions& options,
                                                                               const EnvLookup& env) {
  if (options.source != "auto") {
    const auto* it =
        std::find_if(kChain.begin(), kChain.end(), [&](const Source& s) { return s.name == options.source; });
    if (it == kChain.end()) {
      return tl::unexpected(
          credential_error(AuthErr::credential_source_unknown, "credential source '" + options.source + "'"));
    }
    ProbeResult probe = it->probe(ProbeContext{options, env, true});
    if (!probe) return tl::unexpected(std::move(probe.error()));
    if (!probe->provider) {  // forced probes report errors instead; never hand out null
      return tl::unexpected(credential_error(AuthErr::no_credential_source, probe->absent));
    }
    return std::move(probe->provider);
  }
  std::string absent;
  for (const Source& source : kChain) {
    ProbeResult probe = source.probe(ProbeContext{options, env, false});
    // Only "not configured here" moves on; a configured but broken source stops the chain.
    if (!probe) return tl::unexpected(std::move(probe.error()));
    if (probe->provider) return std::move(probe->provider);
    absent += (absent.empty() ? "" : "; ") + std::string(source.name) + ": " + probe->absent;
  }
  return tl::unexpected(
      CredentialError{make_error_code(AuthErr::no_credential_source),
                      "no Tencent Cloud credentials found (" + absent +
                          "); set TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, a profile file, the TKE_* "
                          "variables, or bind a CAM role to the CVM",
                      false});
}

}  // namespace camproxy::auth
