// Credential source "cvm-role" against an in-process metadata service
// (spec/tencentcloud-cam.md §7.3).
#include <gtest/gtest.h>

#include <atomic>
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

constexpr std::string_view kRoleList = "/latest/meta-data/cam/security-credentials/";

std::int64_t unix_now() {
  return std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string credentials_json(std::string_view id, std::int64_t expired_time, std::string_view code = "Success") {
  return R"({"TmpSecretId":")" + std::string(id) + R"(","TmpSecretKey":"cvmTmpKeyVerySecret","ExpiredTime":)" +
         std::to_string(expired_time) +
         R"(,"Expiration":"2030-01-01T00:00:00Z","Token":"cvmSessionTokenSecret","Code":")" + std::string(code) +
         R"("})";
}

// A metadata service whose answers the test changes while it runs.
class Metadata {
 public:
  Metadata()
      : server_([this](const test::RecordedRequest& r) {
          std::lock_guard lock(mu_);
          return answer_(r);
        }) {}

  void answer(std::function<Reply(const test::RecordedRequest&)> fn) {
    std::lock_guard lock(mu_);
    answer_ = std::move(fn);
  }
  // Role `role` with credentials from `body` (404 for anything else).
  void serve_role(std::string role, std::string body) {
    answer([role, body](const test::RecordedRequest& r) {
      if (r.target == kRoleList) return Reply{200, role};
      if (r.target == std::string(kRoleList) + role) return Reply{200, body};
      return Reply{404, "Not Found"};
    });
  }
  int count(std::string_view target) const {
    int n = 0;
    for (const auto& r : server_.requests()) n += r.target == target ? 1 : 0;
    return n;
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  const TestHttpServer& server() const { return server_; }

 private:
  std::mutex mu_;
  std::function<Reply(const test::RecordedRequest&)> answer_ = [](const auto&) { return Reply{404, "Not Found"}; };
  TestHttpServer server_;
};

CredentialResult<std::unique_ptr<CredentialProvider>> make(const std::string& endpoint, std::string source = "cvm-role",
                                                           const test::FakeEnv& env = test::FakeEnv()) {
  CredentialOptions options;
  options.source = std::move(source);
  options.metadata_endpoint = endpoint;
  options.metadata_timeout = std::chrono::milliseconds(300);
  return make_credential_provider(options, env.lookup());
}

TEST(CvmRole, VectorAnswersGiveTheTemporaryCredential) {
  Metadata md;
  md.answer([](const test::RecordedRequest& r) {
    if (r.target == kRoleList) return test::credential_source_reply("cvm_metadata_role_name");
    if (r.target == std::string(kRoleList) + "CVM_QcsRole") {
      return test::credential_source_reply("cvm_metadata_credentials");
    }
    return Reply{404, "Not Found"};
  });
  auto provider = make(md.endpoint());
  ASSERT_TRUE(provider.has_value()) << provider.error().message;
  EXPECT_EQ((*provider)->name(), "cvm-role");
  const auto s = (*provider)->fetch();
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->credential->secret_id, "AKIDtmpFROMcvmMETADATAexample000000");
  EXPECT_EQ(s->credential->secret_key.view(), "tmpKEYfromCVMmetadataEXAMPLE0000=");
  EXPECT_EQ(s->credential->session_token.view(), "cvmROLEsessionTOKENexampleQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ");
  EXPECT_EQ(s->identity, "AKIDtmpFROMcvmMETADATAexample000000");
  EXPECT_EQ(s->source, "cvm-role:CVM_QcsRole");
  ASSERT_TRUE(s->expires_at.has_value());
  EXPECT_EQ(s->expires_at->time_since_epoch(), seconds(1733809216));
  // The vector expired long ago: due again after the 1 s floor, not in a loop.
  ASSERT_TRUE(s->refresh_at.has_value());
  const auto now = std::chrono::system_clock::now();
  EXPECT_GT(*s->refresh_at, now);
  EXPECT_LE(*s->refresh_at, now + seconds(2));
  // The vector's refresh instant: 300 s before ExpiredTime (§7.3).
  const SystemTime expires{seconds(1733809216)};
  EXPECT_EQ(refresh_time(expires - seconds(3600), expires, seconds(300)).time_since_epoch(), seconds(1733808916));

  // Plain GETs with no API headers and no body.
  for (const auto& r : md.server().requests()) {
    EXPECT_EQ(r.method, "GET");
    EXPECT_TRUE(r.body.empty());
    for (const auto& h : r.headers) EXPECT_NE(h.first.rfind("x-tc-", 0), 0u) << h.first;
  }
}

TEST(CvmRole, RefreshesFiveMinutesBeforeExpiryAndKeepsTheRoleName) {
  Metadata md;
  const std::int64_t expires = unix_now() + 3600;
  md.serve_role("camproxy-role", credentials_json("AKIDcvm1", expires));
  auto provider = make(md.endpoint());
  ASSERT_TRUE(provider.has_value()) << provider.error().message;
  const auto s = (*provider)->fetch();
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->refresh_at->time_since_epoch(), seconds(expires - 300));
  const SystemTime expiry{seconds(expires)};
  EXPECT_FALSE((*provider)->needs_refresh(*s, expiry - seconds(301)));
  EXPECT_TRUE((*provider)->needs_refresh(*s, expiry - seconds(300)));

  ASSERT_TRUE((*provider)->fetch().has_value());
  ASSERT_TRUE((*provider)->fetch().has_value());
  EXPECT_EQ(md.count(kRoleList), 1) << "the role name is asked once (at probe time)";
  EXPECT_EQ(md.count(std::string(kRoleList) + "camproxy-role"), 3);
}

TEST(CvmRole, ARoleThatVanishesIsLookedUpAgain) {
  Metadata md;
  md.serve_role("old-role", credentials_json("AKIDold", unix_now() + 3600));
  auto provider = make(md.endpoint());
  ASSERT_TRUE(provider.has_value());
  ASSERT_TRUE((*provider)->fetch().has_value());
  md.serve_role("new-role", credentials_json("AKIDnew", unix_now() + 3600));
  const auto s = (*provider)->fetch();
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->source, "cvm-role:new-role");
  EXPECT_EQ(s->identity, "AKIDnew");
  // And a role removed for good is metadata_no_role.
  md.answer([](const auto&) { return Reply{404, "Not Found"}; });
  const auto gone = (*provider)->fetch();
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, make_error_code(AuthErr::metadata_no_role));
}

TEST(CvmRole, NoRoleOrNoMetadataServiceMeansNotConfiguredInTheChain) {
  test::TempDir home;
  if (test::file_exists("/etc/tencentcloud/credentials")) GTEST_SKIP() << "machine has a profile";
  const test::FakeEnv env({{"HOME", home.path()}});
  Metadata md;  // answers 404 to everything: a CVM without a role
  const auto forced = make(md.endpoint());
  ASSERT_FALSE(forced.has_value());
  EXPECT_EQ(forced.error().code, make_error_code(AuthErr::metadata_no_role));
  EXPECT_FALSE(forced.error().transient);
  const auto chain = make(md.endpoint(), "auto", env);
  ASSERT_FALSE(chain.has_value());
  EXPECT_EQ(chain.error().code, make_error_code(AuthErr::no_credential_source));
  EXPECT_NE(chain.error().message.find("CVM metadata service"), std::string::npos);

  // Off a CVM the service never answers: bounded by the metadata timeout.
  TestHttpServer silent(nullptr, test::ServerMode::never_answer);
  const std::string silent_url = "http://127.0.0.1:" + std::to_string(silent.port());
  const auto start = std::chrono::steady_clock::now();
  const auto timed_out = make(silent_url);
  ASSERT_FALSE(timed_out.has_value());
  EXPECT_EQ(timed_out.error().code, make_error_code(AuthErr::metadata_unavailable));
  EXPECT_TRUE(timed_out.error().transient);
  const auto chain_timed_out = make(silent_url, "auto", env);
  EXPECT_EQ(chain_timed_out.error().code, make_error_code(AuthErr::no_credential_source));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3));
}

TEST(CvmRole, UnusableAnswersAreErrorsWithoutSecrets) {
  Metadata md;
  const struct {
    const char* name;
    Reply role, credentials;
    AuthErr err;
    bool transient;
  } rows[] = {
      {"Code not Success",
       {200, "r"},
       test::credential_source_reply("cvm_metadata_credentials_not_success"),
       AuthErr::metadata_bad_answer,
       true},
      {"HTTP 500", {200, "r"}, {500, "oops"}, AuthErr::metadata_unavailable, true},
      {"not JSON", {200, "r"}, {200, "<html>"}, AuthErr::metadata_bad_answer, true},
      {"no Token",
       {200, "r"},
       {200, R"({"TmpSecretId":"AKIDx","TmpSecretKey":"cvmTmpKeyVerySecret",)"
             R"("ExpiredTime":1,"Code":"Success"})"},
       AuthErr::metadata_bad_answer,
       true},
      {"no ExpiredTime",
       {200, "r"},
       {200, R"({"TmpSecretId":"AKIDx","TmpSecretKey":"cvmTmpKeyVerySecret",)"
             R"("Token":"cvmSessionTokenSecret","Code":"Success"})"},
       AuthErr::metadata_bad_answer,
       true},
      // Past year 2262 it would overflow the nanosecond clock (tests/fuzz, role_answer).
      {"ExpiredTime beyond 2100",
       {200, "r"},
       {200, R"({"TmpSecretId":"AKIDx","TmpSecretKey":"cvmTmpKeyVerySecret",)"
             R"("Token":"cvmSessionTokenSecret","ExpiredTime":11545420387,"Code":"Success"})"},
       AuthErr::metadata_bad_answer,
       true},
      {"role name with a slash", {200, "../../user-data"}, {200, "{}"}, AuthErr::metadata_bad_answer, false},
      {"empty role name", {200, "\n"}, {200, "{}"}, AuthErr::metadata_bad_answer, false},
      {"role list HTTP 503", {503, "busy"}, {200, "{}"}, AuthErr::metadata_unavailable, true},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    md.answer([&row](const test::RecordedRequest& r) { return r.target == kRoleList ? row.role : row.credentials; });
    auto provider = make(md.endpoint());
    const CredentialError error = provider ? (*provider)->fetch().error() : std::move(provider.error());
    EXPECT_EQ(error.code, make_error_code(row.err)) << error.message;
    EXPECT_EQ(error.transient, row.transient);
    EXPECT_NE(error.message.find("127.0.0.1"), std::string::npos) << error.message;
    EXPECT_EQ(error.message.find("cvmTmpKeyVerySecret"), std::string::npos);
    EXPECT_EQ(error.message.find("cvmSessionTokenSecret"), std::string::npos);
  }
}

TEST(CvmRole, MetadataEndpointMayBePlainHttpButMustBeAUrl) {
  auto bad = make("metadata.tencentyun.com");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, make_error_code(AuthErr::endpoint_malformed));
  EXPECT_NE(bad.error().message.find("metadata endpoint"), std::string::npos);
}

}  // namespace
}  // namespace camproxy::auth
