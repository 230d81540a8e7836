// Bounds-checked little-endian reader and appending writer for the MySQL wire types
// (spec/mysql-protocol.md preamble: int<n>, lenenc, str<NUL>, str<lenenc>, str<EOF>).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "protocol/result.h"

namespace camproxy::protocol {

// Views between text and bytes (MySQL strings are byte strings).
inline std::span<const uint8_t> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(std::span<const uint8_t> b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Bytes a lenenc integer of value `v` occupies on the wire.
constexpr size_t lenenc_size(uint64_t v) noexcept { return v < 0xFB ? 1 : v <= 0xFFFF ? 3 : v <= 0xFFFFFF ? 4 : 9; }

// Reads from a complete payload. Every read checks the bounds first; a read past the end
// fails with ProtoErr::malformed and leaves the position unchanged. Views returned point
// into the input span.
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> in) noexcept : in_(in) {}

  size_t remaining() const noexcept { return in_.size() - pos_; }
  size_t position() const noexcept { return pos_; }
  bool empty() const noexcept { return pos_ == in_.size(); }
  // Next byte without consuming it; false when at the end.
  bool peek(uint8_t& out) const noexcept;

  Result<uint8_t> u8() noexcept;
  Result<uint16_t> u16() noexcept;
  Result<uint32_t> u24() noexcept;
  Result<uint32_t> u32() noexcept;
  Result<uint64_t> u64() noexcept;
  // Length-encoded integer: < FB one byte, FC+2, FD+3, FE+8. FB (NULL) and FF are malformed.
  Result<uint64_t> lenenc() noexcept;

  Result<std::span<const uint8_t>> bytes(size_t n) noexcept;
  Result<std::string_view> str(size_t n) noexcept;  // fixed length
  Result<std::string_view> str_nul() noexcept;      // up to NUL; consumes the NUL
  Result<std::string_view> str_lenenc() noexcept;
  Result<void> skip(size_t n) noexcept;
  std::span<const uint8_t> rest() noexcept;  // str<EOF>: everything left
  std::string_view rest_str() noexcept { return as_chars(rest()); }

 private:
  Result<uint64_t> fixed(size_t n) noexcept;

  std::span<const uint8_t> in_;
  size_t pos_ = 0;
};

// Appends to a caller-owned vector (reuse it: no allocation when the capacity suffices).
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) noexcept : out_(out) {}

  size_t size() const noexcept { return out_.size(); }
  std::vector<uint8_t>& buffer() noexcept { return out_; }

  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { fixed(v, 2); }
  void u24(uint32_t v) { fixed(v, 3); }
  void u32(uint32_t v) { fixed(v, 4); }
  void u64(uint64_t v) { fixed(v, 8); }
  void lenenc(uint64_t v);
  void zeros(size_t n) { out_.insert(out_.end(), n, uint8_t{0}); }
  void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void bytes(std::string_view s) { bytes(as_bytes(s)); }
  void str_nul(std::string_view s) {
    bytes(s);
    u8(0);
  }
  void str_lenenc(std::string_view s) {
    lenenc(s.size());
    bytes(s);
  }
  void str_lenenc(std::span<const uint8_t> b) {
    lenenc(b.size());
    bytes(b);
  }

 private:
  void fixed(uint64_t v, size_t n);

  std::vector<uint8_t>& out_;
};

}  // namespace camproxy::protocol
