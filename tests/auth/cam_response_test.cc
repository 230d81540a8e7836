// CAM answers against every case of tests/vectors/cam_responses.json (spec §3, §5, §6).
#include "auth/cam_response.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/vector_file.h"

namespace camproxy::auth {
namespace {

using test::arr;
using test::i64;
using test::str;

constexpr std::string_view kInstance = "cdb-12dd3d";
constexpr std::string_view kRegion = "ap-shanghai";
constexpr std::string_view kUser = "ReadOnly";

ErrorClass class_named(const std::string& name) {
  EXPECT_TRUE(name == "user_notification_required" || name == "retryable") << name;
  return name == "user_notification_required" ? ErrorClass::user_notification : ErrorClass::retryable;
}

TEST(CamResponse, EveryVectorCaseGivesItsConclusion) {
  int cases = 0;
  for (simdjson::dom::element c : arr(test::load_vectors("cam_responses.json"), "cases")) {
    SCOPED_TRACE(str(c, "name"));
    const simdjson::dom::element req = c["request"].value();
    const simdjson::dom::element want = c["expected"].value();
    const int status = static_cast<int>(i64(c, "http_status"));
    const CamResult r =
        parse_cam_response(status, str(c, "body"), str(req, "instance_id"), str(req, "region"), str(req, "user_name"));
    const std::string outcome = str(want, "outcome");
    if (outcome == "token") {
      ASSERT_TRUE(r.has_value()) << r.error().code << ": " << r.error().message;
      EXPECT_EQ(r->password.view(), str(want, "password"));
      EXPECT_EQ(r->lifetime_ms, i64(want, "lifetime_ms"));
      EXPECT_EQ(i64(c, "local_now_ms") + r->lifetime_ms, i64(want, "expires_at_local_ms"));
      EXPECT_EQ(r->request_id, str(want, "request_id"));
    } else {
      ASSERT_EQ(outcome, "error");
      ASSERT_FALSE(r.has_value());
      const std::string code = test::is_null(want, "error_code") ? str(want, "client_error") : str(want, "error_code");
      EXPECT_EQ(r.error().code, code);
      EXPECT_EQ(r.error().error_class, class_named(str(want, "class")));
      EXPECT_EQ(r.error().http_status, status);
      EXPECT_FALSE(r.error().message.empty());
      if (!test::is_null(want, "request_id")) {
        EXPECT_EQ(r.error().request_id, str(want, "request_id"));
      }
    }
    ++cases;
  }
  EXPECT_EQ(cases, 27);
}

TEST(CamResponse, UndecodableTokenNamesTheReason) {
  const auto r =
      parse_cam_response(200, R"({"Response":{"Credentials":{"Token":"x","CurrentTime":1,"NextRotationTime":2}}})",
                         kInstance, kRegion, kUser);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, client_error::kTokenDecode);
  EXPECT_NE(r.error().message.find("shorter"), std::string::npos) << r.error().message;
}

// The token of auth_token.json "all_fields_doc_example_account" (made for kInstance,
// kRegion, kUser) with chosen rotation times.
CamResult answer_with_times(std::string_view times_json) {
  std::string token;
  for (simdjson::dom::element c : arr(test::load_vectors("auth_token.json"), "positive")) {
    if (str(c, "name") == "all_fields_doc_example_account") {
      token = str(c["inputs"].value(), "token");
    }
  }
  EXPECT_FALSE(token.empty());
  const std::string body =
      R"({"Response":{"Credentials":{"Token":")" + token + "\"" + std::string(times_json) + R"(},"RequestId":"rid"}})";
  return parse_cam_response(200, body, kInstance, kRegion, kUser);
}

TEST(CamResponse, LifetimeRules) {
  const struct {
    std::string_view times;
    std::int64_t lifetime_ms;
  } rows[] = {
      {R"(,"CurrentTime":1000,"NextRotationTime":61000)", 60000},
      {R"(,"CurrentTime":1000,"NextRotationTime":1000)", kFallbackLifetimeMs},                       // equal
      {R"(,"CurrentTime":1000,"NextRotationTime":999)", kFallbackLifetimeMs},                        // overdue
      {R"(,"CurrentTime":1000)", kFallbackLifetimeMs},                                               // one missing
      {R"(,"CurrentTime":null,"NextRotationTime":5)", kFallbackLifetimeMs},                          // null
      {R"(,"CurrentTime":"1000","NextRotationTime":"9000")", kFallbackLifetimeMs},                   // strings
      {R"(,"CurrentTime":1.5,"NextRotationTime":9000)", kFallbackLifetimeMs},                        // not integer
      {R"(,"CurrentTime":-9223372036854775808,"NextRotationTime":9223372036854775807)", INT64_MAX},  // no overflow
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.times);
    const auto r = answer_with_times(row.times);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->lifetime_ms, row.lifetime_ms);
    EXPECT_EQ(r->request_id, "rid");
  }
}

TEST(CamResponse, KeepsRotationDetailsForLogging) {
  const auto r =
      answer_with_times(R"(,"CurrentTime":1000,"NextRotationTime":2000,"RotationStatus":"failed",)"
                        R"("RotationMessage":"rotate failed","LastRotationTimeCost":-1,"DeprecatedWarning":"x")");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->current_time_ms, 1000);
  EXPECT_EQ(r->next_rotation_time_ms, 2000);
  EXPECT_EQ(r->rotation_status, "failed");
  EXPECT_EQ(r->rotation_message, "rotate failed");
  EXPECT_EQ(r->password.view(), "Xk9#mQ2$vL7!pR4@wT6%");
}

TEST(CamResponse, ApiErrorMessageIsCappedAndPrintable) {
  const std::string long_text(5000, 'a');
  const auto r = parse_cam_response(200,
                                    R"({"Response":{"Error":{"Code":"InternalError","Message":"line1\nline2)" +
                                        long_text + R"("},"RequestId":"r1"}})",
                                    kInstance, kRegion, kUser);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "InternalError");
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  EXPECT_LE(r.error().message.size(), 512u);
  EXPECT_EQ(r.error().request_id, "r1");
}

TEST(CamResponse, ShapesThatAreNotTheEnvelope) {
  const auto check = [](int status, std::string_view body, std::string_view code) {
    SCOPED_TRACE(body);
    const auto r = parse_cam_response(status, body, kInstance, kRegion, kUser);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, code);
    EXPECT_EQ(r.error().error_class, ErrorClass::retryable);
  };
  check(200, "", client_error::kInvalidJson);
  check(200, "[]", client_error::kInvalidJson);
  check(200, R"({"Response":"x"})", client_error::kInvalidJson);
  check(200, R"({"Response":{"Error":{"Message":"no code"}}})", client_error::kInvalidJson);
  check(200, R"({"Response":{"Credentials":null}})", client_error::kNoCredentials);
  check(200, R"({"Response":{"Credentials":{"Token":null}}})", client_error::kNoCredentials);
  check(200, R"({"Response":{"Credentials":{"Token":""}}})", client_error::kTokenDecode);
  check(200, std::string(2 << 20, ' '), client_error::kInvalidJson);
  // A JSON API error behind a non-200 status stays an HTTP status error (§3).
  check(503, R"({"Response":{"Error":{"Code":"AuthFailure.SignatureFailure"}}})", client_error::kHttpStatus);
}

TEST(CamResponse, ClassifiesPerSdkRule) {
  EXPECT_EQ(classify_cam_error("AuthFailure.SignatureFailure"), ErrorClass::user_notification);
  EXPECT_EQ(classify_cam_error("AUTHFAILURE.x"), ErrorClass::user_notification);
  EXPECT_EQ(classify_cam_error("authfailure."), ErrorClass::user_notification);
  EXPECT_EQ(classify_cam_error("ResourceNotFound.DataFlowAuthClose"), ErrorClass::user_notification);
  EXPECT_EQ(classify_cam_error("resourcenotfound.dataflowauthclose"), ErrorClass::user_notification);
  EXPECT_EQ(classify_cam_error("ResourceNotFound.DataFlowAuthClosed"), ErrorClass::retryable);
  EXPECT_EQ(classify_cam_error("AuthFailure"), ErrorClass::retryable);
  EXPECT_EQ(classify_cam_error("UnauthorizedOperation"), ErrorClass::retryable);
  EXPECT_EQ(classify_cam_error("InvalidParameter.ParamError"), ErrorClass::retryable);
  EXPECT_EQ(classify_cam_error(""), ErrorClass::retryable);
  EXPECT_EQ(to_string(ErrorClass::user_notification), "user_notification");
}

}  // namespace
}  // namespace camproxy::auth
