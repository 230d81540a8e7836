// Tencent Cloud API credentials (spec/tencentcloud-cam.md §7).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "auth/result.h"
#include "auth/secret.h"

namespace camproxy::auth {

// (SecretId, SecretKey, optional session token). Long-term keys have no token;
// temporary ones (CVM role, STS, OIDC) always do and go with X-TC-Token.
struct Credential {
  std::string secret_id;
  SecretString secret_key;
  SecretString session_token;  // empty = none
};

// Returns the value of an environment variable, or nullptr when unset.
using EnvLookup = std::function<const char*(const char* name)>;

// The variable's value; "" when unset.
std::string_view env_or_empty(const EnvLookup& lookup, const char* name);

// §7.1: TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (both required and
// non-empty: AuthErr::secret_id_missing / secret_key_missing), plus the camproxy
// extension TENCENTCLOUD_SESSION_TOKEN, alias TENCENTCLOUD_TOKEN (first non-empty wins).
Result<Credential> credential_from_env();
Result<Credential> credential_from_env(const EnvLookup& lookup);

}  // namespace camproxy::auth
