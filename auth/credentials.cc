#include "auth/credentials.h"

#include <cstdlib>

namespace camproxy::auth {

std::string_view env_or_empty(const EnvLookup& lookup, const char* name) {
  const char* value = lookup(name);
  return value == nullptr ? std::string_view() : std::string_view(value);
}

Result<Credential> credential_from_env() {
  return credential_from_env([](const char* name) { return std::getenv(name); });
}

Result<Credential> credential_from_env(const EnvLookup& lookup) {
  const std::string_view id = env_or_empty(lookup, "TENCENTCLOUD_SECRET_ID");
  if (id.empty()) return tl::unexpected(make_error_code(AuthErr::secret_id_missing));
  const std::string_view key = env_or_empty(lookup, "TENCENTCLOUD_SECRET_KEY");
  if (key.empty()) return tl::unexpected(make_error_code(AuthErr::secret_key_missing));

  std::string_view token = env_or_empty(lookup, "TENCENTCLOUD_SESSION_TOKEN");
  if (token.empty()) token = env_or_empty(lookup, "TENCENTCLOUD_TOKEN");
  return Credential{std::string(id), SecretString(key), SecretString(token)};
}

}  // namespace camproxy::auth
