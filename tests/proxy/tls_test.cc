#include "proxy/net/tls.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <latch>
#include <memory>
#include <string>
#include <thread>

namespace camproxy::proxy {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr) << nid;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn` signed by `issuer_key` (self-signed when issuer is null), with the key
// identifiers that make verification compare the issuer's subjectKeyIdentifier.
X509Ptr make_cert(const char* cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ca ? 1 : 2);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  add_extension(cert.get(), signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  EXPECT_GT(X509_sign(cert.get(), issuer_key, EVP_sha256()), 0);
  return cert;
}

class UpstreamCtxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_key_.reset(EVP_EC_gen("P-256"));
    leaf_key_.reset(EVP_EC_gen("P-256"));
    ASSERT_TRUE(ca_key_ && leaf_key_);
    ca_ = make_cert("camproxy test CA", ca_key_.get(), nullptr, ca_key_.get(), true);
    leaf_ = make_cert("db.example", leaf_key_.get(), ca_.get(), ca_key_.get(), false);
    ca_file_ = std::filesystem::temp_directory_path() / ("camproxy_tls_test_ca_" + std::to_string(getpid()) + ".pem");
    FILE* f = std::fopen(ca_file_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(PEM_write_X509(f, ca_.get()), 1);
    std::fclose(f);
  }
  void TearDown() override { std::filesystem::remove(ca_file_); }

  // What a worker's handshake does with the context's trust store: verify the server's
  // certificate, its own copy (each connection parses the one it receives).
  static bool verify(SSL_CTX* ctx, X509* leaf) {
    X509_STORE_CTX* store_ctx = X509_STORE_CTX_new();
    bool ok = store_ctx != nullptr && X509_STORE_CTX_init(store_ctx, SSL_CTX_get_cert_store(ctx), leaf, nullptr) == 1 &&
              X509_verify_cert(store_ctx) == 1;
    X509_STORE_CTX_free(store_ctx);
    return ok;
  }

  PkeyPtr ca_key_, leaf_key_;
  X509Ptr ca_, leaf_;
  std::filesystem::path ca_file_;
};

TEST_F(UpstreamCtxTest, VerifiesAChainFromTheCaFile) {
  std::string error;
  SslCtxPtr ctx = make_upstream_ctx(UpstreamTlsMode::verify_ca, ca_file_.string(), error);
  ASSERT_TRUE(ctx) << error;
  EXPECT_TRUE(verify(ctx.get(), leaf_.get()));
}

TEST_F(UpstreamCtxTest, UnreadableCaFileIsAnErrorNamingIt) {
  std::string error;
  EXPECT_FALSE(make_upstream_ctx(UpstreamTlsMode::verify_ca, "/nonexistent/ca.pem", error));
  EXPECT_NE(error.find("cannot load --upstream-ca-file '/nonexistent/ca.pem'"), std::string::npos) << error;
}

// Workers share one context and start their first handshakes together. The trusted
// certificate's cached extensions must already be there: OpenSSL fills them on first use and
// two threads doing that at once rewrite them under each other (ThreadSanitizer, which
// tests/sanitizers.sh runs this under, reports it as a race in ASN1_STRING_cmp).
TEST_F(UpstreamCtxTest, FirstVerificationsOnTwoThreadsAtOnce) {
  for (int round = 0; round < 50; ++round) {
    std::string error;
    SslCtxPtr ctx = make_upstream_ctx(UpstreamTlsMode::verify_ca, ca_file_.string(), error);
    ASSERT_TRUE(ctx) << error;
    X509Ptr received[2] = {X509Ptr(X509_dup(leaf_.get())), X509Ptr(X509_dup(leaf_.get()))};
    std::latch start(2);
    bool ok[2] = {false, false};
    auto worker = [&](int i) {
      start.arrive_and_wait();
      ok[i] = verify(ctx.get(), received[i].get());
    };
    std::thread a(worker, 0), b(worker, 1);
    a.join();
    b.join();
    ASSERT_TRUE(ok[0] && ok[1]) << "round " << round;
  }
}

}  // namespace
}  // namespace camproxy::proxy
