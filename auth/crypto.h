// Thin wrappers over OpenSSL 3 digests used by the TC3 signer and the token codec.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace camproxy::auth {

using Sha256Digest = std::array<std::uint8_t, 32>;

Sha256Digest sha256(std::span<const std::uint8_t> data) noexcept;
Sha256Digest sha256(std::string_view data) noexcept;
Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view message) noexcept;

// Lower-case hex, as every hash in spec/tencentcloud-cam.md is written.
std::string to_hex(std::span<const std::uint8_t> bytes);
std::string sha256_hex(std::string_view data);
std::string sha256_hex(std::span<const std::uint8_t> data);

}  // namespace camproxy::auth
