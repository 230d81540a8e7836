// HttpClient: blocking HTTP(S) calls to one endpoint over libcurl, the transport under
// the CAM, STS and CVM metadata clients. No retries, no redirects, bounded answers.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "auth/endpoint.h"
#include "auth/result.h"
#include "auth/secret.h"

namespace camproxy::auth {

struct HttpHeader {
  std::string name, value;
};

struct HttpClientOptions {
  Endpoint endpoint;
  std::string ca_file;                       // empty = system CAs
  std::chrono::milliseconds timeout{10000};  // whole call: connect, TLS, request, answer
  std::size_t max_response_bytes = 1 << 20;
  bool direct = false;  // never through an HTTP proxy (always so for a loopback endpoint)
};

struct HttpRequest {
  std::string_view method;  // "GET" or "POST"
  std::string_view path;    // appended to the endpoint URL's "/"; no leading slash
  std::span<const HttpHeader> headers;
  std::string_view body;  // POST only
};

// The answer body may carry secrets (tokens, keys): it is wiped when dropped.
struct HttpResponse {
  int status = 0;
  SecretString body;
};

enum class TransportFailure {
  network,  // connect, read, write, or an answer over max_response_bytes
  timeout,  // the whole call took longer than the timeout
  tls,      // handshake or certificate verification
  bad_url,  // libcurl refused the URL or protocol
};

struct HttpFailure {
  TransportFailure kind;
  std::string detail;  // libcurl's text, or "answer larger than N KiB"; never request data
};

using HttpResult = tl::expected<HttpResponse, HttpFailure>;

// Not thread-safe: one call at a time. The easy handle is kept, so its connection
// (and TLS session) is reused from call to call.
class HttpClient {
 public:
  // Checks timeout > 0 (AuthErr::bad_option) and that ca_file is readable
  // (AuthErr::ca_file_unreadable).
  static Result<std::unique_ptr<HttpClient>> create(HttpClientOptions options);

  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  ~HttpClient();

  // Header values are copied into libcurl's list, which is wiped after the call;
  // the caller wipes its own copies of secret values.
  HttpResult perform(const HttpRequest& request);

  const Endpoint& endpoint() const noexcept;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace camproxy::auth
