// The BuildDataFlowAuthToken request: body and headers (spec/tencentcloud-cam.md §1),
// built as plain values so they can be checked without a network.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/credentials.h"
#include "auth/endpoint.h"
#include "auth/http_client.h"

namespace camproxy::auth {

// What to ask CAM for: ResourceId, ResourceRegion, ResourceAccount (§1).
struct TokenRequest {
  std::string instance_id, region, account;
};

inline constexpr std::string_view kCamContentType = "application/json";
inline constexpr std::string_view kCamAction = "BuildDataFlowAuthToken";
inline constexpr std::string_view kCamVersion = "2019-01-16";

// Why the request cannot be sent (names the field, never its value), or nullopt.
// Instance, region and account must be non-empty UTF-8; values that go into headers
// (region, SecretId, session token) must be printable ASCII so that nothing can
// inject a header line.
std::optional<std::string> check_token_request(const Credential& credential, const TokenRequest& request);

// Compact JSON in the Go SDK's key order with raw UTF-8:
// {"ResourceId":"..","ResourceRegion":"..","ResourceAccount":".."}
std::string build_token_request_body(const TokenRequest& request);

// Every header of the request in sending order, Authorization signed over `body`
// (§2, content-type;host). X-TC-Token only with a session token; X-TC-Language and
// X-TC-RequestClient only when non-empty. The X-TC-Token value is a secret: the
// caller wipes it when done.
std::vector<HttpHeader> build_cam_headers(const Endpoint& endpoint, const Credential& credential,
                                          std::string_view region, std::string_view body, std::int64_t timestamp,
                                          std::string_view language, std::string_view request_client);

}  // namespace camproxy::auth
