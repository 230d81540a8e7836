#include "tests/fuzz/token_builder.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstddef>
#include <memory>

#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

std::string sha256_hex(std::span<const uint8_t> data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(data.data(), data.size(), digest);
  constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

std::span<const uint8_t> bytes_of(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

// AES-256-CBC with OpenSSL's own PKCS#7 padding (§4.3 steps 4-5 run backwards).
std::vector<uint8_t> encrypt(std::string_view seed, std::span<const uint8_t> plaintext) {
  const auto* key = reinterpret_cast<const unsigned char*>(seed.data());
  const auto* iv = key + 33;  // §4.2: chars 33..48; char 32 is skipped
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  std::vector<uint8_t> out(plaintext.size() + 16);
  int len = 0;
  int final_len = 0;
  const bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key, iv) == 1 &&
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(), static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &final_len) == 1;
  CAMPROXY_FUZZ_CHECK(ok);  // the builder itself failing is a harness bug, not a finding
  out.resize(static_cast<size_t>(len + final_len));
  return out;
}

std::string base64(std::span<const uint8_t> bytes, TokenAlphabet alphabet) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  if (alphabet == TokenAlphabet::url_safe_unpadded) {
    std::replace(out.begin(), out.end(), '+', '-');
    std::replace(out.begin(), out.end(), '/', '_');
    out.erase(out.find_last_not_of('=') + 1);
  }
  return out;
}

void put_varint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

void put_uint(std::vector<uint8_t>& out, uint32_t field, uint64_t v) {
  if (v == 0) return;
  put_varint(out, uint64_t{field} << 3);  // wire type 0
  put_varint(out, v);
}

void put_string(std::vector<uint8_t>& out, uint32_t field, std::string_view s) {
  if (s.empty()) return;
  put_varint(out, (uint64_t{field} << 3) | 2);  // wire type 2
  put_varint(out, s.size());
  const auto b = bytes_of(s);
  out.insert(out.end(), b.begin(), b.end());
}

}  // namespace

std::string make_token(std::string_view instance_id, std::string_view region, std::string_view user_name,
                       std::span<const uint8_t> plaintext, TokenAlphabet alphabet) {
  std::string seed_input;
  seed_input.append(instance_id).append("_").append(region).append("_").append(user_name);
  const std::string seed = sha256_hex(bytes_of(seed_input));
  return sha256_hex(plaintext) + base64(encrypt(seed, plaintext), alphabet);
}

std::vector<uint8_t> encode_auth_token_info(const auth::AuthTokenInfo& info) {
  std::vector<uint8_t> out;
  put_uint(out, 1, info.app_id);
  put_uint(out, 2, info.uin);
  put_uint(out, 3, info.owner_uin);
  put_string(out, 4, info.req_id);
  put_string(out, 5, info.instance_id);
  put_string(out, 6, info.region);
  put_string(out, 7, info.username);
  put_string(out, 8, info.password.view());
  put_uint(out, 9, info.create_time);
  put_string(out, 10, info.extra_info);
  put_uint(out, 11, info.token_type);
  put_uint(out, 12, info.rand_num);
  return out;
}

bool same_token_info(const auth::AuthTokenInfo& a, const auth::AuthTokenInfo& b) {
  return a.app_id == b.app_id && a.uin == b.uin && a.owner_uin == b.owner_uin && a.req_id == b.req_id &&
         a.instance_id == b.instance_id && a.region == b.region && a.username == b.username &&
         a.password.view() == b.password.view() && a.create_time == b.create_time && a.extra_info == b.extra_info &&
         a.token_type == b.token_type && a.rand_num == b.rand_num;
}

}  // namespace camproxy::fuzz
