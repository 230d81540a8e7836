// OK / ERR / EOF (spec/mysql-protocol.md §4.1) against packets captured from MariaDB 10.11.
#include "protocol/ok_err_eof.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "protocol/constants.h"
#include "test_util.h"

namespace camproxy::protocol {
namespace {

using test::PrintTo;

using test::capture_payload;
using test::from_hex;

// Negotiated capabilities of the captured sessions (client caps; the server has them all).
constexpr uint32_t kCliCaps = 0x00bfa28c;     // mariadb CLI: PROTOCOL_41, SESSION_TRACK
constexpr uint32_t kPyCaps = 0x003aa20d;      // PyMySQL: PROTOCOL_41, no SESSION_TRACK
constexpr uint32_t kMysql2Caps = 0x08baf3ce;  // mysql2: SESSION_TRACK
constexpr uint32_t kPyEofCaps = 0x01bba20d;   // PyMySQL + DEPRECATE_EOF|SESSION_TRACK
constexpr uint32_t kPre41Caps = cap::kTransactions;

struct OkCase {
  const char* name;
  std::vector<uint8_t> payload;
  uint32_t caps;
  std::string state_hex;  // session_state_info, as hex (the struct holds a view)
  OkPacket expected;      // session_state_info filled from state_hex
};

std::vector<OkCase> ok_cases() {
  const std::string set_names_state =
      "001d146368617261637465725f7365745f636c69656e7407757466386d6234"
      "00211863686172616374657"
      "25f7365745f636f6e6e656374696f6e07757466386d6234"
      "001e156368617261637465725f7365745f726573756c747307757466386d6234";
  return {
      {"login_with_schema_change", capture_payload("mariadb_cli_login.hex", 2), kCliCaps, "0106056170706462",
       OkPacket{0, 0, 0x4002, 0, "", {}, 0x00}},
      {"login_plain", capture_payload("pymysql_login.hex", 2), kPyCaps, "",
       OkPacket{0, 0, status::kAutocommit, 0, "", {}, 0x00}},
      {"autocommit_off", capture_payload("pymysql_login.hex", 4), kPyCaps, "", OkPacket{0, 0, 0, 0, "", {}, 0x00}},
      {"insert_with_info", capture_payload("pymysql_login.hex", 15), kPyCaps, "",
       OkPacket{2, 1, status::kInTrans, 0, "Records: 2  Duplicates: 0  Warnings: 0", {}, 0x00}},
      {"set_names_tracks_variables", capture_payload("mysql2_login.hex", 4), kMysql2Caps, set_names_state,
       OkPacket{0, 0, 0x4002, 0, "", {}, 0x00}},
      {"autocommit_off_tracked", capture_payload("pymysql_deprecate_eof.hex", 4), kPyEofCaps,
       "000f0a6175746f636f6d6d6974034f4646", OkPacket{0, 0, 0x4000, 0, "", {}, 0x00}},
      {"fe_terminator_more_results", capture_payload("pymysql_deprecate_eof.hex", 9), kPyEofCaps, "",
       OkPacket{0, 0, status::kMoreResultsExists, 0, "", {}, 0xFE}},
      {"fe_terminator_last", capture_payload("pymysql_deprecate_eof.hex", 13), kPyEofCaps, "",
       OkPacket{0, 0, 0, 0, "", {}, 0xFE}},
      // Hand-assembled: pre-4.1 layout (TRANSACTIONS only: no warnings), 3-byte lenencs.
      {"pre41_big_counts", from_hex("00 fc0001 fd000001 0200 026869"), kPre41Caps, "",
       OkPacket{0x100, 0x10000, 2, 0, "hi", {}, 0x00}},
  };
}

class OkTest : public ::testing::TestWithParam<OkCase> {
 protected:
  OkPacket expected() {
    state_ = from_hex(GetParam().state_hex);
    OkPacket ok = GetParam().expected;
    ok.session_state_info = test::as_string_view(state_);
    return ok;
  }
  std::vector<uint8_t> state_;
};

TEST_P(OkTest, Decodes) {
  const auto& c = GetParam();
  EXPECT_TRUE(is_ok_packet(c.payload, c.caps));
  EXPECT_FALSE(is_err_packet(c.payload, c.caps));
  EXPECT_FALSE(is_eof_packet(c.payload, c.caps));
  auto ok = decode_ok(c.payload, c.caps);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(*ok, expected());
}

TEST_P(OkTest, EncodesToTheSameBytes) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_ok(expected(), GetParam().caps, w);
  EXPECT_EQ(test::to_hex(out), test::to_hex(GetParam().payload));
}

TEST_P(OkTest, CutsNeverCrash) {
  const auto& c = GetParam();
  for (size_t n = 0; n < c.payload.size(); ++n) {
    auto ok = decode_ok(std::span(c.payload).first(n), c.caps);
    if (!ok) {
      EXPECT_EQ(ok.error(), ProtoErr::malformed) << "cut at " << n;
    }
  }
  // The fixed part is mandatory.
  EXPECT_FALSE(decode_ok(std::span(c.payload).first(2), c.caps));
}

INSTANTIATE_TEST_SUITE_P(Captured, OkTest, ::testing::ValuesIn(ok_cases()), test::CaseName());

TEST(OkPacket, RawInfoWithoutLenencPrefixStillDecodes) {
  // A server that follows the spec text literally (str<EOF>): "ok" is not a valid lenenc
  // string filling the rest, so it is taken raw.
  const auto p = from_hex("00 00 00 0200 0000 6f6b");
  auto ok = decode_ok(p, kPyCaps);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->info, "ok");
}

TEST(OkPacket, SessionStateFlagWithoutStateIsMalformed) {
  const auto p = from_hex("00 00 00 0040 0000 00");  // 0x4000 set, state block missing
  EXPECT_EQ(decode_ok(p, kCliCaps).error(), ProtoErr::malformed);
}

TEST(OkPacket, ShapeRules) {
  const auto fe_ok = from_hex("fe 00 00 0200 0000");
  EXPECT_TRUE(is_ok_packet(fe_ok, cap::kDeprecateEof));
  EXPECT_FALSE(is_ok_packet(fe_ok, 0));  // without DEPRECATE_EOF FE is an EOF...
  EXPECT_TRUE(is_eof_packet(from_hex("fe 0000 0200"), 0));
  EXPECT_FALSE(is_eof_packet(from_hex("fe 0000 0200"), cap::kDeprecateEof));  // ...not here
  EXPECT_FALSE(is_ok_packet(from_hex("00 00 00 0200 00"), 0));                // 6 bytes: too short
  EXPECT_FALSE(is_eof_packet(from_hex("fe 000000000000000000"), 0));          // 9+ bytes: a row
  EXPECT_FALSE(decode_ok(from_hex("01 00 00 0200 0000"), 0));                 // wrong header
}

// A login's OK as the server writes it, from what camproxy knows of the session.
std::vector<uint8_t> login_ok(uint16_t status_flags, std::optional<std::string_view> schema, uint32_t caps) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_login_ok(status_flags, schema, caps, w);
  return out;
}

TEST(LoginOk, WithSessionTrackAndADatabaseIsTheServersSchemaTracker) {
  // The mariadb CLI named appdb: 0x4002 and one SCHEMA entry, byte for byte.
  EXPECT_EQ(login_ok(status::kAutocommit, "appdb", kCliCaps), capture_payload("mariadb_cli_login.hex", 2));
}

TEST(LoginOk, WithoutSessionTrackCarriesNoStateEvenWithADatabase) {
  // PyMySQL named appdb too, without SESSION_TRACK.
  EXPECT_EQ(login_ok(status::kAutocommit, "appdb", kPyCaps), capture_payload("pymysql_login.hex", 2));
}

TEST(LoginOk, WithoutADatabaseHasNoSessionStateChanged) {
  // A fix-up's OK said SESSION_STATE_CHANGED (SET NAMES) and NO_INDEX_USED: neither is the login's.
  const uint16_t fix_up_status = status::kSessionStateChanged | status::kNoIndexUsed | status::kAutocommit;
  EXPECT_EQ(login_ok(fix_up_status, std::nullopt, kCliCaps), from_hex("00 00 00 0200 0000"));
  EXPECT_EQ(login_ok(fix_up_status, "", kCliCaps), from_hex("00 00 00 0200 0000"));
}

TEST(LoginOk, KeepsTheSessionsOwnFlags) {
  // MariaDB 10.11 after SET sql_mode='NO_BACKSLASH_ESCAPES,ANSI_QUOTES' reports 0x8202.
  EXPECT_EQ(login_ok(0x8202 | status::kMoreResultsExists, std::nullopt, kPyCaps), from_hex("00 00 00 0282 0000"));
}

TEST(LoginOk, ALongSchemaNameHasTwoByteLengths) {
  const std::string schema(300, 's');
  const auto payload = login_ok(status::kAutocommit, schema, kCliCaps);
  auto ok = decode_ok(payload, kCliCaps);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status_flags, status::kAutocommit | status::kSessionStateChanged);
  // type 01, data length 0x12f (302: the schema's 3-byte lenenc and 300 bytes), schema length 0x12c.
  ASSERT_EQ(ok->session_state_info.size(), 1 + 3 + 3 + 300);
  EXPECT_EQ(ok->session_state_info.substr(0, 7), std::string_view("\x01\xfc\x2f\x01\xfc\x2c\x01", 7));
  EXPECT_EQ(ok->session_state_info.substr(7), schema);
}

struct ErrCase {
  const char* name;
  std::vector<uint8_t> payload;
  uint32_t caps;
  ErrPacket expected;
};

std::vector<ErrCase> err_cases() {
  return {
      {"access_denied", capture_payload("mariadb_cli_bad_password.hex", 2), kCliCaps,
       ErrPacket{kErAccessDenied, "28000", "Access denied for user 'camtest'@'127.0.0.1' (using password: YES)"}},
      // Before the client's caps are known there is no '#state' (spec §4.1); hand-assembled.
      {"pre41_too_many_connections", from_hex("ff 1004 546f6f206d616e7920636f6e6e656374696f6e73"), 0,
       ErrPacket{kErConCount, "", "Too many connections"}},
      // Hand-assembled: 1251 in the old format, as the proxy sends it to a 320 client.
      {"pre41_auth_mode", from_hex("ff e304 436c69656e74"), 0, ErrPacket{kErNotSupportedAuthMode, "", "Client"}},
  };
}

class ErrTest : public ::testing::TestWithParam<ErrCase> {};

TEST_P(ErrTest, BothWays) {
  const auto& c = GetParam();
  EXPECT_TRUE(is_err_packet(c.payload, c.caps));
  EXPECT_FALSE(is_ok_packet(c.payload, c.caps));
  auto err = decode_err(c.payload, c.caps);
  ASSERT_TRUE(err) << err.error().message();
  EXPECT_EQ(*err, c.expected);
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_err(c.expected, c.caps, w);
  EXPECT_EQ(out, c.payload);
}

TEST_P(ErrTest, CutsFailOrShortenTheMessage) {
  const auto& c = GetParam();
  for (size_t n = 0; n < c.payload.size(); ++n) {
    auto err = decode_err(std::span(c.payload).first(n), c.caps);
    if (!err) {
      EXPECT_EQ(err.error(), ProtoErr::malformed) << "cut at " << n;
    } else {
      EXPECT_TRUE(c.expected.message.starts_with(err->message)) << "cut at " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Captured, ErrTest, ::testing::ValuesIn(err_cases()), test::CaseName());

TEST(ErrPacket, EncodeRules) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_err({kErAccessDenied, "28000", "x"}, 0, w);  // no PROTOCOL_41: no '#state'
  EXPECT_EQ(out, from_hex("ff 1504 78"));
  out.clear();
  encode_err({kErUnknownCom, "bad", "x"}, cap::kProtocol41, w);  // not 5 chars: HY000
  EXPECT_EQ(out, from_hex("ff 1704 23 4859303030 78"));
}

TEST(ErrPacket, BadBytes) {
  EXPECT_EQ(decode_err(from_hex("ff 15"), kCliCaps).error(), ProtoErr::malformed);
  EXPECT_EQ(decode_err(from_hex("ff 1504 23 3238"), kCliCaps).error(), ProtoErr::malformed);
  EXPECT_EQ(decode_err(from_hex("00 1504"), kCliCaps).error(), ProtoErr::malformed);
  // MariaDB progress report (code 0xFFFF), never negotiated by us.
  EXPECT_EQ(decode_err(from_hex("ff ffff 01 01 02 000000"), kCliCaps).error(), ProtoErr::unsupported);
  EXPECT_FALSE(is_err_packet(from_hex("ff 15"), kCliCaps));
}

TEST(EofPacket, Captured) {
  const auto p = capture_payload("mariadb_cli_login.hex", 6);
  EXPECT_TRUE(is_eof_packet(p, kCliCaps));
  EXPECT_FALSE(is_ok_packet(p, kCliCaps));
  auto eof = decode_eof(p);
  ASSERT_TRUE(eof);
  EXPECT_EQ(*eof, (EofPacket{0, status::kAutocommit}));
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_eof(*eof, w);
  EXPECT_EQ(out, p);
  for (size_t n = 0; n < p.size(); ++n) {
    EXPECT_EQ(decode_eof(std::span(p).first(n)).error(), ProtoErr::malformed);
  }
  EXPECT_EQ(decode_eof(from_hex("fe 0000 0200 00")).error(), ProtoErr::malformed);
}

}  // namespace
}  // namespace camproxy::protocol
