// The Tencent Cloud credentials profile file (spec/tencentcloud-cam.md §7.2): INI text,
// section [default], keys secret_id and secret_key. Pure parsing, no I/O.
#pragma once

#include <cstddef>
#include <string_view>
#include <tl/expected.hpp>

#include "auth/credentials.h"
#include "auth/result.h"

namespace camproxy::auth {

struct ProfileSyntaxError {
  AuthErr code;          // profile_malformed or profile_key_missing
  std::size_t line = 0;  // 1-based line of a malformed line; 0 otherwise
};

// The Go SDK's parser (§7.2): lines split at LF, CRs removed, lines trimmed; empty
// lines and lines starting with '#' or ';' skipped; "[name]" opens a section;
// "key = value" splits at the first '=', both sides trimmed, no unquoting; the last
// value of a key wins. Keys match case-insensitively (Python's configparser lowers
// them). A leading UTF-8 BOM is skipped. Any other line is profile_malformed. Only
// [default] is used: secret_id and secret_key must both be there and non-empty. No
// session token: no SDK reads one from the profile.
tl::expected<Credential, ProfileSyntaxError> parse_profile(std::string_view text);

}  // namespace camproxy::auth
