// Text checks: UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF) and the printable-ASCII rule for values that go into HTTP headers.
#pragma once

#include <string_view>

namespace camproxy::auth {

bool is_valid_utf8(std::string_view s) noexcept;

// Every byte in 0x20..0x7e: nothing can end a header line or smuggle a control byte.
bool is_printable_ascii(std::string_view s) noexcept;

}  // namespace camproxy::auth
