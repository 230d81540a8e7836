#include "protocol/auth_plugins.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <initializer_list>

namespace camproxy::protocol {
namespace {

constexpr uint8_t kDollar = '$';

// Hash of the concatenation of `parts`. OpenSSL fails here only when out of memory; going on
// with a wrong digest would be worse than stopping.
template <size_t N>
std::array<uint8_t, N> digest(const EVP_MD* md, std::initializer_list<std::span<const uint8_t>> parts) {
  std::array<uint8_t, N> out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, md, nullptr) == 1;
  for (const auto& part : parts) {
    ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
  }
  unsigned int len = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == N;
  EVP_MD_CTX_free(ctx);
  if (!ok) std::abort();
  return out;
}

std::array<uint8_t, 20> sha1(std::initializer_list<std::span<const uint8_t>> parts) {
  return digest<20>(EVP_sha1(), parts);
}

std::array<uint8_t, 32> sha256(std::initializer_list<std::span<const uint8_t>> parts) {
  return digest<32>(EVP_sha256(), parts);
}

template <size_t N>
void xor_into(std::array<uint8_t, N>& dst, std::span<const uint8_t> src) {
  for (size_t i = 0; i < N; ++i) dst[i] ^= src[i];
}

template <size_t N>
void cleanse(std::array<uint8_t, N>& a) {
  OPENSSL_cleanse(a.data(), a.size());
}

}  // namespace

std::array<uint8_t, 20> native_password_hash(std::span<const uint8_t> password) {
  auto h1 = sha1({password});
  auto h2 = sha1({h1});
  cleanse(h1);
  return h2;
}

std::array<uint8_t, 20> native_scramble(std::span<const uint8_t> password, std::span<const uint8_t, 20> nonce) {
  auto h1 = sha1({password});
  auto h2 = sha1({h1});
  auto out = sha1({nonce, h2});
  xor_into(out, h1);
  cleanse(h1);
  cleanse(h2);
  return out;
}

bool native_verify(std::span<const uint8_t, 20> sha1_sha1_pw, std::span<const uint8_t, 20> nonce,
                   std::span<const uint8_t> response) {
  if (response.size() != 20) return false;
  auto candidate_h1 = sha1({nonce, sha1_sha1_pw});
  xor_into(candidate_h1, response);
  const auto candidate_h2 = sha1({candidate_h1});
  cleanse(candidate_h1);
  return CRYPTO_memcmp(candidate_h2.data(), sha1_sha1_pw.data(), candidate_h2.size()) == 0;
}

std::array<uint8_t, 32> sha2_password_hash(std::span<const uint8_t> password) {
  auto s1 = sha256({password});
  auto s2 = sha256({s1});
  cleanse(s1);
  return s2;
}

std::array<uint8_t, 32> sha2_scramble(std::span<const uint8_t> password, std::span<const uint8_t, 20> nonce) {
  auto s1 = sha256({password});
  auto s2 = sha256({s1});
  auto out = sha256({s2, nonce});  // nonce last for SHA-256, first for SHA-1 (spec §2.6)
  xor_into(out, s1);
  cleanse(s1);
  cleanse(s2);
  return out;
}

bool sha2_verify(std::span<const uint8_t, 32> sha256_sha256_pw, std::span<const uint8_t, 20> nonce,
                 std::span<const uint8_t> response) {
  if (response.size() != 32) return false;
  auto candidate_s1 = sha256({sha256_sha256_pw, nonce});
  xor_into(candidate_s1, response);
  const auto candidate_s2 = sha256({candidate_s1});
  cleanse(candidate_s1);
  return CRYPTO_memcmp(candidate_s2.data(), sha256_sha256_pw.data(), candidate_s2.size()) == 0;
}

std::vector<uint8_t> clear_password_payload(std::span<const uint8_t> password) {
  std::vector<uint8_t> out;
  out.reserve(password.size() + 1);
  out.assign(password.begin(), password.end());
  out.push_back(0);
  return out;
}

Nonce make_nonce() {
  // Drawn from a per-thread reserve refilled 50 nonces at a time: one RAND_bytes call costs
  // about 7000 instructions (OpenSSL 3's DRBG set-up and fork check), a fifth of a whole
  // connect-per-request cycle in camproxy. Nonces are public challenges, not secrets; camproxy
  // never forks after start, so no two processes share a reserve.
  constexpr size_t kReserve = 50 * std::tuple_size_v<Nonce>;
  thread_local std::array<uint8_t, kReserve> reserve;
  thread_local size_t used = kReserve;
  if (used == kReserve) {
    if (RAND_bytes(reserve.data(), static_cast<int>(reserve.size())) != 1) std::abort();
    used = 0;
  }
  Nonce nonce{};
  std::copy_n(reserve.begin() + static_cast<std::ptrdiff_t>(used), nonce.size(), nonce.begin());
  used += nonce.size();
  for (auto& b : nonce) {
    b &= 0x7F;
    if (b == 0 || b == kDollar) ++b;  // '\0' ends C strings, '$' separates crypt fields
  }
  return nonce;
}

}  // namespace camproxy::protocol
