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
};

const std::error_category& auth_category() noexcept;

inline std::error_code make_error_code(AuthErr e) noexcept {
  return {static_cast<int>(e), auth_category()};
}

}  // namespace camproxy::auth

template <>
struct std::is_error_code_enum<camproxy::auth::AuthErr> : std::true_type {};
