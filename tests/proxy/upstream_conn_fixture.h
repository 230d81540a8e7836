#pragma once
// Shared by the UpstreamConn tests: a recording Owner, the RSA key a scripted server hands
// out, step builders for what camproxy sends at login, and the fixture that dials.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/auth_plugins.h"
#include "protocol/handshake_response.h"
#include "protocol/packet.h"
#include "proxy/net/tls.h"
#include "proxy/ops/metrics.h"
#include "proxy/pool/upstream_conn.h"
#include "tests/proxy/loop_harness.h"
#include "tests/proxy/scripted_server.h"

namespace camproxy::proxy::testing {

inline constexpr std::string_view kPassword = "s3cret-token";
inline const std::vector<uint8_t> kPasswordBytes(kPassword.begin(), kPassword.end());

// A second nonce (21..40) for AuthSwitchRequests, distinct from the greeting's 1..20.
inline protocol::Nonce switch_nonce() {
  protocol::Nonce n{};
  for (uint8_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(21 + i);
  return n;
}

template <size_t N>
inline std::string as_string(const std::array<uint8_t, N>& a) {
  return {a.begin(), a.end()};
}
inline std::string as_string(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }

// Expects a HandshakeResponse41 from user "app" naming `plugin`, with `auth_response`.
inline Step expect_login(std::string_view plugin, std::string auth_response) {
  return expect("HandshakeResponse41",
                [plugin = std::string(plugin), auth_response = std::move(auth_response)](const ReceivedPacket& p) {
                  if (protocol::is_ssl_request(p.payload)) return std::string("an SSLRequest");
                  auto resp = protocol::decode_handshake_response41(p.payload);
                  if (!resp) return "undecodable: " + resp.error().message();
                  if (resp->user != "app") return "user " + resp->user;
                  if (resp->auth_plugin_name != plugin) return "plugin " + resp->auth_plugin_name.value_or("(none)");
                  if (resp->auth_response != auth_response) return std::string("wrong auth response");
                  return std::string();
                });
}

inline Step expect_ssl_request() {
  return expect("SSLRequest", [](const ReceivedPacket& p) {
    return protocol::is_ssl_request(p.payload) ? std::string() : std::string("not an SSLRequest");
  });
}

inline Step expect_exactly(std::string name, std::vector<uint8_t> payload) {
  return expect(std::move(name), [payload = std::move(payload)](const ReceivedPacket& p) {
    return p.payload == payload ? std::string() : "got " + std::to_string(p.payload.size()) + " other bytes";
  });
}

inline std::vector<uint8_t> framed(const std::vector<uint8_t>& payload, uint8_t seq) {
  std::vector<uint8_t> out;
  protocol::encode_packet(payload, seq, out);
  return out;
}

struct RecordingOwner final : UpstreamConn::Owner {
  bool auto_login = true;
  UpstreamLogin login;
  int greetings = 0;
  int ready = 0;
  std::vector<uint8_t> ok;
  int failures = 0;
  std::optional<UpstreamFailure> failure;
  std::vector<uint8_t> data;
  int drained = 0;
  std::optional<std::vector<InternalResult>> results;

  void on_upstream_greeting(UpstreamConn& u) override {
    ++greetings;
    if (auto_login) u.login(login);
  }
  void on_upstream_ready(UpstreamConn&, std::span<const uint8_t> ok_payload) override {
    ++ready;
    ok.assign(ok_payload.begin(), ok_payload.end());
  }
  void on_upstream_failed(UpstreamConn&, const UpstreamFailure& f) override {
    ++failures;
    failure = f;
  }
  void on_upstream_data(UpstreamConn&, std::span<const uint8_t> d) override {
    data.insert(data.end(), d.begin(), d.end());
  }
  void on_upstream_drained(UpstreamConn&) override { ++drained; }
  void on_upstream_commands_done(UpstreamConn&, const std::vector<InternalResult>& r) override { results = r; }
};

struct RsaKey {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  ~RsaKey() { EVP_PKEY_free(key); }

  std::vector<uint8_t> public_pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::vector<uint8_t> pem(data, data + n);
    BIO_free(bio);
    return pem;
  }
  // RSA-OAEP (SHA-1) decryption, then the XOR with the repeated nonce (spec §3.3).
  std::string decrypt_password(std::span<const uint8_t> cipher, const protocol::Nonce& nonce) const {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
    std::vector<uint8_t> out(EVP_PKEY_get_size(key));
    size_t len = out.size();
    bool ok = EVP_PKEY_decrypt_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
              EVP_PKEY_decrypt(ctx, out.data(), &len, cipher.data(), cipher.size()) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) return "(cannot decrypt)";
    out.resize(len);
    for (size_t i = 0; i < out.size(); ++i) out[i] ^= nonce[i % nonce.size()];
    return as_string(out);
  }
};

class UpstreamConnTest : public testing::LoopTest {
 protected:
  static void SetUpTestSuite() { rsa_ = new RsaKey; }
  static void TearDownTestSuite() {
    delete rsa_;
    rsa_ = nullptr;
  }

  void SetUp() override {
    LoopTest::SetUp();
    config_.upstream = {"127.0.0.1", 0};
    config_.upstream_server_name = "127.0.0.1";
    config_.upstream_tls = UpstreamTlsMode::disable;
    config_.connect_timeout = std::chrono::milliseconds(3000);
    owner_.login.user = "app";
    owner_.login.password = std::make_shared<const auth::SecretString>(kPassword);
    owner_.login.collation = 255;
    owner_.login.max_packet_size = 16 * 1024 * 1024;
    std::string error;
    server_tls_ = make_client_facing_ctx("", "", error);
    ASSERT_TRUE(server_tls_) << error;
    open_before_ = open_connections();
  }

  void TearDown() override {
    if (conn_ != nullptr) conn_->close();  // deletes itself once its handles are closed
    conn_ = nullptr;
    LoopTest::TearDown();
    EXPECT_EQ(open_connections(), open_before_) << "the UpstreamConn did not delete itself";
  }

  // The metrics a dial touches (process-wide: compare before and after).
  static int64_t open_connections() { return process_metrics().gauge(MetricId::upstream_connections_open).value(); }
  static uint64_t dial_failures(DialFailure reason) {
    return process_metrics().counter(MetricId::upstream_dial_failures, reason).value();
  }

  testing::ScriptedServer& serve(testing::Script script) {
    return own(std::make_unique<testing::ScriptedServer>(loop(), std::move(script)));
  }

  // Dials `port` with the given --upstream-tls mode (its client context made as the program does).
  void dial(uint16_t port, UpstreamTlsMode mode = UpstreamTlsMode::disable) {
    config_.upstream.port = port;
    config_.upstream_tls = mode;
    std::string error;
    client_tls_ = make_upstream_ctx(mode, "", error);
    ASSERT_TRUE(mode == UpstreamTlsMode::disable || client_tls_) << error;
    conn_ = UpstreamConn::create(loop(), {&config_, client_tls_.get()}, &owner_);
    conn_->connect();
  }

  bool logged_in() {
    return run_until([&] { return owner_.ready > 0 || owner_.failures > 0; }) && owner_.ready == 1;
  }
  std::optional<UpstreamFailure> failure() {
    run_until([&] { return owner_.failures > 0; });
    return owner_.failure;
  }

  static inline RsaKey* rsa_ = nullptr;
  TargetConfig config_;
  RecordingOwner owner_;
  SslCtxPtr server_tls_;
  SslCtxPtr client_tls_;
  UpstreamConn* conn_ = nullptr;
  int64_t open_before_ = 0;
};

inline const protocol::Nonce kGreetingNonce = make_greeting().nonce;

}  // namespace camproxy::proxy::testing
