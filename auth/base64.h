// Base64 decoding as the CAM token needs it (spec/tencentcloud-cam.md §4.3 step 3).
#pragma once

#include <optional>
#include <string_view>

#include "auth/secret.h"

namespace camproxy::auth {

// The output is a SecretString because the one caller decodes a CAM token, whose
// ciphertext anyone can decrypt (§4.2 [note]) and so is as secret as the password.
// Accepts the standard and the URL-safe alphabet (also mixed), with or without
// trailing '=' padding (at most two). Rejects any other character, '=' anywhere
// but at the end, and a data length of 1 mod 4. Empty input decodes to empty.
std::optional<SecretString> decode_base64_any(std::string_view text);

}  // namespace camproxy::auth
