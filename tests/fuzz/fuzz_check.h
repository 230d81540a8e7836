// Helpers shared by the fuzz targets (docs/fuzzing.md): property checks that fail in both
// builds, and a splitter for the control bytes (capabilities, limits) at the front of an input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

// A property every input must keep. libFuzzer records the input as a crash; the replay binary
// exits non-zero. Not `assert`: it must also hold in NDEBUG builds.
#define CAMPROXY_FUZZ_CHECK(cond)                                           \
  do {                                                                      \
    if (!(cond)) ::camproxy::fuzz::check_failed(#cond, __FILE__, __LINE__); \
  } while (false)

namespace camproxy::fuzz {

[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz property violated: %s\n", file, line, what);
  std::abort();
}

// Takes little-endian control values off the front of the input; bytes missing at the end of a
// short input read as zero, so every input is usable.
class InputSplitter {
 public:
  InputSplitter(const uint8_t* data, size_t size) noexcept : rest_(data, size) {}

  uint8_t take_u8() noexcept { return static_cast<uint8_t>(take(1)); }
  uint16_t take_u16() noexcept { return static_cast<uint16_t>(take(2)); }
  uint32_t take_u32() noexcept { return static_cast<uint32_t>(take(4)); }
  std::span<const uint8_t> rest() const noexcept { return rest_; }

 private:
  uint64_t take(size_t n) noexcept {
    uint64_t v = 0;
    for (size_t i = 0; i < n && !rest_.empty(); ++i) {
      v |= uint64_t{rest_[0]} << (8 * i);
      rest_ = rest_.subspan(1);
    }
    return v;
  }

  std::span<const uint8_t> rest_;
};

// A heap copy whose allocation ends exactly where the bytes do, so that ASan reports a decoder
// reading one byte past a re-encoded buffer (a vector's spare capacity would hide it).
inline std::vector<uint8_t> exact_copy(std::span<const uint8_t> bytes) {
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

}  // namespace camproxy::fuzz
