// Interpretation of one BuildDataFlowAuthToken HTTP answer (spec/tencentcloud-cam.md
// §3, §5, §6). Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "auth/secret.h"

namespace camproxy::auth {

// §6.1: user_notification = retrying cannot help (bad key, policy, feature off):
// no retry, no stale token. Everything else is retryable.
enum class ErrorClass { user_notification, retryable };

std::string_view to_string(ErrorClass c) noexcept;

// §6.1: user_notification when the code, compared case-insensitively, starts with
// "AuthFailure." or equals "ResourceNotFound.DataFlowAuthClose".
ErrorClass classify_cam_error(std::string_view code);

// Codes of CamError for failures that are not CAM API errors.
namespace client_error {
inline constexpr std::string_view kHttpStatus = "http_status";        // non-200 answer
inline constexpr std::string_view kInvalidJson = "invalid_json";      // body not the API envelope
inline constexpr std::string_view kNoCredentials = "no_credentials";  // 200 without Credentials.Token
inline constexpr std::string_view kTokenDecode = "token_decode";      // token failed §4.3
inline constexpr std::string_view kNetwork = "network";               // connect/read/write failure
inline constexpr std::string_view kTimeout = "timeout";
inline constexpr std::string_view kTls = "tls";                         // handshake or verification
inline constexpr std::string_view kEndpoint = "endpoint";               // unusable endpoint URL
inline constexpr std::string_view kInvalidRequest = "invalid_request";  // empty/unsendable input
}  // namespace client_error

// Lifetime given to a token whose rotation times are missing, overdue or equal
// (§5 SDK rule, cam_responses.json success_without_rotation_times).
inline constexpr std::int64_t kFallbackLifetimeMs = 5000;

struct CamToken {
  SecretString password;     // decoded AuthTokenInfo.password
  std::int64_t lifetime_ms;  // NextRotationTime - CurrentTime, or kFallbackLifetimeMs
  std::optional<std::int64_t> current_time_ms, next_rotation_time_ms;
  std::string rotation_status, rotation_message, request_id;  // informational, log them
};

struct CamError {
  std::string code;        // API Error.Code as sent, or one of client_error::*
  std::string message;     // human text, never secrets
  std::string request_id;  // Response.RequestId when known
  ErrorClass error_class = ErrorClass::retryable;
  int http_status = 0;  // 0 when no HTTP answer was received
};

using CamResult = tl::expected<CamToken, CamError>;

// `instance_id`, `region`, `user_name` are the values sent in the request; they are
// the token's decryption key (§4.2).
CamResult parse_cam_response(int http_status, std::string_view body, std::string_view instance_id,
                             std::string_view region, std::string_view user_name);

}  // namespace camproxy::auth
