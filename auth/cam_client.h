// CamClient: one blocking BuildDataFlowAuthToken call over libcurl
// (spec/tencentcloud-cam.md §1-3). Blocking by design: the proxy runs it on a worker
// thread of the control loop, never on a data-path loop. No retries inside.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "auth/cam_request.h"
#include "auth/cam_response.h"
#include "auth/credentials.h"
#include "auth/endpoint.h"
#include "auth/http_client.h"
#include "auth/result.h"

namespace camproxy::auth {

struct CamClientOptions {
  std::string endpoint = "https://cam.tencentcloudapi.com";
  std::string ca_file;                            // empty = system CAs
  std::chrono::milliseconds timeout{10000};       // whole call: connect, TLS, request, answer
  std::string language = "en-US";                 // X-TC-Language: "en-US", "zh-CN" or "" (omit)
  std::string request_client = "camproxy_0.1.0";  // X-TC-RequestClient, "" = omit
};

// Not thread-safe: one thread at a time per client. The easy handle is kept, so
// its connection (and TLS session) is reused from call to call.
class CamClient {
 public:
  // Validates the options (endpoint per parse_endpoint, timeout > 0, language,
  // request client per §1: [0-9a-zA-Z-_ ,;.]{1,128}, readable ca_file).
  static Result<std::unique_ptr<CamClient>> create(CamClientOptions options);

  CamClient(const CamClient&) = delete;
  CamClient& operator=(const CamClient&) = delete;

  // One call with timestamp = now. Transport failures are CamError{network |
  // timeout | tls | endpoint}; bad input is CamError{invalid_request}.
  CamResult fetch(const Credential& credential, const TokenRequest& request);

  const Endpoint& endpoint() const noexcept { return http_->endpoint(); }

 private:
  CamClient(CamClientOptions options, std::unique_ptr<HttpClient> http);

  CamClientOptions options_;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace camproxy::auth
