// Fuzz target: packet framing (spec/mysql-protocol.md §1) over a byte stream from either peer.
// Input: int<2> max_payload (little-endian; 0xFFFF stands for 64 MiB, to reach the multi-frame
// header walk), then the stream. Packets are decoded from the front until one does not decode.
//
// Properties: a decoded packet lies inside the stream and within max_payload; it re-encodes
// (encode_packet, and begin_packet/end_packet) to exactly the bytes it came from; every proper
// prefix of a packet is need_more; the only errors are need_more, too_large and malformed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/byte_io.h"
#include "protocol/packet.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using namespace camproxy::protocol;

constexpr uint16_t kLargeLimitMarker = 0xFFFF;
constexpr size_t kLargeLimit = size_t{64} << 20;

// A multi-frame packet needs over 16 MiB of input, beyond a fuzzer's inputs: every packet that
// decodes here is one frame, whose encoding is unique.
void check_packet(const DecodedPacket& d, std::span<const uint8_t> in, size_t max_payload) {
  const Packet& pkt = d.packet;
  CAMPROXY_FUZZ_CHECK(d.consumed >= kHeaderSize && d.consumed <= in.size());
  CAMPROXY_FUZZ_CHECK(pkt.payload.size() <= max_payload);
  CAMPROXY_FUZZ_CHECK(d.consumed == kHeaderSize + pkt.payload.size());
  CAMPROXY_FUZZ_CHECK(pkt.last_seq_id == pkt.seq_id);
  const auto original = in.first(d.consumed);

  std::vector<uint8_t> out;
  const uint8_t next = encode_packet(pkt.payload, pkt.seq_id, out);
  CAMPROXY_FUZZ_CHECK(next == static_cast<uint8_t>(pkt.last_seq_id + 1));
  CAMPROXY_FUZZ_CHECK(std::equal(out.begin(), out.end(), original.begin(), original.end()));

  out.clear();
  const size_t start = begin_packet(out);
  ByteWriter w(out);
  w.bytes(pkt.payload);
  CAMPROXY_FUZZ_CHECK(end_packet(out, start, pkt.seq_id) == next);
  CAMPROXY_FUZZ_CHECK(std::equal(out.begin(), out.end(), original.begin(), original.end()));

  // A reader that has not received the whole packet yet must wait, not misread.
  std::vector<uint8_t> scratch;
  const auto cut = exact_copy(original.first(original.size() - 1));
  const auto partial = decode_packet(cut, max_payload, scratch);
  CAMPROXY_FUZZ_CHECK(!partial.has_value() && partial.error() == ProtoErr::need_more);
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  using camproxy::protocol::ProtoErr;
  InputSplitter in(data, size);
  const uint16_t limit = in.take_u16();
  const size_t max_payload = limit == kLargeLimitMarker ? kLargeLimit : limit;
  std::span<const uint8_t> stream = in.rest();
  std::vector<uint8_t> scratch;
  for (;;) {
    const auto decoded = camproxy::protocol::decode_packet(stream, max_payload, scratch);
    if (!decoded) {
      const std::error_code e = decoded.error();
      CAMPROXY_FUZZ_CHECK(e == ProtoErr::need_more || e == ProtoErr::too_large || e == ProtoErr::malformed);
      break;
    }
    check_packet(*decoded, stream, max_payload);
    stream = stream.subspan(decoded->consumed);
  }
  return 0;
}
