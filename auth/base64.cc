#include "auth/base64.h"

#include <array>
#include <cstddef>
#include <cstdint>

namespace camproxy::auth {
namespace {

constexpr std::uint8_t kInvalid = 0xff;

constexpr std::array<std::uint8_t, 256> make_table() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<std::uint8_t>(i);
    t['a' + i] = static_cast<std::uint8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<std::uint8_t>(52 + i);
  // §4.3: the SDKs map '-'->'+' and '_'->'/' before a standard decode, so both
  // alphabets are accepted.
  t['+'] = t['-'] = 62;
  t['/'] = t['_'] = 63;
  return t;
}

constexpr auto kTable = make_table();

}  // namespace

std::optional<SecretString> decode_base64_any(std::string_view text) {
  std::size_t pad = 0;
  while (!text.empty() && text.back() == '=') {
    text.remove_suffix(1);
    ++pad;
  }
  if (pad > 2 || text.size() % 4 == 1) return std::nullopt;

  SecretString out = SecretString::zeroed(text.size() / 4 * 3 + 2);
  const auto buf = out.writable();
  std::size_t n = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    const std::uint8_t v = kTable[static_cast<unsigned char>(c)];
    if (v == kInvalid) return std::nullopt;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[n++] = static_cast<std::uint8_t>(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  out.truncate(n);
  return out;
}

}  // namespace camproxy::auth
