#include "auth/utf8.h"

#include <cstddef>
#include <cstdint>

namespace camproxy::auth {

bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<std::uint8_t>(s[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((lead & 0xe0) == 0xc0) {
      len = 2, cp = lead & 0x1fu, min = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      len = 3, cp = lead & 0x0fu, min = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      len = 4, cp = lead & 0x07u, min = 0x10000;
    } else {
      return false;  // continuation byte or 0xf8..0xff as a lead byte
    }
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cont = static_cast<std::uint8_t>(s[i + k]);
      if ((cont & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cont & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

bool is_printable_ascii(std::string_view s) noexcept {
  for (const char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace camproxy::auth
