// The credential providers and CamClient against the Python emulators of tests/tools
// (sts_emulator.py, metadata_emulator.py, cam_emulator.py): a temporary credential
// obtained in C++ must sign a BuildDataFlowAuthToken call the CAM emulator accepts,
// and stop working once it expires (spec/tencentcloud-cam.md §7.3, §7.4).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "auth/cam_client.h"
#include "auth/credential_provider.h"
#include "auth/http_client.h"
#include "credential_test_util.h"
#include "emulator_process.h"
#include "temp_dir.h"

namespace camproxy::auth {
namespace {

using std::chrono::seconds;
using test::EmulatorProcess;

const TokenRequest kRequest{"cdb-interop", "ap-guangzhou", "camtest"};
constexpr std::string_view kRoleArn = "qcs::cam::uin/100000000001:roleName/camproxy-interop";
constexpr std::string_view kJwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJpbnRlcm9wIn0.c2ln";

// POST /_emulator/<action> with a JSON body; true on HTTP 200.
bool control(const EmulatorProcess& emulator, std::string_view action, std::string_view body) {
  auto endpoint = parse_endpoint(emulator.endpoint());
  auto http = HttpClient::create(HttpClientOptions{*endpoint, {}, seconds(10)});
  if (!http) return false;
  const HttpHeader type{"Content-Type", "application/json"};
  const std::string path = "_emulator/" + std::string(action);
  auto answer = (*http)->perform(HttpRequest{"POST", path, {&type, 1}, body});
  return answer && answer->status == 200;
}

struct InteropTest : ::testing::Test {
  void SetUp() override {
    cam = std::make_unique<EmulatorProcess>(
        "cam_emulator.py",
        std::vector<std::string>{"--credential", "AKIDinteropPERMANENT000000000001:interopKey", "--account",
                                 kRequest.instance_id + ":" + kRequest.region + ":" + kRequest.account},
        dir.path());
    ASSERT_TRUE(cam->ready());
    CamClientOptions options;
    options.endpoint = cam->endpoint();
    auto client = CamClient::create(std::move(options));
    ASSERT_TRUE(client.has_value());
    cam_client = std::move(*client);
  }

  CamResult build_token(const CredentialSnapshot& snapshot) {
    return cam_client->fetch(*snapshot.credential, kRequest);
  }

  // Polls (bounded) until CAM refuses `snapshot`: its temporary credential expired.
  void expect_refused_within(const CredentialSnapshot& snapshot, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
      const CamResult r = build_token(snapshot);
      if (!r && r.error().code == "AuthFailure.TokenFailure") return;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "still accepted after expiry";
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  test::TempDir dir;
  std::unique_ptr<EmulatorProcess> cam;
  std::unique_ptr<CamClient> cam_client;
};

TEST_F(InteropTest, TkeOidcCredentialSignsCamCallsUntilItExpires) {
  const std::string token_file = dir.write("token", std::string(kJwt), 0644);
  EmulatorProcess sts(
      "sts_emulator.py",
      {"--provider-id", "tke-provider", "--role-arn", std::string(kRoleArn), "--web-identity-token-file", token_file,
       "--cam-endpoint", cam->endpoint(), "--lifetime-seconds", "3"},
      dir.path());
  ASSERT_TRUE(sts.ready());
  const test::FakeEnv env({{"HOME", dir.path()},
                           {"TKE_REGION", "ap-guangzhou"},
                           {"TKE_PROVIDER_ID", "tke-provider"},
                           {"TKE_WEB_IDENTITY_TOKEN_FILE", token_file},
                           {"TKE_ROLE_ARN", std::string(kRoleArn)}});
  CredentialOptions options;
  options.source = "tke-oidc";
  options.sts_endpoint = sts.endpoint();
  auto provider = make_credential_provider(options, env.lookup());
  ASSERT_TRUE(provider.has_value()) << provider.error().message;

  const auto first = (*provider)->fetch();
  ASSERT_TRUE(first.has_value()) << first.error().message << "\n" << sts.log();
  const CamResult token = build_token(*first);
  ASSERT_TRUE(token.has_value()) << token.error().code << ": " << token.error().message;
  EXPECT_FALSE(token->password.empty());

  // Three seconds of life: refresh is due at half of it, CAM refuses it after it.
  EXPECT_TRUE((*provider)->needs_refresh(*first, *first->expires_at - seconds(1)));
  expect_refused_within(*first, seconds(15));
  ASSERT_TRUE(control(sts, "config", R"({"lifetime_seconds": null})"));
  const auto second = (*provider)->fetch();
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_NE(second->identity, first->identity);
  EXPECT_TRUE(build_token(*second).has_value());

  // A web identity token STS does not expect is an error naming STS's code.
  dir.write("token", "forged.jwt.token", 0644);
  ASSERT_TRUE(control(sts, "config", R"({"web_identity_token": "expected.other.token"})"));
  const auto refused = (*provider)->fetch();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, make_error_code(AuthErr::sts_rejected));
  EXPECT_NE(refused.error().message.find("InvalidParameter.WebIdentityTokenError"), std::string::npos);
  EXPECT_EQ(sts.log().find(kJwt), std::string::npos);
}

TEST_F(InteropTest, CvmRoleCredentialSignsCamCallsAndFollowsRotation) {
  EmulatorProcess metadata("metadata_emulator.py",
                           {"--role", "camproxy-role", "--lifetime-seconds", "3600", "--cam-endpoint", cam->endpoint()},
                           dir.path());
  ASSERT_TRUE(metadata.ready());
  CredentialOptions options;
  options.source = "cvm-role";
  options.metadata_endpoint = metadata.endpoint();
  auto provider = make_credential_provider(options, test::FakeEnv().lookup());
  ASSERT_TRUE(provider.has_value()) << provider.error().message;

  const auto first = (*provider)->fetch();
  ASSERT_TRUE(first.has_value()) << first.error().message << "\n" << metadata.log();
  EXPECT_EQ(first->source, "cvm-role:camproxy-role");
  EXPECT_EQ(*first->refresh_at, *first->expires_at - seconds(300));
  const CamResult token = build_token(*first);
  ASSERT_TRUE(token.has_value()) << token.error().code << ": " << token.error().message;

  // The role's credential is replaced and the old one revoked: CAM refuses the old
  // one, and a fetch brings the new one.
  ASSERT_TRUE(control(metadata, "rotate", R"({"revoke_old": true})"));
  const CamResult stale = build_token(*first);
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().code, "AuthFailure.SecretIdNotFound");
  const auto second = (*provider)->fetch();
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_NE(second->identity, first->identity);
  EXPECT_TRUE(build_token(*second).has_value());
}

}  // namespace
}  // namespace camproxy::auth
