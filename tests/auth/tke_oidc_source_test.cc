// Credential source "tke-oidc" against an in-process STS (spec/tencentcloud-cam.md §7.4).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <mutex>
#include <string>

#include "auth/credential_provider.h"
#include "credential_test_util.h"
#include "temp_dir.h"
#include "test_http_server.h"

namespace camproxy::auth {
namespace {

using std::chrono::seconds;
using test::Reply;
using test::TestHttpServer;

constexpr std::string_view kRoleArn = "qcs::cam::uin/100000000001:roleName/camproxy-oidc";
constexpr std::string_view kJwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QifQ.c2lnbmF0dXJl";

std::int64_t unix_now() {
  return std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string sts_success(std::string_view id, std::int64_t expired_time) {
  return R"({"Response":{"Credentials":{"Token":"oidcSessionTokenSecret","TmpSecretId":")" + std::string(id) +
         R"(","TmpSecretKey":"oidcTmpKeyVerySecret"},"ExpiredTime":)" + std::to_string(expired_time) +
         R"(,"Expiration":"2030-01-01T00:00:00Z","RequestId":"req-1"}})";
}

// An STS whose answer the test sets, and a pod's TKE_* environment pointing at it.
struct OidcTest : ::testing::Test {
  OidcTest()
      : sts([this](const test::RecordedRequest&) {
          std::lock_guard lock(mu);
          return reply;
        }) {
    token_file = dir.write("token", std::string(kJwt) + "\n", 0644);
    env.set("HOME", dir.path());
    env.set("TKE_REGION", "ap-guangzhou");
    env.set("TKE_PROVIDER_ID", "tke-oidc-provider-1");
    env.set("TKE_WEB_IDENTITY_TOKEN_FILE", token_file);
    env.set("TKE_ROLE_ARN", std::string(kRoleArn));
  }

  void answer(Reply r) {
    std::lock_guard lock(mu);
    reply = std::move(r);
  }

  CredentialResult<std::unique_ptr<CredentialProvider>> make(std::string source = "tke-oidc") {
    CredentialOptions options;
    options.source = std::move(source);
    options.sts_endpoint = "http://127.0.0.1:" + std::to_string(sts.port());
    options.metadata_endpoint = "http://127.0.0.1:" + std::to_string(refusing.port());
    return make_credential_provider(options, env.lookup());
  }

  CredentialError fetch_error() {
    auto provider = make();
    if (!provider) return provider.error();
    auto s = (*provider)->fetch();
    EXPECT_FALSE(s.has_value());
    return s ? CredentialError{} : s.error();
  }

  std::mutex mu;
  Reply reply{200, sts_success("AKIDoidc1", unix_now() + 7200)};
  test::TempDir dir;
  std::string token_file;
  test::FakeEnv env;
  test::RefusingPort refusing;
  TestHttpServer sts;
};

TEST_F(OidcTest, SendsTheUnsignedAssumeRoleWithWebIdentityCall) {
  auto provider = make();
  ASSERT_TRUE(provider.has_value()) << provider.error().message;
  EXPECT_EQ((*provider)->name(), "tke-oidc");
  EXPECT_TRUE(sts.requests().empty()) << "probing reads only the environment";
  const std::int64_t before = unix_now();
  ASSERT_TRUE((*provider)->fetch().has_value());

  const auto requests = sts.requests();
  ASSERT_EQ(requests.size(), 1u);
  const test::RecordedRequest& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/");
  EXPECT_EQ(r.header("host"), "127.0.0.1:" + std::to_string(sts.port()));
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("x-tc-action"), "AssumeRoleWithWebIdentity");
  EXPECT_EQ(r.header("x-tc-version"), "2018-08-13");
  EXPECT_EQ(r.header("x-tc-region"), "ap-guangzhou");
  EXPECT_EQ(r.header("authorization"), "SKIP");
  const std::int64_t ts = std::stoll(r.header("x-tc-timestamp"));
  EXPECT_GE(ts, before);
  EXPECT_LE(ts, before + 60);
  for (const auto& h : r.headers) EXPECT_NE(h.first, "x-tc-token");

  simdjson::dom::parser parser;
  simdjson::dom::object body;
  ASSERT_EQ(parser.parse(r.body).get(body), simdjson::SUCCESS) << r.body;
  EXPECT_EQ(std::string_view(body["ProviderId"]), "tke-oidc-provider-1");
  EXPECT_EQ(std::string_view(body["WebIdentityToken"]), kJwt) << "file content, newline trimmed";
  EXPECT_EQ(std::string_view(body["RoleArn"]), kRoleArn);
  EXPECT_EQ(std::int64_t(body["DurationSeconds"]), 7200);
  const std::string_view session = body["RoleSessionName"];
  ASSERT_TRUE(session.starts_with("camproxy-")) << session;
  const std::int64_t micros = std::stoll(std::string(session.substr(9)));
  EXPECT_GE(micros / 1'000'000, before);
  EXPECT_LE(micros / 1'000'000, before + 60);
}

TEST_F(OidcTest, TemporaryCredentialRefreshedADurationTenthBeforeExpiry) {
  const std::int64_t expires = unix_now() + 7200;
  answer({200, sts_success("AKIDoidc1", expires)});
  auto provider = make();
  ASSERT_TRUE(provider.has_value());
  const auto s = (*provider)->fetch();
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->credential->secret_id, "AKIDoidc1");
  EXPECT_EQ(s->credential->secret_key.view(), "oidcTmpKeyVerySecret");
  EXPECT_EQ(s->credential->session_token.view(), "oidcSessionTokenSecret");
  EXPECT_EQ(s->identity, "AKIDoidc1");
  EXPECT_EQ(s->source, "tke-oidc:" + std::string(kRoleArn));
  EXPECT_EQ(s->expires_at->time_since_epoch(), seconds(expires));
  EXPECT_EQ(s->refresh_at->time_since_epoch(), seconds(expires - 720));
  const SystemTime expiry{seconds(expires)};
  EXPECT_FALSE((*provider)->needs_refresh(*s, expiry - seconds(721)));
  EXPECT_TRUE((*provider)->needs_refresh(*s, expiry - seconds(720)));
}

TEST_F(OidcTest, VectorAnswerAndAShortLivedCredentialCannotLoop) {
  answer(test::credential_source_reply("sts_assume_role_with_web_identity_success"));
  auto provider = make();
  ASSERT_TRUE(provider.has_value());
  const auto s = (*provider)->fetch();
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->identity, "AKIDtmpFROMoidcEXAMPLE000000000000");
  EXPECT_EQ(s->credential->secret_key.view(), "tmpKEYfromOIDCexample0000000000000=");
  EXPECT_EQ(s->expires_at->time_since_epoch(), seconds(1733809216));
  const SystemTime expires{seconds(1733809216)};
  EXPECT_EQ(refresh_time(expires - seconds(7200), expires, seconds(720)).time_since_epoch(),
            seconds(1733808496));  // the vector's Go/Python refresh instant
  // Expired on arrival: due again after the 1 s floor, not at once.
  const auto now = std::chrono::system_clock::now();
  EXPECT_FALSE((*provider)->needs_refresh(*s, now));
  EXPECT_TRUE((*provider)->needs_refresh(*s, now + seconds(2)));
}

TEST_F(OidcTest, TheTokenFileIsReadOnEveryFetch) {
  auto provider = make();
  ASSERT_TRUE(provider.has_value());
  ASSERT_TRUE((*provider)->fetch().has_value());
  dir.write("token", "rotated.jwt.value", 0644);  // kubelet rotates it
  ASSERT_TRUE((*provider)->fetch().has_value());
  const auto requests = sts.requests();
  ASSERT_EQ(requests.size(), 2u);
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  ASSERT_EQ(parser.parse(requests[1].body).get(body), simdjson::SUCCESS);
  EXPECT_EQ(std::string_view(body["WebIdentityToken"]), "rotated.jwt.value");
}

TEST_F(OidcTest, StsFailuresAreClassified) {
  const struct {
    const char* name;
    Reply reply;
    AuthErr err;
    bool transient;
    const char* says;
  } rows[] = {
      {"API error (vector)", test::credential_source_reply("sts_assume_role_with_web_identity_error"),
       AuthErr::sts_rejected, true, "InvalidParameter.WebIdentityTokenError"},
      {"AuthFailure",
       {200, R"({"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"no"},)"
             R"("RequestId":"r"}})"},
       AuthErr::sts_rejected,
       false,
       "AuthFailure.SignatureFailure"},
      {"HTTP 503", {503, "busy"}, AuthErr::sts_unavailable, true, "HTTP 503"},
      {"not JSON", {200, "<html>"}, AuthErr::sts_bad_answer, true, "not a JSON object"},
      {"no ExpiredTime",
       {200, R"({"Response":{"Credentials":{"Token":"oidcSessionTokenSecret","TmpSecretId":"AKIDx",)"
             R"("TmpSecretKey":"oidcTmpKeyVerySecret"},"RequestId":"r"}})"},
       AuthErr::sts_bad_answer,
       true,
       "ExpiredTime"},
      {"no key",
       {200, R"({"Response":{"Credentials":{"Token":"oidcSessionTokenSecret","TmpSecretId":"AKIDx"},)"
             R"("ExpiredTime":9999999999,"RequestId":"r"}})"},
       AuthErr::sts_bad_answer,
       true,
       "TmpSecretKey"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    answer(row.reply);
    const CredentialError e = fetch_error();
    EXPECT_EQ(e.code, make_error_code(row.err)) << e.message;
    EXPECT_EQ(e.transient, row.transient);
    EXPECT_NE(e.message.find(row.says), std::string::npos) << e.message;
    EXPECT_NE(e.message.find(kRoleArn), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find(kJwt), std::string::npos);
    EXPECT_EQ(e.message.find("oidcTmpKeyVerySecret"), std::string::npos);
    EXPECT_EQ(e.message.find("oidcSessionTokenSecret"), std::string::npos);
  }
}

TEST_F(OidcTest, UnreachableOrSilentSts) {
  TestHttpServer silent(nullptr, test::ServerMode::never_answer);
  CredentialOptions options;
  options.source = "tke-oidc";
  options.sts_endpoint = "http://127.0.0.1:" + std::to_string(silent.port());
  options.sts_timeout = std::chrono::milliseconds(300);
  auto provider = make_credential_provider(options, env.lookup());
  ASSERT_TRUE(provider.has_value());
  const auto start = std::chrono::steady_clock::now();
  const auto s = (*provider)->fetch();
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, make_error_code(AuthErr::sts_unavailable));
  EXPECT_TRUE(s.error().transient);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3));
}

TEST_F(OidcTest, TokenFileProblems) {
  ASSERT_EQ(::unlink(token_file.c_str()), 0);
  CredentialError e = fetch_error();
  EXPECT_EQ(e.code, make_error_code(AuthErr::oidc_token_file));
  EXPECT_TRUE(e.transient) << "a projected token may not be there yet";
  EXPECT_NE(e.message.find(token_file), std::string::npos);
  dir.write("token", " \n", 0644);
  e = fetch_error();
  EXPECT_EQ(e.code, make_error_code(AuthErr::oidc_token_file));
  EXPECT_FALSE(e.transient);
  EXPECT_TRUE(sts.requests().empty()) << "nothing is sent without a token";
}

TEST_F(OidcTest, IncompleteEnvironmentStopsTheChain) {
  env.set("TKE_PROVIDER_ID", "");
  env.set("TKE_ROLE_ARN", "");
  for (const char* source : {"tke-oidc", "auto"}) {
    SCOPED_TRACE(source);
    const auto provider = make(source);
    ASSERT_FALSE(provider.has_value());
    EXPECT_EQ(provider.error().code, make_error_code(AuthErr::oidc_env_incomplete));
    EXPECT_NE(provider.error().message.find("TKE_PROVIDER_ID, TKE_ROLE_ARN"), std::string::npos)
        << provider.error().message;
    EXPECT_EQ(provider.error().message.find("ap-guangzhou"), std::string::npos);
  }
  env.set("TKE_PROVIDER_ID", "p");
  env.set("TKE_ROLE_ARN", "arn");
  env.set("TKE_REGION", "ap-guangzhou\r\nX-Evil: 1");
  EXPECT_EQ(make().error().code, make_error_code(AuthErr::oidc_env_incomplete));
}

TEST_F(OidcTest, TheChainPicksOidcBeforeTheMetadataService) {
  if (test::file_exists("/etc/tencentcloud/credentials")) GTEST_SKIP() << "machine has a profile";
  auto provider = make("auto");
  ASSERT_TRUE(provider.has_value()) << provider.error().message;
  EXPECT_EQ((*provider)->name(), "tke-oidc");
  ASSERT_TRUE((*provider)->fetch().has_value());
}

}  // namespace
}  // namespace camproxy::auth
