#include "protocol/packet.h"

#include <algorithm>

namespace camproxy::protocol {

FrameHeader read_frame_header(const uint8_t* p) noexcept {
  const uint32_t len = uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16);
  return {len, p[3]};
}

void write_frame_header(uint8_t* p, uint32_t len, uint8_t seq) noexcept {
  p[0] = static_cast<uint8_t>(len);
  p[1] = static_cast<uint8_t>(len >> 8);
  p[2] = static_cast<uint8_t>(len >> 16);
  p[3] = seq;
}

Result<DecodedPacket> decode_packet(std::span<const uint8_t> in, size_t max_payload, std::vector<uint8_t>& scratch) {
  if (in.size() < kHeaderSize) return fail(ProtoErr::need_more);
  const FrameHeader first = read_frame_header(in.data());
  if (first.payload_len > max_payload) return fail(ProtoErr::too_large);

  if (first.payload_len < kMaxFramePayload) {  // the common case: one frame, no copy
    const size_t end = kHeaderSize + first.payload_len;
    if (in.size() < end) return fail(ProtoErr::need_more);
    return DecodedPacket{{first.seq_id, in.subspan(kHeaderSize, first.payload_len), first.seq_id}, end};
  }

  // Walk the frame headers first: every limit is checked before any body is needed.
  size_t offset = 0;
  size_t total = 0;
  uint8_t seq = first.seq_id;
  for (;;) {
    if (in.size() - offset < kHeaderSize) return fail(ProtoErr::need_more);
    const FrameHeader h = read_frame_header(in.data() + offset);
    if (offset != 0 && h.seq_id != static_cast<uint8_t>(seq + 1)) {
      return fail(ProtoErr::malformed);
    }
    seq = h.seq_id;
    total += h.payload_len;
    if (total > max_payload) return fail(ProtoErr::too_large);
    if (in.size() - offset - kHeaderSize < h.payload_len) return fail(ProtoErr::need_more);
    offset += kHeaderSize + h.payload_len;
    if (h.payload_len < kMaxFramePayload) break;
  }

  scratch.clear();
  scratch.reserve(total);
  for (size_t pos = 0; pos < offset;) {
    const FrameHeader h = read_frame_header(in.data() + pos);
    const auto body = in.subspan(pos + kHeaderSize, h.payload_len);
    scratch.insert(scratch.end(), body.begin(), body.end());
    pos += kHeaderSize + h.payload_len;
  }
  return DecodedPacket{{first.seq_id, std::span<const uint8_t>(scratch), seq}, offset};
}

uint8_t encode_packet(std::span<const uint8_t> payload, uint8_t seq, std::vector<uint8_t>& out) {
  const size_t frames = payload.size() / kMaxFramePayload + 1;
  out.reserve(out.size() + payload.size() + frames * kHeaderSize);
  size_t chunk = 0;
  do {
    chunk = std::min<size_t>(payload.size(), kMaxFramePayload);
    const size_t at = out.size();
    out.resize(at + kHeaderSize);
    write_frame_header(out.data() + at, static_cast<uint32_t>(chunk), seq++);
    out.insert(out.end(), payload.begin(), payload.begin() + static_cast<ptrdiff_t>(chunk));
    payload = payload.subspan(chunk);
  } while (chunk == kMaxFramePayload);  // a full frame always needs a successor
  return seq;
}

size_t begin_packet(std::vector<uint8_t>& out) {
  const size_t start = out.size();
  out.resize(start + kHeaderSize);
  return start;
}

uint8_t end_packet(std::vector<uint8_t>& out, size_t start, uint8_t seq) {
  const size_t len = out.size() - start - kHeaderSize;
  if (len < kMaxFramePayload) {
    write_frame_header(out.data() + start, static_cast<uint32_t>(len), seq);
    return static_cast<uint8_t>(seq + 1);
  }
  // Rare: the payload needs several frames; move it aside and frame it properly.
  std::vector<uint8_t> payload(out.begin() + static_cast<ptrdiff_t>(start + kHeaderSize), out.end());
  out.resize(start);
  return encode_packet(payload, seq, out);
}

}  // namespace camproxy::protocol
