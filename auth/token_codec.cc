#include "auth/token_codec.h"

#include <openssl/evp.h>

#include <cstddef>
#include <memory>
#include <string>

#include "auth/base64.h"
#include "auth/crypto.h"

namespace camproxy::auth {
namespace {

constexpr std::size_t kHashPrefixLen = 64;  // sha256hex
constexpr std::size_t kAesBlock = 16;
constexpr std::size_t kOpaquePrefixLen = 4;  // §4.1 X: undocumented, skipped

class TokenCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "camproxy.token"; }

  std::string message(int value) const override {
    switch (static_cast<TokenErr>(value)) {
      case TokenErr::empty_input: return "instance id, region, user name and token are required";
      case TokenErr::too_short: return "token shorter than its 64-character hash prefix";
      case TokenErr::base64: return "token ciphertext is not valid base64";
      case TokenErr::block_size: return "token ciphertext is not a whole number of AES blocks";
      case TokenErr::padding: return "token does not decrypt for this instance, region and account (bad padding)";
      case TokenErr::hash_mismatch: return "token integrity check failed (hash prefix mismatch)";
      case TokenErr::plaintext_too_short: return "token plaintext shorter than its 4-byte prefix";
      case TokenErr::protobuf: return "token payload is not a valid AuthTokenInfo message";
      case TokenErr::empty_password: return "token carries an empty password";
    }
    return "unknown token error";
  }
};

tl::unexpected<std::error_code> fail(TokenErr e) { return tl::unexpected(make_error_code(e)); }

// §4.2: key and IV are hex *text* cut from sha256hex(instance_region_user):
// chars 0..31 and 33..48 (char 32 is skipped).
struct KeyIv {
  std::string seed;
  const unsigned char* key() const { return reinterpret_cast<const unsigned char*>(seed.data()); }
  const unsigned char* iv() const { return key() + 33; }
};

KeyIv derive_key_iv(std::string_view instance_id, std::string_view region, std::string_view user_name) {
  std::string input;
  input.reserve(instance_id.size() + region.size() + user_name.size() + 2);
  input.append(instance_id).append("_").append(region).append("_").append(user_name);
  return KeyIv{sha256_hex(input)};
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

// AES-256-CBC without OpenSSL's padding handling, so that a padding failure is
// reported as such (§4.3 step 5) and not as a generic decrypt error.
Result<SecretString> decrypt(const KeyIv& k, const SecretString& ciphertext) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  SecretString plain = SecretString::zeroed(ciphertext.size());
  int out_len = 0;
  int final_len = 0;
  auto out = plain.writable();
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, k.key(), k.iv()) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out.data(), &out_len, ciphertext.bytes().data(),
                        static_cast<int>(ciphertext.size())) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out.data() + out_len, &final_len) != 1 ||
      static_cast<std::size_t>(out_len + final_len) != ciphertext.size()) {
    return fail(TokenErr::block_size);
  }
  return plain;
}

// PKCS#7: last byte n in 1..16 and the last n bytes all equal n.
bool strip_pkcs7(SecretString& plain) {
  const auto b = plain.bytes();
  if (b.empty()) return false;
  const std::uint8_t n = b.back();
  if (n == 0 || n > kAesBlock || n > b.size()) return false;
  for (std::size_t i = b.size() - n; i < b.size(); ++i) {
    if (b[i] != n) return false;
  }
  plain.truncate(b.size() - n);
  return true;
}

}  // namespace

const std::error_category& token_category() noexcept {
  static const TokenCategory category;
  return category;
}

Result<AuthTokenInfo> decode_auth_token(std::string_view instance_id, std::string_view region,
                                        std::string_view user_name, std::string_view token) {
  // The checks run in the order of spec/tencentcloud-cam.md §4.3.
  if (instance_id.empty() || region.empty() || user_name.empty() || token.empty()) {
    return fail(TokenErr::empty_input);
  }
  if (token.size() < kHashPrefixLen) return fail(TokenErr::too_short);
  // A non-hex or upper-case prefix is rejected by the exact comparison in step 6.
  const std::string_view hash_prefix = token.substr(0, kHashPrefixLen);

  const auto ciphertext = decode_base64_any(token.substr(kHashPrefixLen));
  if (!ciphertext) return fail(TokenErr::base64);
  if (ciphertext->empty() || ciphertext->size() % kAesBlock != 0) {
    return fail(TokenErr::block_size);
  }

  KeyIv key_iv = derive_key_iv(instance_id, region, user_name);
  auto plain = decrypt(key_iv, *ciphertext);
  cleanse(key_iv.seed);
  if (!plain) return tl::unexpected(plain.error());
  if (!strip_pkcs7(*plain)) return fail(TokenErr::padding);
  if (sha256_hex(plain->bytes()) != hash_prefix) return fail(TokenErr::hash_mismatch);
  if (plain->size() < kOpaquePrefixLen) return fail(TokenErr::plaintext_too_short);

  auto info = parse_auth_token_info(plain->bytes().subspan(kOpaquePrefixLen));
  if (!info) return info;
  if (info->password.empty()) return fail(TokenErr::empty_password);
  return info;
}

}  // namespace camproxy::auth
