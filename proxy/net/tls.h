#pragma once
// TLS glue: the SSL_CTXs camproxy uses (one for applications, where camproxy is the server;
// one for the database, where it is the client) and per-connection setup.
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "proxy/config/config.h"

namespace camproxy::proxy {

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// The context offered to applications. Without a certificate file a self-signed P-256
// certificate is made in memory (as MySQL 8 does with its auto-generated certificates),
// so MySQL 8 clients in their default ssl-mode=PREFERRED get an encrypted hop.
// On failure returns null and sets `error`.
SslCtxPtr make_client_facing_ctx(const std::string& cert_file, const std::string& key_file, std::string& error);

// The context for database connections, per --upstream-tls (null for disable).
SslCtxPtr make_upstream_ctx(UpstreamTlsMode mode, const std::string& ca_file, std::string& error);

// Per-connection client-side settings: SNI (host names only) and, with verify-identity, the
// name or IP address the certificate must match.
bool configure_upstream_ssl(SSL* ssl, UpstreamTlsMode mode, const std::string& server_name);

// The most recent OpenSSL error as text (no secrets: OpenSSL errors carry none).
std::string last_ssl_error();

}  // namespace camproxy::proxy
