#include "auth/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace camproxy::auth {
namespace {

std::span<const std::uint8_t> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

Sha256Digest sha256(std::span<const std::uint8_t> data) noexcept {
  Sha256Digest out{};
  unsigned int len = 0;
  // EVP_Digest with SHA-256 cannot fail short of memory exhaustion inside OpenSSL.
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

Sha256Digest sha256(std::string_view data) noexcept { return sha256(as_bytes(data)); }

Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view message) noexcept {
  Sha256Digest out{};
  unsigned int len = 0;
  const auto msg = as_bytes(message);
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg.data(), msg.size(), out.data(), &len);
  return out;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0f]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) { return to_hex(sha256(data)); }

std::string sha256_hex(std::span<const std::uint8_t> data) { return to_hex(sha256(data)); }

}  // namespace camproxy::auth
