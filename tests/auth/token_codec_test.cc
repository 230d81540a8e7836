// Token decoding against every case of tests/vectors/auth_token.json (spec §4).
#include "auth/token_codec.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/protocol/test_util.h"
#include "tests/vector_file.h"

namespace camproxy::auth {
namespace {

using test::arr;
using test::str;
using test::u64;

struct Inputs {
  std::string instance_id, region, user_name, token;
};

Inputs inputs_of(simdjson::dom::element c) {
  const simdjson::dom::element in = c["inputs"].value();
  return {str(in, "instance_id"), str(in, "region"), str(in, "user_name"), str(in, "token")};
}

Result<AuthTokenInfo> decode(const Inputs& in) {
  return decode_auth_token(in.instance_id, in.region, in.user_name, in.token);
}

void expect_fields(const AuthTokenInfo& info, simdjson::dom::element fields) {
  EXPECT_EQ(info.app_id, u64(fields, "appId"));
  EXPECT_EQ(info.uin, u64(fields, "uin"));
  EXPECT_EQ(info.owner_uin, u64(fields, "ownerUin"));
  EXPECT_EQ(info.req_id, str(fields, "reqId"));
  EXPECT_EQ(info.instance_id, str(fields, "instanceId"));
  EXPECT_EQ(info.region, str(fields, "region"));
  EXPECT_EQ(info.username, str(fields, "username"));
  EXPECT_EQ(info.password.view(), str(fields, "password"));
  EXPECT_EQ(info.create_time, u64(fields, "createTime"));
  EXPECT_EQ(info.extra_info, str(fields, "extraInfo"));
  EXPECT_EQ(info.token_type, u64(fields, "tokenType"));
  EXPECT_EQ(info.rand_num, u64(fields, "randNum"));
}

TEST(TokenCodec, EveryPositiveVectorDecodesToAllFields) {
  int cases = 0;
  for (simdjson::dom::element c : arr(test::load_vectors("auth_token.json"), "positive")) {
    SCOPED_TRACE(str(c, "name"));
    const simdjson::dom::element want = c["expected"].value();
    const auto info = decode(inputs_of(c));
    ASSERT_TRUE(info.has_value()) << info.error().message();
    EXPECT_EQ(info->password.view(), str(want, "password"));
    expect_fields(*info, want["fields"].value());

    // The protobuf reader alone gives the same fields from the vector's message bytes.
    const auto message = protocol::test::from_hex(str(c["intermediate"].value(), "protobuf_hex"));
    const auto parsed = parse_auth_token_info(message);
    ASSERT_TRUE(parsed.has_value());
    expect_fields(*parsed, want["fields"].value());
    ++cases;
  }
  EXPECT_EQ(cases, 8);
}

TEST(TokenCodec, EveryNegativeVectorFailsWithItsReason) {
  const std::map<std::string, TokenErr> reasons = {
      {"empty_input", TokenErr::empty_input},
      {"too_short", TokenErr::too_short},
      {"base64", TokenErr::base64},
      {"block_size", TokenErr::block_size},
      {"padding", TokenErr::padding},
      {"hash_mismatch", TokenErr::hash_mismatch},
      {"plaintext_too_short", TokenErr::plaintext_too_short},
      {"protobuf", TokenErr::protobuf},
      {"empty_password", TokenErr::empty_password},
  };
  int cases = 0;
  for (simdjson::dom::element c : arr(test::load_vectors("auth_token.json"), "negative")) {
    SCOPED_TRACE(str(c, "name"));
    const std::string reason = str(c["expected"].value(), "reason");
    ASSERT_EQ(reasons.count(reason), 1u) << reason;
    const auto info = decode(inputs_of(c));
    ASSERT_FALSE(info.has_value());
    EXPECT_EQ(info.error(), make_error_code(reasons.at(reason))) << info.error().message();
    ++cases;
  }
  EXPECT_EQ(cases, 21);
}

TEST(TokenCodec, EachEmptyInputIsRejectedFirst) {
  EXPECT_EQ(decode_auth_token("", "r", "u", "x").error(), make_error_code(TokenErr::empty_input));
  EXPECT_EQ(decode_auth_token("i", "", "u", "x").error(), make_error_code(TokenErr::empty_input));
  EXPECT_EQ(decode_auth_token("i", "r", "", "x").error(), make_error_code(TokenErr::empty_input));
  EXPECT_EQ(decode_auth_token("i", "r", "u", "").error(), make_error_code(TokenErr::empty_input));
}

TEST(TokenCodec, HashPrefixWithoutCiphertextIsABlockSizeError) {
  const std::string token(64, 'a');
  EXPECT_EQ(decode_auth_token("i", "r", "u", token).error(), make_error_code(TokenErr::block_size));
}

TEST(TokenCodec, ErrorMessagesNameTheReasonWithoutTokenBytes) {
  for (int e = 1; e <= static_cast<int>(TokenErr::empty_password); ++e) {
    const std::string msg = make_error_code(static_cast<TokenErr>(e)).message();
    EXPECT_FALSE(msg.empty());
    EXPECT_EQ(msg.find("unknown"), std::string::npos) << e;
  }
  EXPECT_STREQ(token_category().name(), "camproxy.token");
}

// Hand-made AuthTokenInfo messages for the protobuf rules the vectors do not cover.
Result<AuthTokenInfo> parse(std::initializer_list<std::uint8_t> bytes) {
  const std::vector<std::uint8_t> v(bytes);
  return parse_auth_token_info(v);
}

TEST(AuthTokenInfoReader, SkipsUnknownFixedWidthFields) {
  // field 20 fixed64, field 21 fixed32, then password "pw".
  const auto info = parse({0xa1, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0xad, 0x01, 1, 2, 3, 4, 0x42, 0x02, 'p', 'w'});
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->password.view(), "pw");
}

TEST(AuthTokenInfoReader, KnownFieldWithOtherWireTypeIsSkipped) {
  // appId (field 1) as fixed64 is treated as unknown.
  const auto info = parse({0x09, 1, 0, 0, 0, 0, 0, 0, 0});
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->app_id, 0u);
}

TEST(AuthTokenInfoReader, RejectsMalformedMessages) {
  const auto protobuf = make_error_code(TokenErr::protobuf);
  EXPECT_EQ(parse({0x0b}).error(), protobuf);           // group start
  EXPECT_EQ(parse({0x02, 0x00}).error(), protobuf);     // field number 0
  EXPECT_EQ(parse({0x09, 1, 2, 3}).error(), protobuf);  // fixed64 cut short
  EXPECT_EQ(parse({0x0d, 1, 2}).error(), protobuf);     // fixed32 cut short
  EXPECT_EQ(parse({0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}).error(),
            protobuf);  // varint > 64 bits
  EXPECT_EQ(parse({0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}).error(),
            protobuf);                                           // 11-byte varint
  EXPECT_EQ(parse({0x22, 0x02, 0xc3, 0x28}).error(), protobuf);  // reqId not UTF-8
  EXPECT_EQ(parse({0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}).error(),
            protobuf);  // huge length
}

TEST(AuthTokenInfoReader, EmptyMessageHasEmptyPassword) {
  const auto info = parse({});
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(info->password.empty());
}

}  // namespace
}  // namespace camproxy::auth
