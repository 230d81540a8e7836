// COM_CHANGE_USER (spec/mysql-protocol.md §2.7) against mysql2's changeUser() capture.
#include "protocol/change_user.h"

#include <gtest/gtest.h>

#include "protocol/auth_plugins.h"
#include "protocol/constants.h"
#include "test_util.h"

namespace camproxy::protocol {
namespace {

using test::PrintTo;

using test::bytes_str;
using test::capture_payload;
using test::from_hex;

constexpr uint32_t kMysql2Caps = 0x08baf3ce;  // from captures/mysql2_login.hex

struct ChangeUserCase {
  const char* name;
  std::vector<uint8_t> payload;
  uint32_t caps;
  ComChangeUser expected;
};

std::vector<ChangeUserCase> change_user_cases() {
  return {
      {"mysql2", capture_payload("mysql2_login.hex", 11), kMysql2Caps,
       ComChangeUser{"other",
                     bytes_str("1a0c980310312d425245600323e10ee445cff6e8"),
                     "appdb",
                     uint16_t{45},
                     "mysql_native_password",
                     {}}},
      // Hand-assembled: no SECURE_CONNECTION (str<NUL> auth), attrs present.
      {"handwritten_nul_auth_attrs", from_hex("11 7500 61626300 00 2100 7000 07 016b 0176 0177 00"),
       cap::kProtocol41 | cap::kPluginAuth | cap::kConnectAttrs,
       ComChangeUser{"u", "abc", "", uint16_t{33}, "p", {{"k", "v"}, {"w", ""}}}},
  };
}

class ChangeUserTest : public ::testing::TestWithParam<ChangeUserCase> {};

TEST_P(ChangeUserTest, BothWays) {
  const auto& c = GetParam();
  auto cmd = decode_change_user(c.payload, c.caps);
  ASSERT_TRUE(cmd) << cmd.error().message();
  EXPECT_EQ(*cmd, c.expected);
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_change_user(c.expected, c.caps, w);
  EXPECT_EQ(test::to_hex(out), test::to_hex(c.payload));
}

TEST_P(ChangeUserTest, CutsFailOrDropTrailingFields) {
  const auto& c = GetParam();
  for (size_t n = 0; n < c.payload.size(); ++n) {
    auto cmd = decode_change_user(std::span(c.payload).first(n), c.caps);
    if (!cmd) {
      EXPECT_EQ(cmd.error(), ProtoErr::malformed) << "cut at " << n;
    } else {
      EXPECT_EQ(cmd->database, c.expected.database) << "cut at " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Captured, ChangeUserTest, ::testing::ValuesIn(change_user_cases()), test::CaseName());

// mysql2 computes the change-user scramble over the session's original greeting nonce.
TEST(ChangeUser, CapturedScrambleUsesTheGreetingNonce) {
  const auto greeting_nonce = from_hex("7b505d62535b4d512f355d567671532b7946305b");
  auto cmd = decode_change_user(capture_payload("mysql2_login.hex", 11), kMysql2Caps);
  ASSERT_TRUE(cmd);
  const std::string_view pw = "other-pw";
  const auto expected = native_scramble(test::as_bytes(pw), std::span<const uint8_t, 20>(greeting_nonce.data(), 20));
  EXPECT_EQ(cmd->auth_response, std::string(expected.begin(), expected.end()));
}

TEST(ChangeUser, BadBytes) {
  const uint32_t caps = kMysql2Caps;
  EXPECT_EQ(decode_change_user(from_hex(""), caps).error(), ProtoErr::malformed);
  EXPECT_EQ(decode_change_user(from_hex("03 7500"), caps).error(), ProtoErr::malformed);
  EXPECT_EQ(decode_change_user(from_hex("11 7500 14 0102"), caps).error(), ProtoErr::malformed);
  EXPECT_EQ(decode_change_user(from_hex("11 7500 00 6462"), caps).error(), ProtoErr::malformed);
  EXPECT_EQ(decode_change_user(from_hex("11 7500 00 00 21"), caps).error(), ProtoErr::malformed);
}

}  // namespace
}  // namespace camproxy::protocol
