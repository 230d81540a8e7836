#include "auth/cam_response.h"

#include <openssl/crypto.h>
#include <simdjson.h>

#include <cstddef>
#include <limits>

#include "auth/json_text.h"
#include "auth/token_codec.h"

namespace camproxy::auth {
namespace {

// A real answer is well under 2 KiB; anything this large is not CAM talking.
constexpr std::size_t kMaxBodyBytes = 1 << 20;
constexpr std::size_t kMaxCodeBytes = 128;
constexpr std::size_t kMaxTextBytes = 512;

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals_prefix(std::string_view s, std::string_view prefix_lower) {
  if (s.size() < prefix_lower.size()) return false;
  for (std::size_t i = 0; i < prefix_lower.size(); ++i) {
    if (ascii_lower(s[i]) != prefix_lower[i]) return false;
  }
  return true;
}

CamError client_failure(std::string_view code, std::string message, int http_status, std::string request_id = {}) {
  return CamError{std::string(code), std::move(message), std::move(request_id), ErrorClass::retryable, http_status};
}

// §5: only the difference of the two server times counts, so clock skew cancels.
// The SDKs use 5 s when NextRotationTime < CurrentTime; camproxy also when equal
// (a zero lifetime would stop refreshing) and when either value is missing (§3).
std::int64_t lifetime_ms(std::optional<std::int64_t> current, std::optional<std::int64_t> next) {
  if (!current || !next || *next <= *current) return kFallbackLifetimeMs;
  if (*current < 0 && *next > std::numeric_limits<std::int64_t>::max() + *current) {
    return std::numeric_limits<std::int64_t>::max();
  }
  return *next - *current;
}

CamResult parse_credentials(simdjson::dom::object credentials, std::string request_id, std::string_view instance_id,
                            std::string_view region, std::string_view user_name) {
  std::string_view token;
  if (credentials["Token"].get(token) != simdjson::SUCCESS) {
    return tl::unexpected(client_failure(client_error::kNoCredentials, "CAM answer has no Credentials.Token", 200,
                                         std::move(request_id)));
  }
  auto info = decode_auth_token(instance_id, region, user_name, token);
  // The token text sits in the parser's own string buffer; wipe it there too.
  OPENSSL_cleanse(const_cast<char*>(token.data()), token.size());
  if (!info) {
    return tl::unexpected(client_failure(client_error::kTokenDecode,
                                         "CAM token could not be decoded: " + info.error().message(), 200,
                                         std::move(request_id)));
  }
  CamToken out{std::move(info->password),
               0,
               int64_at(credentials, "CurrentTime"),
               int64_at(credentials, "NextRotationTime"),
               printable(string_at(credentials, "RotationStatus"), kMaxCodeBytes),
               printable(string_at(credentials, "RotationMessage"), kMaxTextBytes),
               std::move(request_id)};
  out.lifetime_ms = lifetime_ms(out.current_time_ms, out.next_rotation_time_ms);
  return out;
}

}  // namespace

std::string_view to_string(ErrorClass c) noexcept {
  return c == ErrorClass::user_notification ? "user_notification" : "retryable";
}

ErrorClass classify_cam_error(std::string_view code) {
  constexpr std::string_view kAuthFailure = "authfailure.";
  constexpr std::string_view kFeatureOff = "resourcenotfound.dataflowauthclose";
  if (iequals_prefix(code, kAuthFailure) || (code.size() == kFeatureOff.size() && iequals_prefix(code, kFeatureOff))) {
    return ErrorClass::user_notification;
  }
  return ErrorClass::retryable;
}

CamResult parse_cam_response(int http_status, std::string_view body, std::string_view instance_id,
                             std::string_view region, std::string_view user_name) {
  if (body.size() > kMaxBodyBytes) {
    return tl::unexpected(client_failure(client_error::kInvalidJson, "CAM answer larger than 1 MiB", http_status));
  }
  simdjson::padded_string padded(body);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object response;
  const bool is_envelope =
      parser.parse(padded).get(doc) == simdjson::SUCCESS && doc["Response"].get(response) == simdjson::SUCCESS;
  OPENSSL_cleanse(padded.data(), padded.size());  // the copy holds the token

  std::string request_id = is_envelope ? printable(string_at(response, "RequestId"), kMaxCodeBytes) : std::string();
  simdjson::dom::object error;
  const bool has_error = is_envelope && response["Error"].get(error) == simdjson::SUCCESS;

  // §3: API errors come with HTTP 200; any other status is a gateway or transport
  // problem, retryable. An API code in such a body is only reported in the text.
  if (http_status != 200) {
    std::string message = "CAM endpoint answered HTTP " + std::to_string(http_status);
    if (has_error) {
      message += " (" + printable(string_at(error, "Code"), kMaxCodeBytes) + ")";
    }
    return tl::unexpected(
        client_failure(client_error::kHttpStatus, std::move(message), http_status, std::move(request_id)));
  }
  if (!is_envelope) {
    return tl::unexpected(
        client_failure(client_error::kInvalidJson, "CAM answer is not a JSON object with a Response", http_status));
  }
  if (has_error) {
    std::string code = printable(string_at(error, "Code"), kMaxCodeBytes);
    if (code.empty()) {
      return tl::unexpected(client_failure(client_error::kInvalidJson, "CAM answer has Response.Error without a Code",
                                           http_status, std::move(request_id)));
    }
    const ErrorClass error_class = classify_cam_error(code);
    return tl::unexpected(CamError{std::move(code), printable(string_at(error, "Message"), kMaxTextBytes),
                                   std::move(request_id), error_class, http_status});
  }
  simdjson::dom::object credentials;
  if (response["Credentials"].get(credentials) != simdjson::SUCCESS) {
    return tl::unexpected(client_failure(client_error::kNoCredentials, "CAM answer has neither Error nor Credentials",
                                         http_status, std::move(request_id)));
  }
  return parse_credentials(credentials, std::move(request_id), instance_id, region, user_name);
}

}  // namespace camproxy::auth
