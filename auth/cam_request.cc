#include "auth/cam_request.h"

#include "auth/json_text.h"
#include "auth/tc3_signer.h"
#include "auth/utf8.h"

namespace camproxy::auth {

std::optional<std::string> check_token_request(const Credential& credential, const TokenRequest& request) {
  const struct {
    std::string_view name, value;
  } body_fields[] = {{"instance id", request.instance_id}, {"region", request.region}, {"account", request.account}};
  for (const auto& f : body_fields) {
    if (f.value.empty()) return std::string(f.name) + " is empty";
    if (!is_valid_utf8(f.value)) return std::string(f.name) + " is not valid UTF-8";
  }
  if (credential.secret_id.empty()) return "SecretId is empty";
  if (credential.secret_key.empty()) return "SecretKey is empty";
  if (!is_printable_ascii(request.region)) return "region contains non-printable or non-ASCII characters";
  if (!is_printable_ascii(credential.secret_id)) return "SecretId contains invalid characters";
  if (!is_printable_ascii(credential.session_token.view())) {
    return "session token contains invalid characters";
  }
  return std::nullopt;
}

std::string build_token_request_body(const TokenRequest& request) {
  std::string body = "{\"ResourceId\":";
  append_json_string(body, request.instance_id);
  body.append(",\"ResourceRegion\":");
  append_json_string(body, request.region);
  body.append(",\"ResourceAccount\":");
  append_json_string(body, request.account);
  body.push_back('}');
  return body;
}

std::vector<HttpHeader> build_cam_headers(const Endpoint& endpoint, const Credential& credential,
                                          std::string_view region, std::string_view body, std::int64_t timestamp,
                                          std::string_view language, std::string_view request_client) {
  const Tc3Signature signature = sign_tc3(Tc3Input{credential.secret_id, credential.secret_key.view(), endpoint.service,
                                                   endpoint.host_header, kCamContentType, body, timestamp});

  std::vector<HttpHeader> headers = {
      {"Host", endpoint.host_header},
      {"Content-Type", std::string(kCamContentType)},
      {"X-TC-Action", std::string(kCamAction)},
      {"X-TC-Version", std::string(kCamVersion)},
      {"X-TC-Timestamp", std::to_string(timestamp)},
      // §1: the region of the database instance, same as ResourceRegion.
      {"X-TC-Region", std::string(region)},
  };
  if (!credential.session_token.empty()) {
    headers.push_back({"X-TC-Token", std::string(credential.session_token.view())});
  }
  if (!language.empty()) headers.push_back({"X-TC-Language", std::string(language)});
  if (!request_client.empty()) {
    headers.push_back({"X-TC-RequestClient", std::string(request_client)});
  }
  headers.push_back({"Authorization", signature.authorization});
  return headers;
}

}  // namespace camproxy::auth
