#include "auth/http_client.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <utility>

namespace camproxy::auth {
namespace {

constexpr std::size_t kInitialResponseCapacity = 16 * 1024;

tl::unexpected<std::error_code> fail(AuthErr e) { return tl::unexpected(make_error_code(e)); }

bool is_tls_error(CURLcode rc) {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT: return true;
    default: return false;
  }
}

// Grows `buf` without leaving a stale copy of its bytes (answers hold tokens and keys).
void append_wiped(std::string& buf, std::string_view data) {
  if (buf.size() + data.size() > buf.capacity()) {
    std::string bigger;
    bigger.reserve(std::max(buf.capacity() * 2, buf.size() + data.size()));
    bigger.assign(buf);
    cleanse(buf);
    buf.swap(bigger);
  }
  buf.append(data);
}

std::string size_text(std::size_t bytes) {
  if (bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes >> 10) + " KiB";
}

// Header lines handed to libcurl; wiped on destruction since one may be X-TC-Token.
class HeaderList {
 public:
  HeaderList() = default;
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  ~HeaderList() {
    for (curl_slist* node = list_; node != nullptr; node = node->next) {
      OPENSSL_cleanse(node->data, std::char_traits<char>::length(node->data));
    }
    curl_slist_free_all(list_);
  }

  bool add(std::string line) {
    curl_slist* next = curl_slist_append(list_, line.c_str());
    cleanse(line);
    if (next == nullptr) return false;
    list_ = next;
    return true;
  }

  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

struct CurlFree {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};

}  // namespace

struct HttpClient::Impl {
  HttpClientOptions options;
  std::unique_ptr<CURL, CurlFree> curl;
  std::string response;  // answer body of the current call
  bool response_too_large = false;
  char error_buffer[CURL_ERROR_SIZE] = {};

  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<Impl*>(user);
    const std::size_t n = size * count;
    if (self->response.size() + n > self->options.max_response_bytes) {
      self->response_too_large = true;
      return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
    }
    append_wiped(self->response, std::string_view(data, n));
    return n;
  }

  HttpFailure failure(CURLcode rc) const {
    TransportFailure kind = TransportFailure::network;
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      kind = TransportFailure::timeout;
    } else if (is_tls_error(rc)) {
      kind = TransportFailure::tls;
    } else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
      kind = TransportFailure::bad_url;
    }
    if (rc == CURLE_WRITE_ERROR && response_too_large) {
      return {kind, "answer larger than " + size_text(options.max_response_bytes)};
    }
    std::string detail = curl_easy_strerror(rc);
    if (error_buffer[0] != '\0') detail += std::string(" (") + error_buffer + ")";
    return {kind, std::move(detail)};
  }
};

Result<std::unique_ptr<HttpClient>> HttpClient::create(HttpClientOptions options) {
  if (options.timeout.count() <= 0 || options.max_response_bytes == 0) {
    return fail(AuthErr::bad_option);
  }
  if (!options.ca_file.empty() && access(options.ca_file.c_str(), R_OK) != 0) {
    return fail(AuthErr::ca_file_unreadable);
  }
  // curl_global_init is not thread-safe in every libcurl; do it once, here.
  static std::once_flag global_init;
  static CURLcode global_rc = CURLE_OK;
  std::call_once(global_init, [] { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (global_rc != CURLE_OK) return fail(AuthErr::curl_init);
  CURL* h = curl_easy_init();
  if (h == nullptr) return fail(AuthErr::curl_init);

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->curl.reset(h);
  impl->response.reserve(kInitialResponseCapacity);
  const Endpoint& ep = impl->options.endpoint;
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, ep.scheme.c_str());
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // called from a worker thread
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(impl->options.timeout.count()));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!impl->options.ca_file.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, impl->options.ca_file.c_str());
  }
  // A loopback endpoint (emulator, test) is never reached through an HTTP proxy.
  if (ep.loopback || impl->options.direct) curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, impl->error_buffer);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Impl::on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, impl.get());
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient() { cleanse(impl_->response); }

const Endpoint& HttpClient::endpoint() const noexcept { return impl_->options.endpoint; }

HttpResult HttpClient::perform(const HttpRequest& request) {
  HeaderList list;
  bool list_ok = true;
  for (const HttpHeader& h : request.headers) list_ok = list_ok && list.add(h.name + ": " + h.value);
  // Send only the caller's headers: suppress libcurl's default Accept and Expect.
  list_ok = list_ok && list.add("Accept:") && list.add("Expect:");
  if (!list_ok) return tl::unexpected(HttpFailure{TransportFailure::network, "out of memory"});

  Impl& s = *impl_;
  cleanse(s.response);
  s.response.reserve(kInitialResponseCapacity);
  s.response_too_large = false;
  s.error_buffer[0] = '\0';
  const std::string url = s.options.endpoint.url + std::string(request.path);
  CURL* h = s.curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
  if (request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  const CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  // Nothing may point at this call's locals once it returns.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);

  if (rc != CURLE_OK) {
    cleanse(s.response);
    return tl::unexpected(s.failure(rc));
  }
  return HttpResponse{static_cast<int>(status), SecretString::take(s.response)};
}

}  // namespace camproxy::auth
