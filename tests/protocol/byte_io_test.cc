// Wire primitives (spec/mysql-protocol.md preamble).
#include "protocol/byte_io.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace camproxy::protocol {
namespace {

using test::PrintTo;

using test::from_hex;

struct LenencCase {
  uint64_t value;
  const char* bytes;
};

class LenencTest : public ::testing::TestWithParam<LenencCase> {};

TEST_P(LenencTest, BothWays) {
  const auto& c = GetParam();
  const auto bytes = from_hex(c.bytes);
  ByteReader r(bytes);
  auto v = r.lenenc();
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, c.value);
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(lenenc_size(c.value), bytes.size());

  std::vector<uint8_t> out;
  ByteWriter w(out);
  w.lenenc(c.value);
  EXPECT_EQ(out, bytes);
}

INSTANTIATE_TEST_SUITE_P(Values, LenencTest,
                         ::testing::Values(LenencCase{0, "00"}, LenencCase{250, "fa"}, LenencCase{251, "fc fb 00"},
                                           LenencCase{0xFFFF, "fc ff ff"}, LenencCase{0x10000, "fd 00 00 01"},
                                           LenencCase{0xFFFFFF, "fd ff ff ff"},
                                           LenencCase{0x1000000, "fe 00 00 00 01 00 00 00 00"},
                                           LenencCase{0xFFFFFFFFFFFFFFFFull, "fe ff ff ff ff ff ff ff ff"}));

struct BadLenencCase {
  const char* name;
  const char* bytes;
};

class BadLenencTest : public ::testing::TestWithParam<BadLenencCase> {};

TEST_P(BadLenencTest, MalformedAndNothingConsumed) {
  const auto bytes = from_hex(GetParam().bytes);
  ByteReader r(bytes);
  auto v = r.lenenc();
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error(), ProtoErr::malformed);
  EXPECT_EQ(r.position(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Bad, BadLenencTest,
                         ::testing::Values(BadLenencCase{"empty", ""}, BadLenencCase{"null_marker", "fb"},
                                           BadLenencCase{"ff_prefix", "ff"}, BadLenencCase{"short_fc", "fc 01"},
                                           BadLenencCase{"short_fd", "fd 01 02"},
                                           BadLenencCase{"short_fe", "fe 01 02 03 04 05 06 07"}),
                         test::CaseName());

TEST(ByteReader, FixedIntsLittleEndian) {
  const auto bytes = from_hex("01 0201 050403 09080706 100f0e0d0c0b0a09");
  ByteReader r(bytes);
  EXPECT_EQ(*r.u8(), 0x01);
  EXPECT_EQ(*r.u16(), 0x0102);
  EXPECT_EQ(*r.u24(), 0x030405u);
  EXPECT_EQ(*r.u32(), 0x06070809u);
  EXPECT_EQ(*r.u64(), 0x090a0b0c0d0e0f10ull);
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.u8().error(), ProtoErr::malformed);
}

TEST(ByteReader, ShortReadsFailWithoutMoving) {
  const auto bytes = from_hex("01 02 03");
  ByteReader r(bytes);
  EXPECT_EQ(r.u32().error(), ProtoErr::malformed);
  EXPECT_EQ(r.bytes(4).error(), ProtoErr::malformed);
  EXPECT_FALSE(r.skip(4));
  EXPECT_EQ(r.position(), 0u);
  EXPECT_EQ(*r.u24(), 0x030201u);
}

TEST(ByteReader, Strings) {
  const auto bytes = from_hex("61 62 00  03 78 79 7a  00  6e 6f 6e 75 6c");
  ByteReader r(bytes);
  EXPECT_EQ(*r.str_nul(), "ab");
  EXPECT_EQ(*r.str_lenenc(), "xyz");
  EXPECT_EQ(*r.str_nul(), "");
  EXPECT_EQ(r.str_nul().error(), ProtoErr::malformed);  // no NUL left
  EXPECT_EQ(r.rest_str(), "nonul");
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.str_nul().error(), ProtoErr::malformed);
}

TEST(ByteReader, LenencStringLongerThanInputFails) {
  const auto bytes = from_hex("05 61 62");
  ByteReader r(bytes);
  EXPECT_EQ(r.str_lenenc().error(), ProtoErr::malformed);
  EXPECT_EQ(r.position(), 0u);
}

TEST(ByteReader, Peek) {
  const auto bytes = from_hex("7f");
  ByteReader r(bytes);
  uint8_t b = 0;
  ASSERT_TRUE(r.peek(b));
  EXPECT_EQ(b, 0x7f);
  EXPECT_EQ(r.position(), 0u);
  r.rest();
  EXPECT_FALSE(r.peek(b));
}

TEST(ByteWriter, AppendsToCallerBuffer) {
  std::vector<uint8_t> out = from_hex("ee");
  out.reserve(64);
  const auto* before = out.data();
  ByteWriter w(out);
  w.u8(1);
  w.u16(0x0302);
  w.u24(0x060504);
  w.u32(0x0a090807);
  w.u64(0x1211100f0e0d0c0bull);
  w.zeros(2);
  w.str_nul("ab");
  w.str_lenenc(std::string_view("xyz"));
  EXPECT_EQ(out, from_hex("ee 01 0203 040506 0708090a 0b0c0d0e0f101112 0000 616200 0378797a"));
  EXPECT_EQ(out.data(), before);  // no reallocation within capacity
}

}  // namespace
}  // namespace camproxy::protocol
