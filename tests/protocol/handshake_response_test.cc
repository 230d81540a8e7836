// SSLRequest and HandshakeResponse41 (spec/mysql-protocol.md §2.3, §2.4) against responses
// captured from real clients (mariadb CLI / libmariadb, PyMySQL, mysql2).
#include "protocol/handshake_response.h"

#include <gtest/gtest.h>

#include "protocol/constants.h"
#include "test_util.h"

namespace camproxy::protocol {
namespace {

using test::PrintTo;

using test::bytes_str;
using test::capture_payload;
using test::from_hex;

ConnectAttrs libmariadb_attrs(std::string pid) {
  return {{"_os", "Linux"},
          {"_client_name", "libmariadb"},
          {"_pid", std::move(pid)},
          {"_client_version", "3.3.20"},
          {"_platform", "x86_64"},
          {"program_name", "mysql"},
          {"_server_host", "127.0.0.1"}};
}

struct ResponseCase {
  const char* name;
  std::vector<uint8_t> payload;
  HandshakeResponse41 expected;
};

std::vector<ResponseCase> response_cases() {
  return {
      // libmariadb clears capability bit 0 towards MariaDB: ext caps in the filler.
      {"mariadb_cli_native_with_db", capture_payload("mariadb_cli_login.hex", 1),
       HandshakeResponse41{0x00bfa28c, 1u << 20, 33, 0x1d, "camtest",
                           bytes_str("2b4b486e3e1aaa2f5ddcecdf338d94035a33a491"), "appdb", "mysql_native_password",
                           libmariadb_attrs("13435"), std::nullopt}},
      // Started with another plugin than advertised: empty auth data, AuthSwitch follows.
      {"mariadb_cli_caching_sha2_first", capture_payload("mariadb_cli_auth_switch.hex", 1),
       HandshakeResponse41{0x00bfa284, 1u << 20, 33, 0x1d, "camtest", "", std::nullopt, "caching_sha2_password",
                           libmariadb_attrs("13438"), std::nullopt}},
      {"pymysql_1_0_2", capture_payload("pymysql_login.hex", 1),
       HandshakeResponse41{0x003aa20d,
                           0xFFFFFF,
                           45,
                           0,
                           "camtest",
                           bytes_str("b769baf9694c7a0c3f6cf3c7e8524bb8cf7c160b"),
                           "appdb",
                           "mysql_native_password",
                           {{"_client_name", "pymysql"}, {"_pid", "13462"}, {"_client_version", "1.0.2"}},
                           std::nullopt}},
      // mysql2 clears bit 0 too, sets QUERY_ATTRIBUTES unasked, collation 224, max packet 0.
      {"mysql2_3_24_6", capture_payload("mysql2_login.hex", 1),
       HandshakeResponse41{0x08baf3ce,
                           0,
                           224,
                           mariadb_cap::kExtendedMetadata,
                           "camtest",
                           bytes_str("001baf6a9b2e372b59d8f6eea0cec1267ac115b8"),
                           "appdb",
                           "mysql_native_password",
                           {{"_client_name", "Node-MySQL-2"}, {"_client_version", "3.24.6"}},
                           std::nullopt}},
      // Hand-assembled: no LENENC_CLIENT_DATA (int<1> length), CONNECT_WITH_DB with an empty
      // db, ZSTD level at the end.
      {"handwritten_secure_connection_zstd",
       from_hex("0f82 0c04"    // caps 0x040c820f: +ZSTD, PLUGIN_AUTH, no LENENC/ATTRS
                "00000001 2d"  // max packet 16 MiB, collation 45
                "0000000000000000000000000000000000000000000000"
                "7500"       // user "u"
                "03 010203"  // auth, int<1> length
                "00"         // empty db
                "7800"       // plugin "x"
                "13"),       // zstd level 19
       HandshakeResponse41{0x040c820f, 0x01000000, 45, 0, "u", bytes_str("010203"), "", "x", {}, uint8_t{19}}},
  };
}

class ResponseTest : public ::testing::TestWithParam<ResponseCase> {};

TEST_P(ResponseTest, Decodes) {
  auto r = decode_handshake_response41(GetParam().payload);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, GetParam().expected);
  EXPECT_FALSE(is_ssl_request(GetParam().payload));
}

TEST_P(ResponseTest, EncodesToTheSameBytes) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_handshake_response41(GetParam().expected, w);
  EXPECT_EQ(test::to_hex(out), test::to_hex(GetParam().payload));
}

// Cutting a real response anywhere before the last mandatory field is malformed; cutting
// exactly between trailing optional fields yields them absent (spec §2.4). Never a crash.
TEST_P(ResponseTest, EveryCutFailsOrDropsTrailingFields) {
  const auto& payload = GetParam().payload;
  for (size_t n = 0; n < payload.size(); ++n) {
    auto r = decode_handshake_response41(std::span(payload).first(n));
    if (!r) {
      EXPECT_EQ(r.error(), ProtoErr::malformed) << "cut at " << n;
      continue;
    }
    const auto& full = GetParam().expected;
    EXPECT_EQ(r->user, full.user) << "cut at " << n;
    EXPECT_EQ(r->auth_response, full.auth_response) << "cut at " << n;
    EXPECT_TRUE(!r->auth_plugin_name || r->auth_plugin_name == full.auth_plugin_name);
    EXPECT_LE(r->attrs.size(), full.attrs.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Captured, ResponseTest, ::testing::ValuesIn(response_cases()), test::CaseName());

TEST(HandshakeResponse, Protocol320IsRecognisedByTheFirstTwoBytes) {
  // mysql 3.23-style: int<2> caps without PROTOCOL_41, int<3> max packet, user, scramble.
  const auto p = from_hex("8fa0 000000 726f6f7400 4142434445464748");
  EXPECT_EQ(decode_handshake_response41(p).error(), ProtoErr::protocol_320);
}

struct BadResponseCase {
  const char* name;
  std::vector<uint8_t> payload;
  ProtoErr expected;
};

std::vector<BadResponseCase> bad_response_cases() {
  const std::string filler(46, '0');
  return {
      {"empty", {}, ProtoErr::malformed},
      {"one_byte", from_hex("8d"), ProtoErr::malformed},
      {"user_without_nul", from_hex("0da23a00 ffffff00 2d" + filler + "63616d"), ProtoErr::malformed},
      {"lenenc_auth_longer_than_packet", from_hex("0da23a00 ffffff00 2d" + filler + "7500 14 0102"),
       ProtoErr::malformed},
      {"auth_ff_prefix", from_hex("0da23a00 ffffff00 2d" + filler + "7500 ff"), ProtoErr::malformed},
      {"db_without_nul", from_hex("0da23a00 ffffff00 2d" + filler + "7500 00 6170"), ProtoErr::malformed},
      // attrs block says 10 bytes, only 3 follow
      {"attrs_longer_than_packet", from_hex("0da23a00 ffffff00 2d" + filler + "7500 00 00 7800 0a 01 6b 01"),
       ProtoErr::malformed},
      // attrs block of 3 bytes holding a key whose value runs past the block
      {"attr_value_past_block", from_hex("0da23a00 ffffff00 2d" + filler + "7500 00 00 7800 03 01 6b 05"),
       ProtoErr::malformed},
  };
}

class BadResponseTest : public ::testing::TestWithParam<BadResponseCase> {};

TEST_P(BadResponseTest, Fails) {
  auto r = decode_handshake_response41(GetParam().payload);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Bad, BadResponseTest, ::testing::ValuesIn(bad_response_cases()), test::CaseName());

struct SslCase {
  const char* name;
  std::vector<uint8_t> payload;
  SslRequest expected;
};

std::vector<SslCase> ssl_cases() {
  return {
      {"mariadb_cli", capture_payload("mariadb_cli_ssl_request.hex", 1), SslRequest{0x00bfaa84, 1u << 20, 33, 0x1d}},
      {"pymysql", capture_payload("pymysql_ssl_request.hex", 1), SslRequest{0x003aaa05, 0xFFFFFF, 45, 0}},
  };
}

class SslRequestTest : public ::testing::TestWithParam<SslCase> {};

TEST_P(SslRequestTest, DetectsDecodesEncodes) {
  const auto& c = GetParam();
  EXPECT_TRUE(is_ssl_request(c.payload));
  auto req = decode_ssl_request(c.payload);
  ASSERT_TRUE(req);
  EXPECT_EQ(*req, c.expected);
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_ssl_request(c.expected, w);
  EXPECT_EQ(out, c.payload);
}

TEST_P(SslRequestTest, NotAnSslRequestWhenCutOrWithoutTheBit) {
  auto p = GetParam().payload;
  for (size_t n = 0; n < p.size(); ++n) {
    EXPECT_FALSE(is_ssl_request(std::span(p).first(n)));
    EXPECT_EQ(decode_ssl_request(std::span(p).first(n)).error(), ProtoErr::malformed);
  }
  p[1] = static_cast<uint8_t>(p[1] & ~(cap::kSsl >> 8));
  EXPECT_FALSE(is_ssl_request(p));
}

INSTANTIATE_TEST_SUITE_P(Captured, SslRequestTest, ::testing::ValuesIn(ssl_cases()), test::CaseName());

}  // namespace
}  // namespace camproxy::protocol
