// The operator's fallback password file (--fallback-password-file): what logins use
// when the CAM token has expired and CAM cannot be reached (spec/tencentcloud-cam.md §5).
#pragma once

#include <cstddef>
#include <string>

#include "auth/result.h"
#include "auth/secret.h"

namespace camproxy::auth {

// spec/tencentcloud-cam.md §5: the SDKs' MaxPasswordSize.
inline constexpr std::size_t kMaxFallbackPasswordBytes = 200;

// Reads the password under the SDK rules of spec §5, made strict (a file the SDKs
// would ignore is an error here, so the operator hears about it at start-up):
//  - a regular file (AuthErr::fallback_not_regular), not readable by others
//    (fallback_world_readable: mode & 0004), at most 200 bytes (fallback_too_large);
//  - exactly one line: a trailing "\n", "\r\n" or "\r" is dropped; any other CR or LF
//    is fallback_multiple_lines (Java splits at CR too);
//  - the line is not empty (fallback_empty; the Java and Python SDKs ignore it) and
//    has no NUL byte (fallback_nul_byte: the clear-text plugin ends at NUL);
//  - cannot open or read: fallback_unreadable.
// The bytes are otherwise taken as they are (no trimming). Errors never quote content.
Result<SecretString> read_fallback_password(const std::string& path);

}  // namespace camproxy::auth
