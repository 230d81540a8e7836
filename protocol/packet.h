// Packet framing (spec/mysql-protocol.md §1): int<3> payload_len, int<1> seq_id, payload.
// A logical packet of L bytes is sent as 0xFFFFFF-byte frames plus one shorter frame; when L
// is a multiple of 0xFFFFFF (including 0xFFFFFF itself) an empty trailing frame is mandatory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/result.h"

namespace camproxy::protocol {

constexpr size_t kHeaderSize = 4;
constexpr uint32_t kMaxFramePayload = 0xFFFFFF;

struct FrameHeader {
  uint32_t payload_len;
  uint8_t seq_id;
  bool operator==(const FrameHeader&) const = default;
};

// `p` must point at kHeaderSize readable bytes.
FrameHeader read_frame_header(const uint8_t* p) noexcept;
// `len` must be <= kMaxFramePayload; `p` must point at kHeaderSize writable bytes.
void write_frame_header(uint8_t* p, uint32_t len, uint8_t seq) noexcept;

struct Packet {
  uint8_t seq_id;                    // of the first frame
  std::span<const uint8_t> payload;  // frames joined
  uint8_t last_seq_id = seq_id;      // of the last frame: the peer's reply continues at +1
};

struct DecodedPacket {
  Packet packet;
  size_t consumed;  // bytes of `in` this packet occupies (headers included)
};

// Decodes a whole logical packet from the front of `in`.
// - need_more: `in` ends before the packet does (call again with more bytes);
// - too_large: the joined payload would exceed `max_payload`, reported from the frame headers
//   alone, before the frame bodies arrive (a peer cannot make us buffer 16 MiB);
// - malformed: a continuation frame's seq_id is not the previous one + 1.
// A single-frame payload points into `in`; a multi-frame payload is joined into `scratch`
// (cleared first) and points there. The views live as long as `in` / `scratch` are unchanged.
Result<DecodedPacket> decode_packet(std::span<const uint8_t> in, size_t max_payload, std::vector<uint8_t>& scratch);

// Appends `payload` framed (any size, adding the empty trailing frame when the size is a
// multiple of 0xFFFFFF) starting at `seq`; returns the seq id the next packet should use.
uint8_t encode_packet(std::span<const uint8_t> payload, uint8_t seq, std::vector<uint8_t>& out);

// Building a packet in place, without a separate payload buffer:
//   size_t start = begin_packet(out);   // reserves a header
//   ByteWriter w(out); encode_ok(ok, caps, w);
//   uint8_t next = end_packet(out, start, seq);
// end_packet() fills the header, or re-frames when the payload reached 0xFFFFFF bytes.
size_t begin_packet(std::vector<uint8_t>& out);
uint8_t end_packet(std::vector<uint8_t>& out, size_t start, uint8_t seq);

}  // namespace camproxy::protocol
