// AuthSwitchRequest / AuthMoreData (spec/mysql-protocol.md §2.5, §3.3).
#include "protocol/auth_switch.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace camproxy::protocol {
namespace {

using test::PrintTo;

using test::bytes_str;
using test::capture_payload;
using test::from_hex;

struct SwitchCase {
  const char* name;
  std::vector<uint8_t> payload;
  AuthSwitchRequest expected;
};

std::vector<SwitchCase> switch_cases() {
  return {
      // MariaDB answering a caching_sha2 first response for a native account.
      {"mariadb_to_native", capture_payload("mariadb_cli_auth_switch.hex", 2),
       AuthSwitchRequest{"mysql_native_password", bytes_str("624d39776a2f496336244d3b7b7d222c58552246 00")}},
      // MariaDB's switch during mysql2's COM_CHANGE_USER: the session's original nonce again.
      {"mariadb_change_user", capture_payload("mysql2_login.hex", 12),
       AuthSwitchRequest{"mysql_native_password", bytes_str("7b505d62535b4d512f355d567671532b7946305b 00")}},
      // Hand-assembled: no plugin data at all.
      {"no_data", from_hex("fe 7800"), AuthSwitchRequest{"x", ""}},
  };
}

class AuthSwitchTest : public ::testing::TestWithParam<SwitchCase> {};

TEST_P(AuthSwitchTest, BothWays) {
  const auto& c = GetParam();
  auto req = decode_auth_switch_request(c.payload);
  ASSERT_TRUE(req) << req.error().message();
  EXPECT_EQ(*req, c.expected);
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_auth_switch_request(c.expected, w);
  EXPECT_EQ(out, c.payload);
}

TEST_P(AuthSwitchTest, CutsFailOrShortenTheData) {
  const auto& c = GetParam();
  for (size_t n = 0; n < c.payload.size(); ++n) {
    auto req = decode_auth_switch_request(std::span(c.payload).first(n));
    if (!req) {
      EXPECT_TRUE(req.error() == ProtoErr::malformed || req.error() == ProtoErr::unsupported) << "cut at " << n;
    } else {
      EXPECT_EQ(req->plugin_name, c.expected.plugin_name) << "cut at " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Captured, AuthSwitchTest, ::testing::ValuesIn(switch_cases()), test::CaseName());

TEST(AuthSwitch, BadBytes) {
  EXPECT_EQ(decode_auth_switch_request(from_hex("fe")).error(), ProtoErr::unsupported);
  EXPECT_EQ(decode_auth_switch_request(from_hex("")).error(), ProtoErr::malformed);
  EXPECT_EQ(decode_auth_switch_request(from_hex("01 7800")).error(), ProtoErr::malformed);
  EXPECT_EQ(decode_auth_switch_request(from_hex("fe 6d7973")).error(), ProtoErr::malformed);
}

TEST(AuthSwitch, NonceFromPluginData) {
  const auto expected = from_hex("624d39776a2f496336244d3b7b7d222c58552246");
  for (std::string_view data :
       {"624d39776a2f496336244d3b7b7d222c58552246 00", "624d39776a2f496336244d3b7b7d222c58552246"}) {
    auto nonce = nonce_from_plugin_data(bytes_str(data));
    ASSERT_TRUE(nonce) << data;
    EXPECT_TRUE(std::equal(nonce->begin(), nonce->end(), expected.begin()));
  }
  EXPECT_EQ(nonce_from_plugin_data(bytes_str("0102 00")).error(), ProtoErr::malformed);
  EXPECT_EQ(nonce_from_plugin_data(bytes_str("624d39776a2f496336244d3b7b7d222c5855224641 00")).error(),
            ProtoErr::malformed);
}

struct MoreDataCase {
  const char* name;
  std::vector<uint8_t> payload;
  AuthMoreData expected;
};

class AuthMoreDataTest : public ::testing::TestWithParam<MoreDataCase> {};

TEST_P(AuthMoreDataTest, BothWays) {
  const auto& c = GetParam();
  auto more = decode_auth_more_data(c.payload);
  ASSERT_TRUE(more);
  EXPECT_EQ(*more, c.expected);
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_auth_more_data(c.expected, w);
  EXPECT_EQ(out, c.payload);
}

// Bytes from spec §2.5 / §3.3 (the caching_sha2 exchange; MariaDB has no such server plugin).
INSTANTIATE_TEST_SUITE_P(Spec, AuthMoreDataTest,
                         ::testing::Values(MoreDataCase{"fast_auth_success", from_hex("01 03"), AuthMoreData{"\x03"}},
                                           MoreDataCase{"perform_full_auth", from_hex("01 04"), AuthMoreData{"\x04"}},
                                           MoreDataCase{"pem_key", from_hex("01 2d2d2d2d2d"), AuthMoreData{"-----"}}),
                         test::CaseName());

TEST(AuthMoreData, BadBytes) {
  EXPECT_EQ(decode_auth_more_data(from_hex("")).error(), ProtoErr::malformed);
  EXPECT_EQ(decode_auth_more_data(from_hex("00 03")).error(), ProtoErr::malformed);
}

}  // namespace
}  // namespace camproxy::protocol
