// HandshakeV10 (spec/mysql-protocol.md §2.1, §3.1) against captured MariaDB greetings.
#include "protocol/handshake_v10.h"

#include <gtest/gtest.h>

#include "protocol/constants.h"
#include "test_util.h"

namespace camproxy::protocol {
namespace {

using test::PrintTo;

using test::capture_payload;
using test::from_hex;

std::array<uint8_t, 20> nonce_of(std::string_view hex) {
  const auto v = from_hex(hex);
  std::array<uint8_t, 20> out{};
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

struct GreetingCase {
  const char* name;
  std::vector<uint8_t> payload;
  HandshakeV10 expected;
};

std::vector<GreetingCase> greeting_cases() {
  return {
      {"mariadb_10_11_plain", capture_payload("mariadb_cli_login.hex", 0),
       HandshakeV10{10, "5.5.5-10.11.19-MariaDB-0+deb12u1", 6, nonce_of("2361436a6a595c437854792959677b526a3e3739"),
                    0x81fff7fe, 8, 0x0002,
                    mariadb_cap::kProgress | mariadb_cap::kStmtBulkOperations | mariadb_cap::kExtendedMetadata |
                        mariadb_cap::kCacheMetadata,
                    "mysql_native_password"}},
      // With TLS configured (kSsl set); MariaDB does not avoid '$' (0x24) in its nonce.
      {"mariadb_10_11_tls", capture_payload("mariadb_cli_ssl_request.hex", 0),
       HandshakeV10{10, "5.5.5-10.11.19-MariaDB-0+deb12u1", 5, nonce_of("3f7e7d786570245d29544d622940467d6564456b"),
                    0x81fffffe, 8, 0x0002, 0x1d, "mysql_native_password"}},
      // What the proxy sends (spec §2.1/§2.2), assembled by hand field by field.
      {"proxy_style_caching_sha2",
       from_hex("0a 382e302e333600"            // version "8.0.36"
                "2a000000"                     // connection id 42
                "0102030405060708 00"          // nonce part 1, filler
                "0fa7"                         // caps low 0xa70f
                "ff"                           // collation 255
                "0200"                         // status AUTOCOMMIT
                "bf01"                         // caps high 0x01bf
                "15"                           // auth data length 21
                "00000000000000000000"         // reserved
                "090a0b0c0d0e0f1011121314 00"  // nonce part 2 + NUL
                "63616368696e675f736861325f70617373776f726400"),
       HandshakeV10{10, "8.0.36", 42, nonce_of("0102030405060708090a0b0c0d0e0f1011121314"), cap::kProxyServerDefault,
                    255, status::kAutocommit, 0, "caching_sha2_password"}},
  };
}

class GreetingTest : public ::testing::TestWithParam<GreetingCase> {};

TEST_P(GreetingTest, Decodes) {
  auto hs = decode_handshake_v10(GetParam().payload);
  ASSERT_TRUE(hs) << hs.error().message();
  EXPECT_EQ(*hs, GetParam().expected);
}

TEST_P(GreetingTest, EncodesToTheSameBytes) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_handshake_v10(GetParam().expected, w);
  EXPECT_EQ(test::to_hex(out), test::to_hex(GetParam().payload));
}

// Every strict prefix of a real greeting is malformed: never a crash, never a partial success.
TEST_P(GreetingTest, EveryCutIsMalformed) {
  const auto& payload = GetParam().payload;
  for (size_t n = 0; n < payload.size(); ++n) {
    auto hs = decode_handshake_v10(std::span(payload).first(n));
    ASSERT_FALSE(hs) << "cut at " << n;
    EXPECT_EQ(hs.error(), ProtoErr::malformed) << "cut at " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Captured, GreetingTest, ::testing::ValuesIn(greeting_cases()), test::CaseName());

struct BadGreetingCase {
  const char* name;
  std::vector<uint8_t> payload;
  ProtoErr expected;
};

std::vector<BadGreetingCase> bad_greeting_cases() {
  auto base = capture_payload("mariadb_cli_login.hex", 0);
  auto with = [&](size_t at, uint8_t value) {
    auto p = base;
    p[at] = value;
    return p;
  };
  // Offsets in the captured greeting: version is 33 bytes incl. NUL, so caps low is at 47..48.
  constexpr size_t kCapsLow = 1 + 33 + 4 + 8 + 1;
  auto no_nul_version = from_hex("0a 35 2e 35");
  // Cut inside the 10 reserved bytes (caps, collation, status, caps high, length, 8 of 10).
  constexpr size_t kInsideReserved = kCapsLow + 2 + 1 + 2 + 2 + 1 + 8;
  auto reserved_cut = std::vector<uint8_t>(base.begin(), base.begin() + kInsideReserved);
  return {
      {"protocol_9", with(0, 9), ProtoErr::unsupported},
      {"err_packet", from_hex("ff 1004 546f6f206d616e7920636f6e6e656374696f6e73"), ProtoErr::unsupported},
      {"no_protocol_41", with(kCapsLow + 1, static_cast<uint8_t>(base[kCapsLow + 1] & ~0x02)), ProtoErr::unsupported},
      {"no_secure_connection", with(kCapsLow + 1, static_cast<uint8_t>(base[kCapsLow + 1] & ~0x80)),
       ProtoErr::unsupported},
      {"version_without_nul", no_nul_version, ProtoErr::malformed},
      {"reserved_cut", reserved_cut, ProtoErr::malformed},
      {"plugin_name_without_nul", std::vector<uint8_t>(base.begin(), base.end() - 1), ProtoErr::malformed},
      {"empty", {}, ProtoErr::malformed},
  };
}

class BadGreetingTest : public ::testing::TestWithParam<BadGreetingCase> {};

TEST_P(BadGreetingTest, Fails) {
  auto hs = decode_handshake_v10(GetParam().payload);
  ASSERT_FALSE(hs);
  EXPECT_EQ(hs.error(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Bad, BadGreetingTest, ::testing::ValuesIn(bad_greeting_cases()), test::CaseName());

// A greeting whose auth data length is below 21 still carries 13 bytes of part 2 (spec §3.1).
TEST(Greeting, ShortAuthDataLengthStillReadsThirteen) {
  auto p = capture_payload("mariadb_cli_login.hex", 0);
  constexpr size_t kAuthLen = 1 + 33 + 4 + 8 + 1 + 2 + 1 + 2 + 2;
  ASSERT_EQ(p[kAuthLen], 21);
  p[kAuthLen] = 0;
  auto hs = decode_handshake_v10(p);
  ASSERT_TRUE(hs);
  EXPECT_EQ(hs->nonce, nonce_of("2361436a6a595c437854792959677b526a3e3739"));
}

}  // namespace
}  // namespace camproxy::protocol
