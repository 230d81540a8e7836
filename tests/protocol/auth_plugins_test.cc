// Auth plugin math (spec/mysql-protocol.md §2.1, §2.6, §3.3). Expected values come from
// real clients (captured responses) and from /usr/bin/python3 hashlib, never from this code:
//   sha1 = lambda *a: hashlib.sha1(b''.join(a)).digest()   (sha256 likewise)
//   native = xor(sha1(P), sha1(N, sha1(sha1(P))))
//   sha2 = xor(sha256(P), sha256(sha256(sha256(P)), N))
// PyMySQL 1.0.2's _auth.scramble_native_password / scramble_caching_sha2 agree.
#include "protocol/auth_plugins.h"

#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "test_util.h"

namespace camproxy::protocol {
namespace {

using test::PrintTo;

using test::from_hex;
using test::to_hex;

std::span<const uint8_t, 20> nonce20(const std::vector<uint8_t>& v) {
  return std::span<const uint8_t, 20>(v.data(), 20);
}

std::vector<uint8_t> all_bytes() {
  std::vector<uint8_t> v(256);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i);
  return v;
}

const std::vector<uint8_t> kNonce = from_hex("0102030405060708090a0b0c0d0e0f1011121314");
const std::string_view kToken = "camproxy-token";

struct NativeCase {
  const char* name;
  std::vector<uint8_t> password;
  std::vector<uint8_t> nonce;
  const char* expected_hex;
};

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<NativeCase> native_cases() {
  return {
      {"python_kat", bytes_of(kToken), kNonce, "e98d068bcbba2094bc951e66871f77201a22a88e"},
      {"python_kat_256_bytes", all_bytes(), kNonce, "baabae9576056953ae0d8c196204c3f51a55a34c"},
      // Real clients against MariaDB 10.11 (nonce from the greeting or switch, response from
      // the client's packet in captures/).
      {"mariadb_cli_login", bytes_of("camtest-pw"), from_hex("2361436a6a595c437854792959677b526a3e3739"),
       "2b4b486e3e1aaa2f5ddcecdf338d94035a33a491"},
      {"mariadb_cli_after_switch", bytes_of("camtest-pw"), from_hex("624d39776a2f496336244d3b7b7d222c58552246"),
       "379366ea9bf076d2dba7aba8544fb876ad8f5cbe"},
      {"pymysql_login", bytes_of("camtest-pw"), from_hex("715a52693c30772d7425556060436d7a3e656446"),
       "b769baf9694c7a0c3f6cf3c7e8524bb8cf7c160b"},
      {"mysql2_change_user", bytes_of("other-pw"), from_hex("7b505d62535b4d512f355d567671532b7946305b"),
       "1a0c980310312d425245600323e10ee445cff6e8"},
  };
}

class NativeTest : public ::testing::TestWithParam<NativeCase> {};

TEST_P(NativeTest, ScrambleMatches) {
  const auto& c = GetParam();
  EXPECT_EQ(to_hex(native_scramble(c.password, nonce20(c.nonce))), c.expected_hex);
}

TEST_P(NativeTest, VerifyAcceptsOnlyTheRightResponse) {
  const auto& c = GetParam();
  const auto h2 = native_password_hash(c.password);
  auto response = from_hex(c.expected_hex);
  EXPECT_TRUE(native_verify(h2, nonce20(c.nonce), response));
  response[7] ^= 0x01;
  EXPECT_FALSE(native_verify(h2, nonce20(c.nonce), response));
  response[7] ^= 0x01;
  auto other_nonce = c.nonce;
  other_nonce[0] ^= 0x01;
  EXPECT_FALSE(native_verify(h2, nonce20(other_nonce), response));
  EXPECT_FALSE(native_verify(h2, nonce20(c.nonce), std::span(response).first(19)));
  EXPECT_FALSE(native_verify(h2, nonce20(c.nonce), {}));
}

INSTANTIATE_TEST_SUITE_P(Known, NativeTest, ::testing::ValuesIn(native_cases()), test::CaseName());

TEST(NativePassword, HashIsSha1OfSha1) {
  EXPECT_EQ(to_hex(native_password_hash(test::as_bytes(kToken))), "c394cedfd3ddc5b6da353319553ebe5538390491");
}

struct Sha2Case {
  const char* name;
  std::vector<uint8_t> password;
  const char* expected_hex;
};

class Sha2Test : public ::testing::TestWithParam<Sha2Case> {};

TEST_P(Sha2Test, ScrambleMatchesAndVerifies) {
  const auto& c = GetParam();
  EXPECT_EQ(to_hex(sha2_scramble(c.password, nonce20(kNonce))), c.expected_hex);
  const auto s2 = sha2_password_hash(c.password);
  auto response = from_hex(c.expected_hex);
  EXPECT_TRUE(sha2_verify(s2, nonce20(kNonce), response));
  response[31] ^= 0x80;
  EXPECT_FALSE(sha2_verify(s2, nonce20(kNonce), response));
  EXPECT_FALSE(sha2_verify(s2, nonce20(kNonce), std::span(response).first(20)));
}

INSTANTIATE_TEST_SUITE_P(Known, Sha2Test,
                         ::testing::Values(Sha2Case{"python_kat", bytes_of(kToken),
                                                    "9bb1b68c31c16ddd79b60279d6739c2acfc46024b1ae41b93f595c9a5923d1ae"},
                                           Sha2Case{
                                               "python_kat_256_bytes", all_bytes(),
                                               "2fdac45164bc630974e2a9c0f9eb2c86e90b28afe4f422cc24ff9f528492f13c"}),
                         test::CaseName());

TEST(Sha2Password, HashIsSha256OfSha256) {
  EXPECT_EQ(to_hex(sha2_password_hash(test::as_bytes(kToken))),
            "63c6610186c954e992a6fdef09939631cff731a78477ff520316076df0d926ba");
}

TEST(ClearPassword, AppendsNul) {
  EXPECT_EQ(clear_password_payload(test::as_bytes("pw")), from_hex("707700"));
  EXPECT_EQ(clear_password_payload({}), from_hex("00"));
}

TEST(Nonce, BytesAreOneTo127AndNeverDollar) {
  std::set<std::array<uint8_t, 20>> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto n = make_nonce();
    for (uint8_t b : n) {
      ASSERT_GE(b, 1);
      ASSERT_LE(b, 127);
      ASSERT_NE(b, '$');
    }
    seen.insert(n);
  }
  EXPECT_EQ(seen.size(), 2000u);  // 20 random bytes: a repeat means a broken generator
}

// --- RSA (caching_sha2 / sha256 full auth without TLS) -----------------------------------

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string public_pem(EVP_PKEY* key, const char* structure) {
  OSSL_ENCODER_CTX* ctx = OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_PUBLIC_KEY, "PEM", structure, nullptr);
  unsigned char* data = nullptr;
  size_t len = 0;
  const bool ok = ctx != nullptr && OSSL_ENCODER_to_data(ctx, &data, &len) == 1;
  OSSL_ENCODER_CTX_free(ctx);
  if (!ok) return {};
  std::string pem(reinterpret_cast<char*>(data), len);
  OPENSSL_free(data);
  return pem;
}

// The server's side: RSA-OAEP(SHA-1) decrypt, then XOR with the repeated nonce.
std::vector<uint8_t> server_decrypt(EVP_PKEY* key, std::span<const uint8_t> cipher,
                                    std::span<const uint8_t, 20> nonce) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
  std::vector<uint8_t> plain(cipher.size());
  size_t len = plain.size();
  const bool ok = ctx != nullptr && EVP_PKEY_decrypt_init(ctx) == 1 &&
                  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
                  EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) == 1 &&
                  EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) == 1 &&
                  EVP_PKEY_decrypt(ctx, plain.data(), &len, cipher.data(), cipher.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return {};
  plain.resize(len);
  for (size_t i = 0; i < plain.size(); ++i) plain[i] ^= nonce[i % 20];
  return plain;
}

class RsaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { key_2048_ = EVP_RSA_gen(2048); }
  static void TearDownTestSuite() { EVP_PKEY_free(key_2048_); }
  static EVP_PKEY* key_2048_;
};
EVP_PKEY* RsaTest::key_2048_ = nullptr;

TEST_F(RsaTest, ServerDecryptsPasswordWithBothPemForms) {
  ASSERT_NE(key_2048_, nullptr);
  for (const char* structure : {"SubjectPublicKeyInfo", "type-specific"}) {
    const std::string pem = public_pem(key_2048_, structure);
    ASSERT_FALSE(pem.empty()) << structure;
    EXPECT_NE(pem.find(std::string_view(structure) == "type-specific" ? "BEGIN RSA PUBLIC KEY" : "BEGIN PUBLIC KEY"),
              std::string::npos);
    auto cipher = sha2_rsa_encrypt_password(test::as_bytes(kToken), nonce20(kNonce), pem);
    ASSERT_TRUE(cipher) << structure << ": " << cipher.error().message();
    EXPECT_EQ(cipher->size(), 256u);
    EXPECT_EQ(server_decrypt(key_2048_, *cipher, nonce20(kNonce)), clear_password_payload(test::as_bytes(kToken)));
  }
}

TEST_F(RsaTest, Rsa2048LimitIs213Bytes) {
  const std::string pem = public_pem(key_2048_, "SubjectPublicKeyInfo");
  const std::vector<uint8_t> fits(213, 'a');
  auto cipher = sha2_rsa_encrypt_password(fits, nonce20(kNonce), pem);
  ASSERT_TRUE(cipher);
  EXPECT_EQ(server_decrypt(key_2048_, *cipher, nonce20(kNonce)), clear_password_payload(fits));
  const std::vector<uint8_t> too_long(214, 'a');
  EXPECT_EQ(sha2_rsa_encrypt_password(too_long, nonce20(kNonce), pem).error(), ProtoErr::password_too_long);
}

// With a big key the server's own 256-byte plaintext limit is the one that binds.
TEST(Rsa, PlaintextLimitIs256BytesEvenWithA3072BitKey) {
  Pkey key(EVP_RSA_gen(3072));
  ASSERT_TRUE(key);
  const std::string pem = public_pem(key.get(), "SubjectPublicKeyInfo");
  const std::vector<uint8_t> fits(255, 'b');
  auto cipher = sha2_rsa_encrypt_password(fits, nonce20(kNonce), pem);
  ASSERT_TRUE(cipher);
  EXPECT_EQ(server_decrypt(key.get(), *cipher, nonce20(kNonce)), clear_password_payload(fits));
  const std::vector<uint8_t> too_long(256, 'b');
  EXPECT_EQ(sha2_rsa_encrypt_password(too_long, nonce20(kNonce), pem).error(), ProtoErr::password_too_long);
}

TEST(Rsa, RejectsWhatIsNotAnRsaPublicKey) {
  Pkey ec(EVP_EC_gen("P-256"));
  ASSERT_TRUE(ec);
  const std::string ec_pem = public_pem(ec.get(), "SubjectPublicKeyInfo");
  ASSERT_FALSE(ec_pem.empty());
  for (const std::string& pem : {ec_pem, std::string(""), std::string("not a key"),
                                 std::string("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")}) {
    EXPECT_EQ(sha2_rsa_encrypt_password(test::as_bytes(kToken), nonce20(kNonce), pem).error(),
              ProtoErr::bad_public_key);
  }
}

}  // namespace
}  // namespace camproxy::protocol
