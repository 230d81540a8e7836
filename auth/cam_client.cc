#include "auth/cam_client.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <utility>

#include "auth/secret.h"

namespace camproxy::auth {
namespace {

// A real answer is under 2 KiB; the cap bounds memory if something else answers.
constexpr std::size_t kMaxResponseBytes = 1 << 20;
constexpr std::size_t kInitialResponseCapacity = 16 * 1024;
constexpr std::size_t kMaxRequestClientLen = 128;

tl::unexpected<std::error_code> fail(AuthErr e) { return tl::unexpected(make_error_code(e)); }

// §1: the Go SDK's rule for X-TC-RequestClient: ^[0-9a-zA-Z-_ ,;.]+$, <= 128 chars.
bool valid_request_client(std::string_view s) {
  if (s.size() > kMaxRequestClientLen) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_' || c == ' ' || c == ',' || c == ';' || c == '.';
  });
}

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
    case CURLE_SSL_CLIENTCERT:
      return true;
    default:
      return false;
  }
}

// Grows `buf` without leaving a stale copy of its bytes (the answer holds the token).
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

}  // namespace

std::size_t CamClient::on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* self = static_cast<CamClient*>(user);
  const std::size_t n = size * count;
  if (self->response_.size() + n > kMaxResponseBytes) {
    self->response_too_large_ = true;
    return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
  }
  append_wiped(self->response_, std::string_view(data, n));
  return n;
}

Result<std::unique_ptr<CamClient>> CamClient::create(CamClientOptions options) {
  auto endpoint = parse_endpoint(options.endpoint);
  if (!endpoint) return tl::unexpected(endpoint.error());
  if (options.timeout.count() <= 0) return fail(AuthErr::bad_option);
  if (!options.language.empty() && options.language != "en-US" && options.language != "zh-CN") {
    return fail(AuthErr::bad_option);
  }
  if (!valid_request_client(options.request_client)) return fail(AuthErr::bad_option);
  if (!options.ca_file.empty() && access(options.ca_file.c_str(), R_OK) != 0) {
    return fail(AuthErr::ca_file_unreadable);
  }

  // curl_global_init is not thread-safe in every libcurl; do it once, here.
  static std::once_flag global_init;
  static CURLcode global_rc = CURLE_OK;
  std::call_once(global_init, [] { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (global_rc != CURLE_OK) return fail(AuthErr::curl_init);
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return fail(AuthErr::curl_init);

  std::unique_ptr<CamClient> client(new CamClient(std::move(options), std::move(*endpoint), curl));
  return client;
}

CamClient::CamClient(CamClientOptions options, Endpoint endpoint, CURL* curl)
    : options_(std::move(options)), endpoint_(std::move(endpoint)), curl_(curl) {
  response_.reserve(kInitialResponseCapacity);
  CURL* h = curl_.get();
  curl_easy_setopt(h, CURLOPT_URL, endpoint_.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, endpoint_.scheme.c_str());
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // called from a worker thread
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  // A loopback endpoint (emulator, test) is never reached through an HTTP proxy.
  if (endpoint_.loopback) curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer_);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &CamClient::on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
}

CamClient::~CamClient() { cleanse(response_); }

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
  const std::int64_t timestamp =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  std::vector<HttpHeader> headers =
      build_cam_headers(endpoint_, credential, request.region, body, timestamp, options_.language,
                        options_.request_client);

  HeaderList list;
  bool list_ok = true;
  for (HttpHeader& h : headers) {
    list_ok = list_ok && list.add(h.name + ": " + h.value);
    cleanse(h.value);
  }
  // Send only the §1 headers: suppress libcurl's default Accept and Expect.
  list_ok = list_ok && list.add("Accept:") && list.add("Expect:");
  if (!list_ok) {
    return tl::unexpected(CamError{std::string(client_error::kNetwork),
                                   "out of memory building the CAM request",
                                   {},
                                   ErrorClass::retryable,
                                   0});
  }

  cleanse(response_);
  response_.reserve(kInitialResponseCapacity);
  response_too_large_ = false;
  error_buffer_[0] = '\0';
  CURL* h = curl_.get();
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  const CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  // Nothing may point at this call's locals once it returns.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);

  if (rc != CURLE_OK) {
    cleanse(response_);
    return tl::unexpected(transport_error(rc));
  }
  CamResult result = parse_cam_response(static_cast<int>(status), response_, request.instance_id,
                                        request.region, request.account);
  cleanse(response_);
  return result;
}

CamError CamClient::transport_error(CURLcode rc) const {
  std::string_view code = client_error::kNetwork;
  ErrorClass error_class = ErrorClass::retryable;
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    code = client_error::kTimeout;
  } else if (is_tls_error(rc)) {
    code = client_error::kTls;
  } else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
    code = client_error::kEndpoint;
    error_class = ErrorClass::user_notification;
  }
  std::string message = "CAM call to " + endpoint_.host_header + " failed: ";
  if (rc == CURLE_WRITE_ERROR && response_too_large_) {
    message += "answer larger than 1 MiB";
  } else {
    message += curl_easy_strerror(rc);
    if (error_buffer_[0] != '\0') message += std::string(" (") + error_buffer_ + ")";
  }
  return CamError{std::string(code), std::move(message), {}, error_class, 0};
}

}  // namespace camproxy::auth
