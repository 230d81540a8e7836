// Result type and error codes of the auth library.
#pragma once

#include <string>
#include <system_error>
#include <tl/expected.hpp>
#include <type_traits>

namespace camproxy::auth {

template <class T>
using Result = tl::expected<T, std::error_code>;

// Configuration and setup failures of the auth library. Each message names the
// variable or setting at fault, never a value (values may be secrets).
enum class AuthErr {
  secret_id_missing = 1,  // TENCENTCLOUD_SECRET_ID unset or empty
  secret_key_missing,     // TENCENTCLOUD_SECRET_KEY unset or empty
  endpoint_malformed,     // not scheme://host[:port][/]
  endpoint_scheme,        // scheme other than https:// or http://
  endpoint_insecure,      // http:// to a host that is not loopback
  bad_option,             // a CamClientOptions field out of range
  ca_file_unreadable,     // CamClientOptions::ca_file cannot be opened
  curl_init,              // libcurl could not be initialised

  // Credential sources (spec/tencentcloud-cam.md §7); see credential_provider.h.
  credential_source_unknown,  // CredentialOptions::source not one of the known names
  no_credential_source,       // "auto": no source is configured on this machine
  profile_not_found,          // the profile file named by option or variable does not exist
  profile_unreadable,         // exists but cannot be read, is not a regular file, or too large
  profile_malformed,          // a line is not a section, comment or key = value
  profile_key_missing,        // [default] lacks secret_id or secret_key
  metadata_unavailable,       // metadata service: network, timeout, HTTP status other than 200/404
  metadata_no_role,           // metadata service: HTTP 404, no CAM role bound to the instance
  metadata_bad_answer,        // metadata service: role name or credentials JSON unusable
  oidc_env_incomplete,        // some TKE_* variables set, others missing or empty
  oidc_token_file,            // TKE_WEB_IDENTITY_TOKEN_FILE unreadable, empty or too large
  sts_unavailable,            // STS: network, timeout, HTTP status other than 200, throttling
  sts_rejected,               // STS answered an API error
  sts_bad_answer,             // STS answer is not the §7.4 shape

  // The fallback password file (spec §5; --fallback-password-file).
  fallback_unreadable,      // cannot be opened or read
  fallback_not_regular,     // not a regular file (directory, FIFO, device)
  fallback_world_readable,  // mode has the "others may read" bit
  fallback_too_large,       // more than 200 bytes
  fallback_empty,           // no bytes, or an empty line
  fallback_multiple_lines,  // more than one line
  fallback_nul_byte,        // contains a NUL byte (cannot be sent as a clear-text password)
};

const std::error_category& auth_category() noexcept;

inline std::error_code make_error_code(AuthErr e) noexcept { return {static_cast<int>(e), auth_category()}; }

}  // namespace camproxy::auth

template <>
struct std::is_error_code_enum<camproxy::auth::AuthErr> : std::true_type {};
