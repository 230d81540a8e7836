#include "auth/role_credentials.h"

#include <openssl/crypto.h>
#include <simdjson.h>

#include <functional>
#include <optional>

#include "auth/cam_response.h"
#include "auth/credential_sources.h"
#include "auth/json_text.h"
#include "auth/utf8.h"

namespace camproxy::auth {
namespace {

constexpr std::size_t kMaxCodeBytes = 128;
constexpr std::size_t kMaxTextBytes = 512;
// ExpiredTime is seconds since the epoch; beyond 2100-01-01 it is not a real expiry, and far
// enough beyond it would overflow the nanosecond system clock (found by the fuzz target).
constexpr std::int64_t kLatestExpiry = 4'102'444'800;

// Parses `body` into `parser`'s document; the padded copy (it holds the secret key) is wiped.
bool parse_json(simdjson::dom::parser& parser, std::string_view body, simdjson::dom::element& doc) {
  simdjson::padded_string padded(body);
  const bool parsed = parser.parse(padded).get(doc) == simdjson::SUCCESS;
  OPENSSL_cleanse(padded.data(), padded.size());
  return parsed;
}

// The fields both answers share, checked alike: an id and token fit for HTTP headers, a key,
// and an expiry in seconds since the epoch.
CredentialResult<CredentialSnapshot> snapshot_from(simdjson::dom::object creds, std::optional<std::int64_t> expired,
                                                   std::string source, SystemTime fetched_at,
                                                   std::chrono::seconds refresh_margin,
                                                   const std::function<CredentialError()>& invalid) {
  const std::string_view id = string_at(creds, "TmpSecretId");
  SecretString key = take_secret(string_at(creds, "TmpSecretKey"));
  SecretString token = take_secret(string_at(creds, "Token"));
  if (id.empty() || !is_printable_ascii(id) || key.empty() || token.empty() || !is_printable_ascii(token.view()) ||
      !expired || *expired <= 0 || *expired > kLatestExpiry) {
    return tl::unexpected(invalid());
  }
  auto credential = std::make_shared<const Credential>(Credential{std::string(id), std::move(key), std::move(token)});
  const SystemTime expires_at{std::chrono::seconds(*expired)};
  return CredentialSnapshot{credential, credential->secret_id, std::move(source), expires_at,
                            refresh_time(fetched_at, expires_at, refresh_margin)};
}

}  // namespace

CredentialResult<CredentialSnapshot> parse_metadata_role_answer(std::string_view body, std::string_view role,
                                                                const std::string& context, SystemTime fetched_at,
                                                                std::chrono::seconds refresh_margin) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (!parse_json(parser, body, doc) || doc.get(obj) != simdjson::SUCCESS) {
    return tl::unexpected(credential_error(AuthErr::metadata_bad_answer, context + ": not a JSON object", true));
  }
  if (const std::string_view code = string_at(obj, "Code"); code != "Success") {
    return tl::unexpected(
        credential_error(AuthErr::metadata_bad_answer,
                         context + ": Code is '" + printable(code, kMaxCodeBytes) + "', not 'Success'", true));
  }
  return snapshot_from(
      obj, int64_at(obj, "ExpiredTime"), "cvm-role:" + std::string(role), fetched_at, refresh_margin, [&] {
        return credential_error(AuthErr::metadata_bad_answer,
                                context + ": TmpSecretId, TmpSecretKey, Token or ExpiredTime missing or invalid", true);
      });
}

CredentialResult<CredentialSnapshot> parse_sts_answer(std::string_view body, std::string_view role_arn,
                                                      const std::string& context, SystemTime fetched_at,
                                                      std::chrono::seconds refresh_margin) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object response;
  if (!parse_json(parser, body, doc) || doc["Response"].get(response) != simdjson::SUCCESS) {
    return tl::unexpected(
        credential_error(AuthErr::sts_bad_answer, context + ": not a JSON object with a Response", true));
  }
  const std::string request_id = " (RequestId " + printable(string_at(response, "RequestId"), kMaxCodeBytes) + ")";
  simdjson::dom::object error;
  if (response["Error"].get(error) == simdjson::SUCCESS) {
    const std::string code = printable(string_at(error, "Code"), kMaxCodeBytes);
    // The API 3.0 rule of spec §6.1: AuthFailure.* will not cure itself; the rest
    // (throttling, internal errors, a token kubelet is about to rotate) may.
    return tl::unexpected(CredentialError{
        make_error_code(AuthErr::sts_rejected),
        context + ": " + code + ": " + printable(string_at(error, "Message"), kMaxTextBytes) + request_id,
        classify_cam_error(code) == ErrorClass::retryable});
  }
  simdjson::dom::object creds;
  const auto expired = int64_at(response, "ExpiredTime");
  if (response["Credentials"].get(creds) != simdjson::SUCCESS || !expired) {
    return tl::unexpected(
        credential_error(AuthErr::sts_bad_answer, context + ": no Credentials or ExpiredTime" + request_id, true));
  }
  return snapshot_from(creds, expired, "tke-oidc:" + std::string(role_arn), fetched_at, refresh_margin, [&] {
    return credential_error(
        AuthErr::sts_bad_answer,
        context + ": TmpSecretId, TmpSecretKey, Token or ExpiredTime missing or invalid" + request_id, true);
  });
}

}  // namespace camproxy::auth
