// sha2_rsa_encrypt_password (spec §3.3): RSA-OAEP of the XOR-obfuscated password.
#include "protocol/auth_plugins.h"

#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>

namespace camproxy::protocol {
namespace {

// mysql-server sha2_password: MAX_PLAINTEXT_LENGTH. OAEP with SHA-1 costs 2*20+2 bytes.
constexpr size_t kMaxPlaintext = 256;
constexpr size_t kOaepSha1Overhead = 42;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct DecoderCtxFree {
  void operator()(OSSL_DECODER_CTX* p) const { OSSL_DECODER_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Accepts "BEGIN PUBLIC KEY" (what MySQL sends) and "BEGIN RSA PUBLIC KEY".
PkeyPtr load_rsa_public_key(std::string_view pem) {
  EVP_PKEY* raw = nullptr;
  std::unique_ptr<OSSL_DECODER_CTX, DecoderCtxFree> dctx(
      OSSL_DECODER_CTX_new_for_pkey(&raw, "PEM", nullptr, "RSA", EVP_PKEY_PUBLIC_KEY, nullptr, nullptr));
  if (!dctx) return nullptr;
  const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
  size_t len = pem.size();
  if (OSSL_DECODER_from_data(dctx.get(), &data, &len) != 1) return nullptr;
  return PkeyPtr(raw);
}

}  // namespace

bool is_rsa_public_key(std::string_view pem) { return load_rsa_public_key(pem) != nullptr; }

Result<std::vector<uint8_t>> sha2_rsa_encrypt_password(std::span<const uint8_t> password,
                                                       std::span<const uint8_t, 20> nonce, std::string_view pem) {
  const PkeyPtr key = load_rsa_public_key(pem);
  if (!key) return fail(ProtoErr::bad_public_key);
  const int key_bytes = EVP_PKEY_get_size(key.get());
  if (key_bytes <= 0) return fail(ProtoErr::bad_public_key);
  const size_t plain_len = password.size() + 1;
  if (plain_len > kMaxPlaintext || plain_len + kOaepSha1Overhead > static_cast<size_t>(key_bytes)) {
    return fail(ProtoErr::password_too_long);
  }

  std::vector<uint8_t> plain = clear_password_payload(password);
  for (size_t i = 0; i < plain.size(); ++i) plain[i] ^= nonce[i % nonce.size()];

  std::vector<uint8_t> cipher(static_cast<size_t>(key_bytes));
  size_t cipher_len = cipher.size();
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  // OAEP's defaults are SHA-1 for both the label hash and MGF1, as the server expects.
  const bool ok = ctx && EVP_PKEY_encrypt_init(ctx.get()) == 1 &&
                  EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) == 1 &&
                  EVP_PKEY_encrypt(ctx.get(), cipher.data(), &cipher_len, plain.data(), plain.size()) == 1;
  OPENSSL_cleanse(plain.data(), plain.size());
  if (!ok) return fail(ProtoErr::crypto_failed);
  cipher.resize(cipher_len);
  return cipher;
}

}  // namespace camproxy::protocol
