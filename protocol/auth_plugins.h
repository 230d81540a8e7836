// Authentication plugin math (spec/mysql-protocol.md §2.1, §2.6, §3.3). P = password (opaque
// bytes, e.g. the CAM token), N = the 20-byte nonce. Secrets in temporaries are cleansed.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "protocol/result.h"

namespace camproxy::protocol {

inline constexpr std::string_view kNativePassword = "mysql_native_password";
inline constexpr std::string_view kCachingSha2Password = "caching_sha2_password";
inline constexpr std::string_view kClearPassword = "mysql_clear_password";
inline constexpr std::string_view kSha256Password = "sha256_password";

inline constexpr size_t kNonceSize = 20;
using Nonce = std::array<uint8_t, kNonceSize>;

// mysql_native_password: SHA1(P) XOR SHA1(N || SHA1(SHA1(P))).
// For an empty P the client sends an empty response: the caller checks P.empty() first.
std::array<uint8_t, 20> native_scramble(std::span<const uint8_t> password, std::span<const uint8_t, 20> nonce);
// Server side with the stored H2 = SHA1(SHA1(P)): X = R XOR SHA1(N || H2); ok iff SHA1(X) == H2.
// False unless the response is 20 bytes. Constant-time compare.
bool native_verify(std::span<const uint8_t, 20> sha1_sha1_pw, std::span<const uint8_t, 20> nonce,
                   std::span<const uint8_t> response);
// SHA1(SHA1(P)): what native_verify() stores.
std::array<uint8_t, 20> native_password_hash(std::span<const uint8_t> password);

// caching_sha2_password fast path: SHA256(P) XOR SHA256(SHA256(SHA256(P)) || N).
std::array<uint8_t, 32> sha2_scramble(std::span<const uint8_t> password, std::span<const uint8_t, 20> nonce);
// With the stored S2 = SHA256(SHA256(P)): X = R XOR SHA256(S2 || N); ok iff SHA256(X) == S2.
// False unless the response is 32 bytes. Constant-time compare.
bool sha2_verify(std::span<const uint8_t, 32> sha256_sha256_pw, std::span<const uint8_t, 20> nonce,
                 std::span<const uint8_t> response);
// SHA256(SHA256(P)): what sha2_verify() stores.
std::array<uint8_t, 32> sha2_password_hash(std::span<const uint8_t> password);

// mysql_clear_password, and caching_sha2 / sha256 full auth over TLS or a unix socket: P || 00.
std::vector<uint8_t> clear_password_payload(std::span<const uint8_t> password);

// caching_sha2_password / sha256_password full auth without TLS: RSA-OAEP (SHA-1, MGF1-SHA-1)
// of (P || 00) XOR N-repeated with the server's PEM public key (SubjectPublicKeyInfo or
// PKCS#1). Errors: bad_public_key; password_too_long when P||00 is longer than 256 bytes or
// than the key allows (modulus - 42: P <= 213 bytes with RSA-2048); crypto_failed.
Result<std::vector<uint8_t>> sha2_rsa_encrypt_password(std::span<const uint8_t> password,
                                                       std::span<const uint8_t, 20> nonce, std::string_view pem);

// True when `pem` holds an RSA public key sha2_rsa_encrypt_password() can use (checked once at
// start for --upstream-rsa-key-file).
bool is_rsa_public_key(std::string_view pem);

// A greeting / AuthSwitch nonce: CSPRNG bytes masked to 1..127, never '\0' or '$'
// (mysql-server generate_user_salt; spec §2.1). Aborts if the CSPRNG fails.
Nonce make_nonce();

}  // namespace camproxy::protocol
