// Credential source "cvm-role" (spec/tencentcloud-cam.md §7.3): the CAM role bound to
// the CVM, from the instance metadata service over plain HTTP with a short timeout.
#include <mutex>
#include <utility>

#include "auth/credential_sources.h"
#include "auth/http_client.h"
#include "auth/role_credentials.h"

namespace camproxy::auth {
namespace {

constexpr std::string_view kRolePath = "latest/meta-data/cam/security-credentials/";
constexpr std::size_t kMaxAnswerBytes = 64 * 1024;
constexpr std::size_t kMaxRoleName = 128;
// §7.3: refresh when ExpiredTime - now <= 300 s (all three SDKs).
constexpr std::chrono::seconds kRefreshMargin{300};

// CAM role names: [A-Za-z0-9+=,.@_-]{1,128}. Checked because the name goes into a URL.
bool valid_role_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxRoleName) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("+=,.@_-").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::string_view trim_space(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

std::string where(const HttpClient& http, std::string_view what) {
  return "CVM metadata service " + http.endpoint().host_header + " (" + std::string(what) + ")";
}

// One GET below kRolePath: the answer on HTTP 200; 404 is metadata_no_role.
CredentialResult<HttpResponse> metadata_get(HttpClient& http, std::string_view role, std::string_view what) {
  auto answer = http.perform(HttpRequest{"GET", std::string(kRolePath) + std::string(role), {}, {}});
  if (!answer) {
    return tl::unexpected(
        credential_error(AuthErr::metadata_unavailable, where(http, what) + ": " + answer.error().detail, true));
  }
  if (answer->status == 404) {
    return tl::unexpected(credential_error(AuthErr::metadata_no_role, where(http, what)));
  }
  if (answer->status != 200) {
    return tl::unexpected(credential_error(AuthErr::metadata_unavailable,
                                           where(http, what) + ": HTTP " + std::to_string(answer->status), true));
  }
  return std::move(*answer);
}

CredentialResult<std::string> fetch_role_name(HttpClient& http) {
  auto answer = metadata_get(http, "", "role name");
  if (!answer) return tl::unexpected(std::move(answer.error()));
  const std::string_view name = trim_space(answer->body.view());
  if (!valid_role_name(name)) {
    return tl::unexpected(
        credential_error(AuthErr::metadata_bad_answer, where(http, "role name") + " is not a CAM role name"));
  }
  return std::string(name);
}

class CvmRoleProvider final : public CredentialProvider {
 public:
  CvmRoleProvider(std::unique_ptr<HttpClient> http, std::string role)
      : http_(std::move(http)), role_(std::move(role)) {}

  CredentialResult<CredentialSnapshot> fetch() override {
    std::lock_guard lock(mu_);
    // A role that vanished (404) may have been replaced: ask for its name once more.
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (role_.empty()) {
        auto role = fetch_role_name(*http_);
        if (!role) return tl::unexpected(std::move(role.error()));
        role_ = std::move(*role);
      }
      const std::string what = "credentials of role " + role_;
      auto answer = metadata_get(*http_, role_, what);
      if (answer) {
        return parse_metadata_role_answer(answer->body.view(), role_, where(*http_, what),
                                          std::chrono::system_clock::now(), kRefreshMargin);
      }
      if (answer.error().code != make_error_code(AuthErr::metadata_no_role)) {
        return tl::unexpected(std::move(answer.error()));
      }
      role_.clear();
    }
    return tl::unexpected(credential_error(AuthErr::metadata_no_role, where(*http_, "role")));
  }

  bool needs_refresh(const CredentialSnapshot& current, SystemTime now) const override {
    return refresh_due(current, now);
  }

  std::string_view name() const override { return "cvm-role"; }

 private:
  std::mutex mu_;
  std::unique_ptr<HttpClient> http_;
  std::string role_;  // cached (§7.3 [camproxy]); empty = ask the metadata service
};

}  // namespace

ProbeResult probe_cvm_role(const ProbeContext& context) {
  const CredentialOptions& o = context.options;
  auto endpoint = parse_endpoint(o.metadata_endpoint, PlainHttp::allowed);
  if (!endpoint) {
    const std::error_code ec = endpoint.error();
    return tl::unexpected(CredentialError{ec, "metadata endpoint: " + ec.message(), false});
  }
  // The metadata service is on the instance's own network: never through a proxy.
  auto http =
      HttpClient::create(HttpClientOptions{std::move(*endpoint), {}, o.metadata_timeout, kMaxAnswerBytes, true});
  if (!http) {
    const std::error_code ec = http.error();
    return tl::unexpected(CredentialError{ec, "metadata client: " + ec.message(), false});
  }
  auto role = fetch_role_name(**http);
  if (role) return SourceProbe{std::make_unique<CvmRoleProvider>(std::move(*http), *role), {}};
  // Off a CVM (no answer) or on one without a role (404): not configured here.
  const std::error_code ec = role.error().code;
  if (!context.forced &&
      (ec == make_error_code(AuthErr::metadata_no_role) || ec == make_error_code(AuthErr::metadata_unavailable))) {
    return SourceProbe{nullptr, role.error().message};
  }
  return tl::unexpected(std::move(role.error()));
}

}  // namespace camproxy::auth
