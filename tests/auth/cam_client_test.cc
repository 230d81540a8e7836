// CamClient over a real socket: the request on the wire, its signature, and how
// transport failures are reported (spec §1-3).
#include "auth/cam_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>

#include "auth/tc3_signer.h"
#include "test_http_server.h"
#include "tests/vector_file.h"

namespace camproxy::auth {
namespace {

using test::arr;
using test::str;
using test::TestHttpServer;

simdjson::dom::element vector_case(std::string_view file, std::string_view list, std::string_view name) {
  for (simdjson::dom::element c : arr(test::load_vectors(file), list)) {
    if (str(c, "name") == name) return c;
  }
  ADD_FAILURE() << "no vector " << name;
  return {};
}

// The temporary credential of tc3_signature.json (id, key and session token).
Credential vector_credential(bool with_token) {
  const simdjson::dom::element in =
      vector_case("tc3_signature.json", "cases", "temporary_credentials_with_session_token_leap_day")["inputs"].value();
  Credential c{str(in, "secret_id"), SecretString(str(in, "secret_key")), {}};
  if (with_token) c.session_token = SecretString(str(in, "session_token"));
  return c;
}

test::Reply vector_reply(std::string_view name) {
  const simdjson::dom::element c = vector_case("cam_responses.json", "cases", name);
  return {static_cast<int>(test::i64(c, "http_status")), str(c, "body")};
}

// The request of every cam_responses.json case.
const TokenRequest kRequest{"cdb-12dd3d", "ap-shanghai", "ReadOnly"};

std::unique_ptr<CamClient> client_for(std::string endpoint,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  CamClientOptions options;
  options.endpoint = std::move(endpoint);
  options.timeout = timeout;
  auto client = CamClient::create(std::move(options));
  EXPECT_TRUE(client.has_value()) << client.error().message();
  return client ? std::move(*client) : nullptr;
}

std::string local_url(std::uint16_t port, std::string_view scheme = "http") {
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(port);
}

TEST(CamClient, SendsASignedRequestAndDecodesTheAnswer) {
  TestHttpServer server([](const test::RecordedRequest&) { return vector_reply("success_one_day_rotation"); });
  auto client = client_for(local_url(server.port()));
  ASSERT_TRUE(client);
  const Credential credential = vector_credential(true);

  const auto before = std::chrono::system_clock::now();
  const CamResult r = client->fetch(credential, kRequest);
  ASSERT_TRUE(r.has_value()) << r.error().code << ": " << r.error().message;
  EXPECT_EQ(r->password.view(), "Xk9#mQ2$vL7!pR4@wT6%");
  EXPECT_EQ(r->lifetime_ms, 86400000);
  EXPECT_EQ(r->request_id, "5bc7f0df-18a3-426b-84ce-ddbc8d1c95d1");

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const test::RecordedRequest& req = requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/");
  EXPECT_EQ(req.body, R"({"ResourceId":"cdb-12dd3d","ResourceRegion":"ap-shanghai","ResourceAccount":"ReadOnly"})");

  // Exactly the §1 headers (plus the Content-Length HTTP itself needs).
  std::set<std::string> names;
  for (const auto& h : req.headers) names.insert(h.first);
  EXPECT_EQ(names, (std::set<std::string>{"host", "content-type", "content-length", "x-tc-action", "x-tc-version",
                                          "x-tc-timestamp", "x-tc-region", "x-tc-token", "x-tc-language",
                                          "x-tc-requestclient", "authorization"}));
  const std::string host = "127.0.0.1:" + std::to_string(server.port());
  EXPECT_EQ(req.header("host"), host);
  EXPECT_EQ(req.header("content-type"), "application/json");
  EXPECT_EQ(req.header("content-length"), std::to_string(req.body.size()));
  EXPECT_EQ(req.header("x-tc-action"), "BuildDataFlowAuthToken");
  EXPECT_EQ(req.header("x-tc-version"), "2019-01-16");
  EXPECT_EQ(req.header("x-tc-region"), "ap-shanghai");
  EXPECT_EQ(req.header("x-tc-token"), credential.session_token.view());
  EXPECT_EQ(req.header("x-tc-language"), "en-US");
  EXPECT_EQ(req.header("x-tc-requestclient"), "camproxy_0.1.0");

  // The timestamp is "now" and the Authorization verifies with the signer.
  const std::int64_t ts = std::stoll(req.header("x-tc-timestamp"));
  const std::int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count();
  EXPECT_GE(ts, now_s);
  EXPECT_LE(ts, now_s + 60);
  const Tc3Signature expected = sign_tc3(
      Tc3Input{credential.secret_id, credential.secret_key.view(), "cam", host, "application/json", req.body, ts});
  EXPECT_EQ(req.header("authorization"), expected.authorization);
}

TEST(CamClient, ReusesTheConnectionAndOmitsTokenHeaderWithoutSessionToken) {
  TestHttpServer server([](const test::RecordedRequest&) { return vector_reply("success_rotation_in_90s"); });
  auto client = client_for(local_url(server.port()));
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->fetch(vector_credential(true), kRequest).has_value());
  const auto r = client->fetch(vector_credential(false), kRequest);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->lifetime_ms, 90000);

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_FALSE(requests[0].header("x-tc-token").empty());
  for (const auto& h : requests[1].headers) EXPECT_NE(h.first, "x-tc-token");
  EXPECT_EQ(server.connections(), 1);  // one easy handle, one kept-alive connection
}

TEST(CamClient, ApiErrorsAndHttpStatusesAreClassified) {
  const struct {
    std::string_view vector, code;
    ErrorClass error_class;
  } rows[] = {
      {"err_signature_failure", "AuthFailure.SignatureFailure", ErrorClass::user_notification},
      {"err_build_auth_token", "FailedOperation.BuildAuthToken", ErrorClass::retryable},
      {"http_502_gateway", "http_status", ErrorClass::retryable},
      {"malformed_json", "invalid_json", ErrorClass::retryable},
      {"truncated_token_in_response", "token_decode", ErrorClass::retryable},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.vector);
    TestHttpServer server([&](const test::RecordedRequest&) { return vector_reply(row.vector); });
    auto client = client_for(local_url(server.port()));
    ASSERT_TRUE(client);
    const auto r = client->fetch(vector_credential(false), kRequest);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, row.code);
    EXPECT_EQ(r.error().error_class, row.error_class);
  }
}

TEST(CamClient, ServerThatNeverAnswersTimesOut) {
  TestHttpServer server(nullptr, test::ServerMode::never_answer);
  auto client = client_for(local_url(server.port()), std::chrono::milliseconds(300));
  ASSERT_TRUE(client);
  const auto start = std::chrono::steady_clock::now();
  const auto r = client->fetch(vector_credential(false), kRequest);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "timeout");
  EXPECT_EQ(r.error().error_class, ErrorClass::retryable);
  EXPECT_EQ(r.error().http_status, 0);
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(CamClient, RefusedConnectionIsANetworkError) {
  test::RefusingPort port;
  auto client = client_for(local_url(port.port()));
  ASSERT_TRUE(client);
  const auto r = client->fetch(vector_credential(false), kRequest);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "network");
  EXPECT_EQ(r.error().error_class, ErrorClass::retryable);
  EXPECT_NE(r.error().message.find("127.0.0.1"), std::string::npos) << r.error().message;
}

TEST(CamClient, FailedTlsHandshakeIsATlsError) {
  TestHttpServer server(nullptr, test::ServerMode::not_tls);
  auto client = client_for(local_url(server.port(), "https"));
  ASSERT_TRUE(client);
  const auto r = client->fetch(vector_credential(false), kRequest);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "tls") << r.error().message;
}

TEST(CamClient, OversizedAnswerIsCutOff) {
  TestHttpServer server([](const test::RecordedRequest&) { return test::Reply{200, std::string(2 << 20, ' ')}; });
  auto client = client_for(local_url(server.port()));
  ASSERT_TRUE(client);
  const auto r = client->fetch(vector_credential(false), kRequest);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "network");
  EXPECT_NE(r.error().message.find("larger than 1 MiB"), std::string::npos) << r.error().message;
}

TEST(CamClient, InvalidRequestIsNotSent) {
  TestHttpServer server([](const test::RecordedRequest&) { return test::Reply{200, "{}"}; });
  auto client = client_for(local_url(server.port()));
  ASSERT_TRUE(client);
  const auto r = client->fetch(vector_credential(false), TokenRequest{"", "ap-shanghai", "u"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "invalid_request");
  EXPECT_EQ(r.error().error_class, ErrorClass::user_notification);
  EXPECT_TRUE(server.requests().empty());
}

TEST(CamClient, CreateValidatesEndpointAndOptions) {
  const auto create = [](auto edit) {
    CamClientOptions options;
    edit(options);
    return CamClient::create(std::move(options));
  };
  EXPECT_TRUE(create([](CamClientOptions&) {}).has_value());  // defaults are valid
  EXPECT_EQ(create([](auto& o) { o.endpoint = "http://cam.tencentcloudapi.com"; }).error(),
            make_error_code(AuthErr::endpoint_insecure));
  EXPECT_EQ(create([](auto& o) { o.endpoint = "http://192.168.1.10:8080"; }).error(),
            make_error_code(AuthErr::endpoint_insecure));
  EXPECT_EQ(create([](auto& o) { o.endpoint = "gopher://x"; }).error(), make_error_code(AuthErr::endpoint_scheme));
  EXPECT_EQ(create([](auto& o) { o.timeout = std::chrono::milliseconds(0); }).error(),
            make_error_code(AuthErr::bad_option));
  EXPECT_EQ(create([](auto& o) { o.language = "fr-FR"; }).error(), make_error_code(AuthErr::bad_option));
  EXPECT_EQ(create([](auto& o) { o.request_client = "bad\r\nX: y"; }).error(), make_error_code(AuthErr::bad_option));
  EXPECT_EQ(create([](auto& o) { o.request_client = std::string(129, 'a'); }).error(),
            make_error_code(AuthErr::bad_option));
  EXPECT_EQ(create([](auto& o) { o.ca_file = "/nonexistent/ca.pem"; }).error(),
            make_error_code(AuthErr::ca_file_unreadable));
  const auto ok = create([](auto& o) { o.endpoint = "https://cam.internal.tencentcloudapi.com/"; });
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ((*ok)->endpoint().service, "cam");
  EXPECT_EQ((*ok)->endpoint().host_header, "cam.internal.tencentcloudapi.com");
}

}  // namespace
}  // namespace camproxy::auth
