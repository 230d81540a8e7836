// Test-side encoders for the auth fuzz targets: the inverse of the token decoder
// (spec/tencentcloud-cam.md §4), written from the spec with OpenSSL directly, so that a fuzzed
// plaintext reaches the protobuf reader through the whole decode path. Never linked into
// camproxy itself.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/token_codec.h"

namespace camproxy::fuzz {

enum class TokenAlphabet { url_safe_unpadded, standard_padded };

// §4.1: lowercase sha256hex(plaintext) || base64(AES-256-CBC(PKCS#7(plaintext))) with key and IV
// cut from sha256hex(instance_region_user) (§4.2).
std::string make_token(std::string_view instance_id, std::string_view region, std::string_view user_name,
                       std::span<const uint8_t> plaintext, TokenAlphabet alphabet);

// §4.4: every field that differs from its proto3 default, in field-number order.
std::vector<uint8_t> encode_auth_token_info(const auth::AuthTokenInfo& info);

bool same_token_info(const auth::AuthTokenInfo& a, const auth::AuthTokenInfo& b);

}  // namespace camproxy::fuzz
