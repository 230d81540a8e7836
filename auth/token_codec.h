// CAM token decoding (spec/tencentcloud-cam.md §4): hash prefix, base64, AES-256-CBC,
// PKCS#7, integrity check, 4-byte prefix, protobuf AuthTokenInfo.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "auth/result.h"
#include "auth/secret.h"

namespace camproxy::auth {

// Why a token was rejected, in the order the checks run (§4.3).
enum class TokenErr {
  empty_input = 1,      // instance id, region, user name or token empty
  too_short,            // shorter than the 64-char hash prefix
  base64,               // character outside the alphabets, or length 1 mod 4
  block_size,           // ciphertext not a positive multiple of 16 bytes
  padding,              // bad PKCS#7 padding (usually: token for another instance/region/user)
  hash_mismatch,        // sha256hex(plaintext) != the hash prefix
  plaintext_too_short,  // no room for the 4-byte prefix
  protobuf,             // malformed AuthTokenInfo
  empty_password,       // AuthTokenInfo.password (field 8) empty or absent
};

const std::error_category& token_category() noexcept;

inline std::error_code make_error_code(TokenErr e) noexcept { return {static_cast<int>(e), token_category()}; }

// §4.4 AuthTokenInfo (proto3). Only `password` matters for logging in.
struct AuthTokenInfo {
  std::uint64_t app_id = 0;       // 1
  std::uint64_t uin = 0;          // 2
  std::uint64_t owner_uin = 0;    // 3
  std::string req_id;             // 4
  std::string instance_id;        // 5
  std::string region;             // 6
  std::string username;           // 7
  SecretString password;          // 8
  std::uint64_t create_time = 0;  // 9
  std::string extra_info;         // 10
  std::uint32_t token_type = 0;   // 11 (low 32 bits kept)
  std::uint32_t rand_num = 0;     // 12 (low 32 bits kept)
};

// Parses the protobuf message (the plaintext after its 4-byte prefix). Fails only
// with TokenErr::protobuf; an absent password is left empty.
Result<AuthTokenInfo> parse_auth_token_info(std::span<const std::uint8_t> message);

// Decodes `token` as returned in Credentials.Token for the given ResourceId,
// ResourceRegion and ResourceAccount (exact, case-sensitive).
Result<AuthTokenInfo> decode_auth_token(std::string_view instance_id, std::string_view region,
                                        std::string_view user_name, std::string_view token);

}  // namespace camproxy::auth

template <>
struct std::is_error_code_enum<camproxy::auth::TokenErr> : std::true_type {};
