#include "proxy/net/tls.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace camproxy::proxy {
namespace {

bool is_ip_literal(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

bool add_self_signed(SSL_CTX* ctx, std::string& error) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  bool ok = key != nullptr && cert != nullptr;
  if (ok) {
    X509_set_version(cert, 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("camproxy_Auto_Generated_Server_Certificate"), -1,
                               -1, 0);
    X509_set_issuer_name(cert, name);
    ok = X509_sign(cert, key, EVP_sha256()) > 0 && SSL_CTX_use_certificate(ctx, cert) == 1 &&
         SSL_CTX_use_PrivateKey(ctx, key) == 1;
  }
  if (!ok) error = "cannot make a self-signed certificate: " + last_ssl_error();
  X509_free(cert);
  EVP_PKEY_free(key);
  return ok;
}

// OpenSSL fills a certificate's extension cache (key identifiers, flags) the first time the
// certificate is used, and two threads using the same one for the first time at once both
// rewrite it, one freeing what the other compares (openssl/openssl#32609; ThreadSanitizer sees it
// between two workers' first upstream handshakes). Filled here, while one thread owns the
// context, the cache is only read by the workers.
void fill_extension_caches(SSL_CTX* ctx) {
  STACK_OF(X509_OBJECT)* trusted = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
  for (int i = 0; i < sk_X509_OBJECT_num(trusted); ++i) {
    if (X509* cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(trusted, i))) X509_check_purpose(cert, -1, 0);
  }
  if (X509* own = SSL_CTX_get0_certificate(ctx)) X509_check_purpose(own, -1, 0);
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx, &chain);
  for (int i = 0; i < sk_X509_num(chain); ++i) X509_check_purpose(sk_X509_value(chain, i), -1, 0);
}

}  // namespace

std::string last_ssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

SslCtxPtr make_client_facing_ctx(const std::string& cert_file, const std::string& key_file, std::string& error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    error = last_ssl_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (cert_file.empty()) {
    if (!add_self_signed(ctx.get(), error)) return nullptr;
  } else if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1 ||
             SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
             SSL_CTX_check_private_key(ctx.get()) != 1) {
    error = "cannot load --client-tls-cert/--client-tls-key: " + last_ssl_error();
    return nullptr;
  }
  fill_extension_caches(ctx.get());
  return ctx;
}

SslCtxPtr make_upstream_ctx(UpstreamTlsMode mode, const std::string& ca_file, std::string& error) {
  if (mode == UpstreamTlsMode::disable) return nullptr;
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    error = last_ssl_error();
    return nullptr;
  }
  // spec/mysql-protocol.md §3.1: TLS >= 1.2.
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  const bool verify = mode == UpstreamTlsMode::verify_ca || mode == UpstreamTlsMode::verify_identity;
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
      error = "cannot load --upstream-ca-file '" + ca_file + "': " + last_ssl_error();
      return nullptr;
    }
  } else if (verify) {
    SSL_CTX_set_default_verify_paths(ctx.get());
  }
  SSL_CTX_set_verify(ctx.get(), verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  fill_extension_caches(ctx.get());
  return ctx;
}

bool configure_upstream_ssl(SSL* ssl, UpstreamTlsMode mode, const std::string& server_name) {
  const bool ip = is_ip_literal(server_name);
  if (!ip && SSL_set_tlsext_host_name(ssl, server_name.c_str()) != 1) return false;
  if (mode != UpstreamTlsMode::verify_identity) return true;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (ip) return X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) == 1;
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(ssl, server_name.c_str()) == 1;
}

}  // namespace camproxy::proxy
