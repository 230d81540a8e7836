// Request body and headers against tests/vectors/tc3_signature.json (spec §1, §2).
#include "auth/cam_request.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/vector_file.h"

namespace camproxy::auth {
namespace {

using test::arr;
using test::i64;
using test::str;

// ResourceId, ResourceRegion, ResourceAccount read back from a JSON body.
TokenRequest fields_of(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(body).get(doc), simdjson::SUCCESS) << body;
  return {str(doc, "ResourceId"), str(doc, "ResourceRegion"), str(doc, "ResourceAccount")};
}

bool is_cam_case(simdjson::dom::element in) {
  return str(in, "action") == kCamAction && str(in, "content_type") == kCamContentType;
}

TEST(CamRequest, BodyIsCompactGoStyleJson) {
  int compared = 0;
  for (simdjson::dom::element c : arr(test::load_vectors("tc3_signature.json"), "cases")) {
    const simdjson::dom::element in = c["inputs"].value();
    if (!is_cam_case(in)) continue;
    SCOPED_TRACE(str(c, "name"));
    const std::string vector_body = str(in, "body");
    const TokenRequest request = fields_of(vector_body);
    const std::string body = build_token_request_body(request);
    // Same fields whatever the vector's escaping style ...
    const TokenRequest back = fields_of(body);
    EXPECT_EQ(back.instance_id, request.instance_id);
    EXPECT_EQ(back.region, request.region);
    EXPECT_EQ(back.account, request.account);
    // ... and byte-identical to the Go SDK's output where Go does not HTML-escape.
    if (str(in, "body_style") == "go" && vector_body.find("\\u00") == std::string::npos) {
      EXPECT_EQ(body, vector_body);
      ++compared;
    }
  }
  EXPECT_GE(compared, 4);
}

TEST(CamRequest, BodyEscapesQuotesBackslashesAndControls) {
  const TokenRequest request{"cdb-1", "ap-x", std::string("a\"b\\c\n\x01", 7)};
  EXPECT_EQ(build_token_request_body(request),
            R"({"ResourceId":"cdb-1","ResourceRegion":"ap-x","ResourceAccount":"a\"b\\c\n\u0001"})");
}

TEST(CamRequest, HeadersMatchTheVectorsHeaderLists) {
  int cases = 0;
  for (simdjson::dom::element c : arr(test::load_vectors("tc3_signature.json"), "cases")) {
    const simdjson::dom::element in = c["inputs"].value();
    if (!is_cam_case(in)) continue;
    SCOPED_TRACE(str(c, "name"));
    const auto endpoint = parse_endpoint(str(in, "url"));
    ASSERT_TRUE(endpoint.has_value());
    Credential credential{str(in, "secret_id"), SecretString(str(in, "secret_key")), {}};
    if (!test::is_null(in, "session_token")) {
      credential.session_token = SecretString(str(in, "session_token"));
    }
    std::vector<HttpHeader> want;
    std::string language;
    for (simdjson::dom::element pair : arr(c, "http_headers_to_send")) {
      const simdjson::dom::array parts = pair.get_array();
      HttpHeader h{std::string(std::string_view(parts.at(0))), std::string(std::string_view(parts.at(1)))};
      if (h.name == "X-TC-Language") language = h.value;
      want.push_back(std::move(h));
    }
    const auto got = build_cam_headers(*endpoint, credential, str(in, "region"), str(in, "body"), i64(in, "timestamp"),
                                       language, "");
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].name, want[i].name);
      EXPECT_EQ(got[i].value, want[i].value);
    }
    ++cases;
  }
  EXPECT_EQ(cases, 9);
}

TEST(CamRequest, RequestClientHeaderComesBeforeAuthorization) {
  const auto endpoint = parse_endpoint("https://cam.tencentcloudapi.com");
  const Credential credential{"AKIDx", SecretString("k"), {}};
  const auto headers = build_cam_headers(*endpoint, credential, "ap-x", "{}", 1, "en-US", "cp_1");
  ASSERT_GE(headers.size(), 3u);
  EXPECT_EQ(headers[headers.size() - 3].name, "X-TC-Language");
  EXPECT_EQ(headers[headers.size() - 2].name, "X-TC-RequestClient");
  EXPECT_EQ(headers[headers.size() - 2].value, "cp_1");
  EXPECT_EQ(headers.back().name, "Authorization");
}

TEST(CamRequest, CheckNamesTheBadFieldNotItsValue) {
  const Credential good{"AKIDx", SecretString("k"), SecretString("tok")};
  const TokenRequest ok{"cdb-1", "ap-x", "acct"};
  EXPECT_FALSE(check_token_request(good, ok).has_value());

  const struct {
    TokenRequest request;
    std::string_view expect;
  } rows[] = {
      {{"", "ap-x", "acct"}, "instance id is empty"},
      {{"cdb-1", "", "acct"}, "region is empty"},
      {{"cdb-1", "ap-x", ""}, "account is empty"},
      {{"cdb-1", "ap-x", "\xff"}, "account is not valid UTF-8"},
      {{"cdb-1", "ap-x\r\nX-Evil: 1", "acct"}, "region contains"},
  };
  for (const auto& row : rows) {
    const auto problem = check_token_request(good, row.request);
    ASSERT_TRUE(problem.has_value());
    EXPECT_EQ(problem->rfind(row.expect, 0), 0u) << *problem;
  }
  const Credential no_key{"AKIDx", {}, {}};
  EXPECT_EQ(check_token_request(no_key, ok), "SecretKey is empty");
  const Credential bad_token{"AKIDx", SecretString("k"), SecretString("t\nX: y")};
  EXPECT_EQ(check_token_request(bad_token, ok), "session token contains invalid characters");
}

}  // namespace
}  // namespace camproxy::auth
