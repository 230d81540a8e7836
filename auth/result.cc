#include "auth/result.h"

namespace camproxy::auth {
namespace {

class AuthCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "camproxy.auth"; }

  std::string message(int value) const override {
    switch (static_cast<AuthErr>(value)) {
      case AuthErr::secret_id_missing: return "TENCENTCLOUD_SECRET_ID is not set or is empty";
      case AuthErr::secret_key_missing: return "TENCENTCLOUD_SECRET_KEY is not set or is empty";
      case AuthErr::endpoint_malformed: return "endpoint is not a URL of the form scheme://host[:port][/]";
      case AuthErr::endpoint_scheme: return "endpoint must start with https:// (or http:// for a loopback host)";
      case AuthErr::endpoint_insecure:
        return "endpoint uses plain http:// to a host that is not loopback; use https://";
      case AuthErr::bad_option: return "CAM client option out of range (timeout, language or request client)";
      case AuthErr::ca_file_unreadable: return "CAM client CA file cannot be read";
      case AuthErr::curl_init: return "libcurl could not be initialised";
      case AuthErr::credential_source_unknown:
        return "credential source must be auto, env, profile, cvm-role or tke-oidc";
      case AuthErr::no_credential_source:
        return "no Tencent Cloud credentials found (environment, profile file, TKE OIDC, CVM role)";
      case AuthErr::profile_not_found: return "credentials profile file does not exist";
      case AuthErr::profile_unreadable:
        return "credentials profile file cannot be read (permissions, not a regular file, or too "
               "large)";
      case AuthErr::profile_malformed:
        return "credentials profile file has a line that is not [section], a comment or key = value";
      case AuthErr::profile_key_missing:
        return "credentials profile file lacks secret_id or secret_key in section [default]";
      case AuthErr::metadata_unavailable: return "CVM metadata service unreachable or failing";
      case AuthErr::metadata_no_role: return "CVM metadata service: no CAM role is bound to this instance";
      case AuthErr::metadata_bad_answer:
        return "CVM metadata service answered something that is not a usable role credential";
      case AuthErr::oidc_env_incomplete:
        return "TKE OIDC needs TKE_REGION, TKE_PROVIDER_ID, TKE_WEB_IDENTITY_TOKEN_FILE and "
               "TKE_ROLE_ARN, all non-empty";
      case AuthErr::oidc_token_file: return "TKE web identity token file cannot be read, is empty or too large";
      case AuthErr::sts_unavailable: return "STS unreachable or failing";
      case AuthErr::sts_rejected: return "STS refused AssumeRoleWithWebIdentity";
      case AuthErr::sts_bad_answer: return "STS answer is not a usable AssumeRoleWithWebIdentity response";
      case AuthErr::fallback_unreadable: return "fallback password file cannot be opened or read";
      case AuthErr::fallback_not_regular: return "fallback password file is not a regular file";
      case AuthErr::fallback_world_readable: return "fallback password file is readable by others; chmod o-r it";
      case AuthErr::fallback_too_large: return "fallback password file is larger than 200 bytes";
      case AuthErr::fallback_empty: return "fallback password file is empty or its line is empty";
      case AuthErr::fallback_multiple_lines: return "fallback password file has more than one line";
      case AuthErr::fallback_nul_byte: return "fallback password file contains a NUL byte";
    }
    return "unknown auth error";
  }
};

}  // namespace

const std::error_category& auth_category() noexcept {
  static const AuthCategory category;
  return category;
}

}  // namespace camproxy::auth
