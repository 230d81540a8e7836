// Credential source "tke-oidc" (spec/tencentcloud-cam.md §7.4): the pod's OIDC token
// exchanged for temporary credentials by STS AssumeRoleWithWebIdentity (unsigned).
#include <array>
#include <mutex>
#include <utility>

#include "auth/credential_sources.h"
#include "auth/http_client.h"
#include "auth/json_text.h"
#include "auth/role_credentials.h"
#include "auth/small_file.h"
#include "auth/utf8.h"

namespace camproxy::auth {
namespace {

constexpr std::string_view kAction = "AssumeRoleWithWebIdentity";
constexpr std::string_view kVersion = "2018-08-13";
constexpr std::int64_t kDurationSeconds = 7200;  // §7.4 default (valid 1..43200)
constexpr std::size_t kMaxTokenFileBytes = 64 * 1024;
constexpr std::size_t kMaxAnswerBytes = 64 * 1024;

struct OidcConfig {
  std::string region, provider_id, token_file, role_arn;
};

std::string_view trim_trailing_space(std::string_view s) {
  const auto last = s.find_last_not_of(" \t\r\n");
  return last == std::string_view::npos ? std::string_view() : s.substr(0, last + 1);
}

class TkeOidcProvider final : public CredentialProvider {
 public:
  TkeOidcProvider(std::unique_ptr<HttpClient> http, OidcConfig config)
      : http_(std::move(http)), config_(std::move(config)) {}

  CredentialResult<CredentialSnapshot> fetch() override {
    std::lock_guard lock(mu_);
    // §7.4: kubelet rotates the token file, so it is read on every fetch.
    auto file = read_small_file(config_.token_file, SmallFileRules{kMaxTokenFileBytes, false});
    const std::string file_context = "TKE_WEB_IDENTITY_TOKEN_FILE " + config_.token_file;
    if (!file) {
      // A missing file may appear (the projected volume is being set up): transient.
      return tl::unexpected(
          credential_error(AuthErr::oidc_token_file, file_context, file.error() == FileProblem::missing));
    }
    const std::string_view token = trim_trailing_space(file->bytes.view());
    if (token.empty()) return tl::unexpected(credential_error(AuthErr::oidc_token_file, file_context));

    std::string body = request_body(token);
    const auto now = std::chrono::system_clock::now();
    const std::array<HttpHeader, 7> headers = {{
        {"Host", http_->endpoint().host_header},
        {"Content-Type", "application/json"},
        {"X-TC-Action", std::string(kAction)},
        {"X-TC-Version", std::string(kVersion)},
        {"X-TC-Region", config_.region},
        {"X-TC-Timestamp",
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count())},
        // §7.4: the call is unsigned; the SDKs send this literal and no X-TC-Token.
        {"Authorization", "SKIP"},
    }};
    auto answer = http_->perform(HttpRequest{"POST", "", headers, body});
    cleanse(body);  // it holds the web identity token
    if (!answer) {
      return tl::unexpected(credential_error(AuthErr::sts_unavailable, context() + ": " + answer.error().detail, true));
    }
    if (answer->status != 200) {
      return tl::unexpected(
          credential_error(AuthErr::sts_unavailable, context() + ": HTTP " + std::to_string(answer->status), true));
    }
    // §7.4: Go and Python refresh DurationSeconds / 10 before ExpiredTime.
    return parse_sts_answer(answer->body.view(), config_.role_arn, context(), now,
                            std::chrono::seconds(kDurationSeconds / 10));
  }

  bool needs_refresh(const CredentialSnapshot& current, SystemTime now) const override {
    return refresh_due(current, now);
  }

  std::string_view name() const override { return "tke-oidc"; }

 private:
  std::string context() const {
    return "STS " + std::string(kAction) + " at " + http_->endpoint().host_header + " for role " + config_.role_arn;
  }

  // §7.4 body. RoleSessionName: the SDKs' form with our name, "camproxy-<micros>".
  std::string request_body(std::string_view token) const {
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::string body = "{\"ProviderId\":";
    append_json_string(body, config_.provider_id);
    body += ",\"WebIdentityToken\":";
    append_json_string(body, token);
    body += ",\"RoleArn\":";
    append_json_string(body, config_.role_arn);
    body += ",\"RoleSessionName\":\"camproxy-" + std::to_string(micros) + "\"";
    body += ",\"DurationSeconds\":" + std::to_string(kDurationSeconds) + "}";
    return body;
  }

  std::mutex mu_;
  std::unique_ptr<HttpClient> http_;
  const OidcConfig config_;
};

}  // namespace

ProbeResult probe_tke_oidc(const ProbeContext& context) {
  constexpr std::array<const char*, 4> kNames = {"TKE_REGION", "TKE_PROVIDER_ID", "TKE_WEB_IDENTITY_TOKEN_FILE",
                                                 "TKE_ROLE_ARN"};
  std::array<std::string_view, 4> values;
  std::string missing;
  std::size_t unset = 0;
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    values[i] = env_or_empty(context.env, kNames[i]);
    if (!values[i].empty()) continue;
    ++unset;
    missing += (missing.empty() ? "" : ", ") + std::string(kNames[i]);
  }
  if (unset == kNames.size() && !context.forced) {
    return SourceProbe{nullptr, "TKE_* variables are not set"};
  }
  if (!missing.empty()) {
    return tl::unexpected(credential_error(AuthErr::oidc_env_incomplete, "missing " + missing));
  }
  // The region goes into a header line (X-TC-Region).
  if (!is_printable_ascii(values[0])) {
    return tl::unexpected(
        credential_error(AuthErr::oidc_env_incomplete, "TKE_REGION has characters that cannot be sent"));
  }
  auto endpoint = parse_endpoint(context.options.sts_endpoint);
  if (!endpoint) {
    const std::error_code ec = endpoint.error();
    return tl::unexpected(CredentialError{ec, "STS endpoint: " + ec.message(), false});
  }
  auto http = HttpClient::create(
      HttpClientOptions{std::move(*endpoint), context.options.ca_file, context.options.sts_timeout, kMaxAnswerBytes});
  if (!http) {
    const std::error_code ec = http.error();
    return tl::unexpected(CredentialError{ec, "STS client: " + ec.message(), false});
  }
  OidcConfig config{std::string(values[0]), std::string(values[1]), std::string(values[2]), std::string(values[3])};
  return SourceProbe{std::make_unique<TkeOidcProvider>(std::move(*http), std::move(config)), {}};
}

}  // namespace camproxy::auth
