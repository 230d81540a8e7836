// Framing (spec/mysql-protocol.md §1).
#include "protocol/packet.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace camproxy::protocol {
namespace {

using test::PrintTo;

using test::from_hex;

constexpr size_t kNoLimit = 64u << 20;

TEST(FrameHeader, ReadWrite) {
  const auto bytes = from_hex("fe ff ff 07");
  EXPECT_EQ(read_frame_header(bytes.data()), (FrameHeader{0xFFFFFE, 7}));
  std::array<uint8_t, 4> out{};
  write_frame_header(out.data(), 0xFFFFFE, 7);
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.end()), bytes);
}

// The frames a payload of `size` bytes must become: {frame payload length, seq}.
struct FramingCase {
  const char* name;
  size_t size;
  std::vector<uint32_t> frame_lengths;
};

class FramingTest : public ::testing::TestWithParam<FramingCase> {};

TEST_P(FramingTest, EncodeThenDecode) {
  const auto& c = GetParam();
  std::vector<uint8_t> payload(c.size);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7 + i / 251);

  std::vector<uint8_t> wire;
  const uint8_t seq0 = 254;  // also checks the 255 -> 0 wrap
  const uint8_t next = encode_packet(payload, seq0, wire);
  EXPECT_EQ(next, static_cast<uint8_t>(seq0 + c.frame_lengths.size()));

  // Walk the frames by hand: lengths, seq ids, and bytes in order.
  size_t pos = 0;
  size_t body = 0;
  for (size_t i = 0; i < c.frame_lengths.size(); ++i) {
    ASSERT_LE(pos + kHeaderSize, wire.size());
    const FrameHeader h = read_frame_header(wire.data() + pos);
    EXPECT_EQ(h.payload_len, c.frame_lengths[i]) << "frame " << i;
    EXPECT_EQ(h.seq_id, static_cast<uint8_t>(seq0 + i)) << "frame " << i;
    ASSERT_TRUE(std::equal(wire.begin() + static_cast<ptrdiff_t>(pos + kHeaderSize),
                           wire.begin() + static_cast<ptrdiff_t>(pos + kHeaderSize + h.payload_len),
                           payload.begin() + static_cast<ptrdiff_t>(body)));
    pos += kHeaderSize + h.payload_len;
    body += h.payload_len;
  }
  EXPECT_EQ(pos, wire.size());

  std::vector<uint8_t> scratch;
  auto decoded = decode_packet(wire, c.size, scratch);
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(decoded->consumed, wire.size());
  EXPECT_EQ(decoded->packet.seq_id, seq0);
  EXPECT_EQ(decoded->packet.last_seq_id, static_cast<uint8_t>(next - 1));
  ASSERT_EQ(decoded->packet.payload.size(), payload.size());
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), decoded->packet.payload.begin()));
  if (c.frame_lengths.size() == 1) {  // single frame: a view into the input, no copy
    EXPECT_EQ(decoded->packet.payload.data(), wire.data() + kHeaderSize);
  } else {
    EXPECT_EQ(decoded->packet.payload.data(), scratch.data());
  }

  // One byte less than the whole packet is never enough.
  auto short_by_one = decode_packet(std::span(wire).first(wire.size() - 1), kNoLimit, scratch);
  EXPECT_EQ(short_by_one.error(), ProtoErr::need_more);
  // A limit one below the payload size is too_large.
  if (c.size > 0) {
    EXPECT_EQ(decode_packet(wire, c.size - 1, scratch).error(), ProtoErr::too_large);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, FramingTest,
                         ::testing::Values(FramingCase{"empty", 0, {0}}, FramingCase{"one", 1, {1}},
                                           FramingCase{"max_minus_one", 0xFFFFFE, {0xFFFFFE}},
                                           FramingCase{"exactly_max", 0xFFFFFF, {0xFFFFFF, 0}},
                                           FramingCase{"max_plus_one", 0x1000000, {0xFFFFFF, 1}},
                                           FramingCase{"twice_max", 2 * 0xFFFFFF, {0xFFFFFF, 0xFFFFFF, 0}}),
                         test::CaseName());

TEST(DecodePacket, SingleFrameWithTrailingBytes) {
  const auto wire = from_hex("01 00 00 00 0e  05 00 00 00 03 73 65 6c");
  std::vector<uint8_t> scratch;
  auto d = decode_packet(wire, kNoLimit, scratch);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->consumed, 5u);
  EXPECT_EQ(d->packet.seq_id, 0);
  EXPECT_EQ(std::vector<uint8_t>(d->packet.payload.begin(), d->packet.payload.end()), from_hex("0e"));
  EXPECT_TRUE(scratch.empty());
}

TEST(DecodePacket, NeedMoreForEveryPrefix) {
  const auto wire = from_hex("05 00 00 03 fe 00 00 02 00");
  std::vector<uint8_t> scratch;
  for (size_t n = 0; n < wire.size(); ++n) {
    auto d = decode_packet(std::span(wire).first(n), kNoLimit, scratch);
    ASSERT_FALSE(d) << n;
    EXPECT_EQ(d.error(), ProtoErr::need_more) << n;
  }
  EXPECT_TRUE(decode_packet(wire, kNoLimit, scratch));
}

// too_large must come from the headers alone: a peer announcing 16 MiB gets refused after
// 4 bytes, and a multi-frame packet after the header that crosses the limit.
TEST(DecodePacket, TooLargeFromHeadersAlone) {
  std::vector<uint8_t> scratch;
  const auto big_single = from_hex("00 00 10 00");  // 1 MiB announced, no body yet
  EXPECT_EQ(decode_packet(big_single, 1024, scratch).error(), ProtoErr::too_large);
  const auto first_of_many = from_hex("ff ff ff 00");
  EXPECT_EQ(decode_packet(first_of_many, 1024, scratch).error(), ProtoErr::too_large);

  // Limit 0xFFFFFF + 10: first frame fits, the second header (20 more bytes) crosses it; the
  // second header is looked at only after the first body arrived.
  std::vector<uint8_t> wire(kHeaderSize + 0xFFFFFF);
  write_frame_header(wire.data(), 0xFFFFFF, 0);
  EXPECT_EQ(decode_packet(wire, 0xFFFFFF + 10, scratch).error(), ProtoErr::need_more);
  const size_t at = wire.size();
  wire.resize(at + kHeaderSize);
  write_frame_header(wire.data() + at, 20, 1);
  EXPECT_EQ(decode_packet(wire, 0xFFFFFF + 10, scratch).error(), ProtoErr::too_large);
  EXPECT_EQ(decode_packet(wire, 0xFFFFFF + 20, scratch).error(), ProtoErr::need_more);
}

TEST(DecodePacket, ContinuationWithWrongSeqIsMalformed) {
  std::vector<uint8_t> wire(kHeaderSize + 0xFFFFFF + kHeaderSize);
  write_frame_header(wire.data(), 0xFFFFFF, 3);
  write_frame_header(wire.data() + kHeaderSize + 0xFFFFFF, 0, 5);  // should be 4
  std::vector<uint8_t> scratch;
  EXPECT_EQ(decode_packet(wire, kNoLimit, scratch).error(), ProtoErr::malformed);
}

// Each direction of every captured session, cut at every byte: the packets decoded from the
// prefix are exactly the captured frames, in order, and the rest asks for more.
TEST(DecodePacket, CapturedStreamsSplitAtEveryByte) {
  for (const char* name : {"mariadb_cli_login.hex", "mariadb_cli_auth_switch.hex", "mariadb_cli_bad_password.hex",
                           "pymysql_login.hex", "pymysql_deprecate_eof.hex", "mysql2_login.hex"}) {
    const auto frames = test::load_capture(name);
    for (bool from_client : {true, false}) {
      std::vector<uint8_t> stream;
      std::vector<std::vector<uint8_t>> payloads;
      for (const auto& f : frames) {
        if (f.from_client != from_client) continue;
        stream.insert(stream.end(), f.frame.begin(), f.frame.end());
        payloads.emplace_back(f.payload().begin(), f.payload().end());
      }
      std::vector<uint8_t> scratch;
      for (size_t cut = 0; cut <= stream.size(); ++cut) {
        std::span<const uint8_t> rest = std::span(stream).first(cut);
        size_t index = 0;
        for (;;) {
          auto d = decode_packet(rest, kNoLimit, scratch);
          if (!d) {
            ASSERT_EQ(d.error(), ProtoErr::need_more) << name << " cut " << cut;
            break;
          }
          ASSERT_LT(index, payloads.size());
          ASSERT_TRUE(std::ranges::equal(d->packet.payload, payloads[index]))
              << name << " cut " << cut << " packet " << index;
          ++index;
          rest = rest.subspan(d->consumed);
        }
        if (cut == stream.size()) {
          EXPECT_EQ(index, payloads.size()) << name;
        }
      }
    }
  }
}

TEST(BeginEndPacket, FillsHeaderInPlace) {
  std::vector<uint8_t> out = from_hex("aa");  // existing content stays
  const size_t start = begin_packet(out);
  out.push_back(0x0e);
  EXPECT_EQ(end_packet(out, start, 9), 10);
  EXPECT_EQ(out, from_hex("aa 01 00 00 09 0e"));
}

TEST(BeginEndPacket, ReframesLargePayload) {
  std::vector<uint8_t> out;
  const size_t start = begin_packet(out);
  out.resize(out.size() + 0xFFFFFF, 0x5a);
  EXPECT_EQ(end_packet(out, start, 0), 2);
  ASSERT_EQ(out.size(), 2 * kHeaderSize + 0xFFFFFF);
  EXPECT_EQ(read_frame_header(out.data()), (FrameHeader{0xFFFFFF, 0}));
  EXPECT_EQ(read_frame_header(out.data() + kHeaderSize + 0xFFFFFF), (FrameHeader{0, 1}));
}

}  // namespace
}  // namespace camproxy::protocol
