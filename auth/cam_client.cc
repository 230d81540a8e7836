#include "auth/cam_client.h"

#include <algorithm>
#include <utility>

#include "auth/secret.h"

namespace camproxy::auth {
namespace {

constexpr std::size_t kMaxRequestClientLen = 128;

tl::unexpected<std::error_code> fail(AuthErr e) { return tl::unexpected(make_error_code(e)); }

// §1: the Go SDK's rule for X-TC-RequestClient: ^[0-9a-zA-Z-_ ,;.]+$, <= 128 chars.
bool valid_request_client(std::string_view s) {
  if (s.size() > kMaxRequestClientLen) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
           c == ' ' || c == ',' || c == ';' || c == '.';
  });
}

CamError transport_error(const Endpoint& endpoint, const HttpFailure& failure) {
  std::string_view code = client_error::kNetwork;
  ErrorClass error_class = ErrorClass::retryable;
  switch (failure.kind) {
    case TransportFailure::network: break;
    case TransportFailure::timeout: code = client_error::kTimeout; break;
    case TransportFailure::tls: code = client_error::kTls; break;
    case TransportFailure::bad_url:
      code = client_error::kEndpoint;
      error_class = ErrorClass::user_notification;
      break;
  }
  return CamError{
      std::string(code), "CAM call to " + endpoint.host_header + " failed: " + failure.detail, {}, error_class, 0};
}

}  // namespace

Result<std::unique_ptr<CamClient>> CamClient::create(CamClientOptions options) {
  auto endpoint = parse_endpoint(options.endpoint);
  if (!endpoint) return tl::unexpected(endpoint.error());
  if (!options.language.empty() && options.language != "en-US" && options.language != "zh-CN") {
    return fail(AuthErr::bad_option);
  }
  if (!valid_request_client(options.request_client)) return fail(AuthErr::bad_option);
  auto http = HttpClient::create(HttpClientOptions{std::move(*endpoint), options.ca_file, options.timeout});
  if (!http) return tl::unexpected(http.error());
  return std::unique_ptr<CamClient>(new CamClient(std::move(options), std::move(*http)));
}

CamClient::CamClient(CamClientOptions options, std::unique_ptr<HttpClient> http)
    : options_(std::move(options)), http_(std::move(http)) {}

CamResult CamClient::fetch(const Credential& credential, const TokenRequest& request) {
  if (auto problem = check_token_request(credential, request)) {
    return tl::unexpected(CamError{std::string(client_error::kInvalidRequest),
                                   "CAM request not sent: " + *problem,
                                   {},
                                   ErrorClass::user_notification,
                                   0});
  }
  const std::string body = build_token_request_body(request);
  // §2.1: the timestamp header and the signing date come from one clock read.
  const auto now = std::chrono::system_clock::now();
  const std::int64_t timestamp = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  std::vector<HttpHeader> headers = build_cam_headers(http_->endpoint(), credential, request.region, body, timestamp,
                                                      options_.language, options_.request_client);
  HttpResult answer = http_->perform(HttpRequest{"POST", "", headers, body});
  for (HttpHeader& h : headers) cleanse(h.value);
  if (!answer) return tl::unexpected(transport_error(http_->endpoint(), answer.error()));
  return parse_cam_response(answer->status, answer->body.view(), request.instance_id, request.region, request.account);
}

}  // namespace camproxy::auth
