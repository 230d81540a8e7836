#include "protocol/byte_io.h"

#include <cstring>

namespace camproxy::protocol {

bool ByteReader::peek(uint8_t& out) const noexcept {
  if (empty()) return false;
  out = in_[pos_];
  return true;
}

Result<uint64_t> ByteReader::fixed(size_t n) noexcept {
  if (remaining() < n) return fail(ProtoErr::malformed);
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{in_[pos_ + i]} << (8 * i);
  pos_ += n;
  return v;
}

Result<uint8_t> ByteReader::u8() noexcept {
  if (empty()) return fail(ProtoErr::malformed);
  return in_[pos_++];
}

Result<uint16_t> ByteReader::u16() noexcept {
  return fixed(2).map([](uint64_t v) { return static_cast<uint16_t>(v); });
}

Result<uint32_t> ByteReader::u24() noexcept {
  return fixed(3).map([](uint64_t v) { return static_cast<uint32_t>(v); });
}

Result<uint32_t> ByteReader::u32() noexcept {
  return fixed(4).map([](uint64_t v) { return static_cast<uint32_t>(v); });
}

Result<uint64_t> ByteReader::u64() noexcept { return fixed(8); }

Result<uint64_t> ByteReader::lenenc() noexcept {
  if (empty()) return fail(ProtoErr::malformed);
  const uint8_t first = in_[pos_];
  size_t width = 0;
  switch (first) {
    case 0xFB:  // NULL marker in text rows, not an integer
    case 0xFF:  // never a lenenc prefix
      return fail(ProtoErr::malformed);
    case 0xFC: width = 2; break;
    case 0xFD: width = 3; break;
    case 0xFE: width = 8; break;
    default: ++pos_; return uint64_t{first};
  }
  if (remaining() < 1 + width) return fail(ProtoErr::malformed);
  ++pos_;
  return fixed(width);
}

Result<std::span<const uint8_t>> ByteReader::bytes(size_t n) noexcept {
  if (remaining() < n) return fail(ProtoErr::malformed);
  auto out = in_.subspan(pos_, n);
  pos_ += n;
  return out;
}

Result<std::string_view> ByteReader::str(size_t n) noexcept {
  return bytes(n).map([](std::span<const uint8_t> b) { return as_chars(b); });
}

Result<std::string_view> ByteReader::str_nul() noexcept {
  if (empty()) return fail(ProtoErr::malformed);
  const auto* start = in_.data() + pos_;
  const auto* nul = static_cast<const uint8_t*>(std::memchr(start, 0, remaining()));
  if (nul == nullptr) return fail(ProtoErr::malformed);
  const auto len = static_cast<size_t>(nul - start);
  pos_ += len + 1;
  return as_chars({start, len});
}

Result<std::string_view> ByteReader::str_lenenc() noexcept {
  const size_t start = pos_;
  auto len = lenenc();
  if (!len) return tl::unexpected(len.error());
  if (*len > remaining()) {
    pos_ = start;
    return fail(ProtoErr::malformed);
  }
  return str(static_cast<size_t>(*len));
}

Result<void> ByteReader::skip(size_t n) noexcept {
  if (remaining() < n) return fail(ProtoErr::malformed);
  pos_ += n;
  return {};
}

std::span<const uint8_t> ByteReader::rest() noexcept {
  auto out = in_.subspan(pos_);
  pos_ = in_.size();
  return out;
}

void ByteWriter::fixed(uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void ByteWriter::lenenc(uint64_t v) {
  if (v < 0xFB) {
    u8(static_cast<uint8_t>(v));
  } else if (v <= 0xFFFF) {
    u8(0xFC);
    fixed(v, 2);
  } else if (v <= 0xFFFFFF) {
    u8(0xFD);
    fixed(v, 3);
  } else {
    u8(0xFE);
    fixed(v, 8);
  }
}

}  // namespace camproxy::protocol
