// TC3-HMAC-SHA256 against every case of tests/vectors/tc3_signature.json (spec §2).
#include "auth/tc3_signer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/crypto.h"
#include "tests/protocol/test_util.h"
#include "tests/vector_file.h"

namespace camproxy::auth {
namespace {

using test::arr;
using test::i64;
using test::str;

TEST(Tc3Signer, EveryVectorCaseMatchesAllIntermediates) {
  int cases = 0;
  for (simdjson::dom::element c : arr(test::load_vectors("tc3_signature.json"), "cases")) {
    const std::string name = str(c, "name");
    SCOPED_TRACE(name);
    const simdjson::dom::element in = c["inputs"].value();
    const simdjson::dom::element want = c["expected"].value();

    const std::string secret_id = str(in, "secret_id");
    const std::string secret_key = str(in, "secret_key");
    const std::string service = str(in, "service");
    const std::string host = str(in, "host");
    const std::string content_type = str(in, "content_type");
    const std::vector<std::uint8_t> body_bytes = protocol::test::from_hex(str(in, "body_hex"));
    const std::string body(body_bytes.begin(), body_bytes.end());
    ASSERT_EQ(body, str(in, "body"));

    std::vector<std::string> extra_storage;
    for (simdjson::dom::element pair : arr(in, "extra_signed_headers")) {
      for (simdjson::dom::element part : pair.get_array()) {
        extra_storage.emplace_back(std::string_view(part.get_string()));
      }
    }
    std::vector<Tc3Header> extra;
    for (std::size_t i = 0; i + 1 < extra_storage.size(); i += 2) {
      extra.push_back({extra_storage[i], extra_storage[i + 1]});
    }

    const Tc3Input input{secret_id, secret_key, service, host, content_type, body, i64(in, "timestamp")};
    const Tc3Signature sig = sign_tc3(input, extra);

    EXPECT_EQ(sha256_hex(body), str(want, "hashed_payload"));
    EXPECT_EQ(sig.date, str(want, "date"));
    EXPECT_EQ(sig.canonical_request, str(want, "canonical_request"));
    EXPECT_EQ(sha256_hex(sig.canonical_request), str(want, "hashed_canonical_request"));
    EXPECT_EQ(sig.string_to_sign, str(want, "string_to_sign"));
    EXPECT_EQ(sig.signature, str(want, "signature"));
    EXPECT_EQ(sig.authorization, str(want, "authorization"));
    if (extra.empty()) {
      // The SDK form (no extra headers) is what sign_tc3(input) computes.
      EXPECT_EQ(sign_tc3(input).authorization, str(want, "authorization"));
    }
    ++cases;
  }
  EXPECT_EQ(cases, 13);
}

TEST(Tc3Signer, DateIsUtcAcrossBoundaries) {
  EXPECT_EQ(utc_date(0), "1970-01-01");
  EXPECT_EQ(utc_date(1735689599), "2024-12-31");
  EXPECT_EQ(utc_date(1735689600), "2025-01-01");
  EXPECT_EQ(utc_date(1709164800), "2024-02-29");
  EXPECT_EQ(utc_date(-1), "1969-12-31");
}

TEST(Tc3Signer, ExtraHeaderNamedHostOrContentTypeIsIgnored) {
  const Tc3Input input{"id", "key", "cam", "cam.tencentcloudapi.com", "application/json", "{}", 1733802016};
  const std::vector<Tc3Header> extra = {{"Host", "evil.example"}, {"Content-Type", "text/x"}};
  EXPECT_EQ(sign_tc3(input, extra).canonical_request, sign_tc3(input).canonical_request);
}

TEST(Tc3Signer, EverySignedInputChangesTheSignature) {
  const Tc3Input base{"id", "key", "cam", "cam.tencentcloudapi.com", "application/json", "{}", 1733802016};
  const std::string ref = sign_tc3(base).signature;
  Tc3Input v = base;
  v.secret_key = "key2";
  EXPECT_NE(sign_tc3(v).signature, ref);
  v = base;
  v.body = "{ }";
  EXPECT_NE(sign_tc3(v).signature, ref);
  v = base;
  v.host = "cam.internal.tencentcloudapi.com";
  EXPECT_NE(sign_tc3(v).signature, ref);
  v = base;
  v.timestamp += 1;
  EXPECT_NE(sign_tc3(v).signature, ref);
  v = base;
  v.service = "sts";
  EXPECT_NE(sign_tc3(v).signature, ref);
}

}  // namespace
}  // namespace camproxy::auth
