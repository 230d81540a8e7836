#pragma once
// A scripted MySQL server for unit tests: a loopback TCP listener on the test's loop that
// accepts one connection and plays a list of steps in order.
//
//   auto& server = own(std::make_unique<ScriptedServer>(loop(), Script{
//       send(greeting_payload(native_greeting())),
//       expect("HandshakeResponse41", [](const ReceivedPacket& p) { return ...; }),
//       send(ok_payload()),
//       stall(),
//   }));
//
// Packets are framed with the sequence id the protocol expects next: 0 for the first, the
// last received id + 1 after a packet from the client, +1 after each one sent. Every packet
// the client sends is kept in received(). A step that fails (a packet that does not match,
// the client closing early) stops the script; error() says which step and why.
#include <openssl/ssl.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/auth_plugins.h"
#include "protocol/handshake_v10.h"
#include "proxy/net/transport.h"
#include "tests/proxy/loop_harness.h"

namespace camproxy::proxy::testing {

struct ReceivedPacket {
  uint8_t seq = 0;
  std::vector<uint8_t> payload;
};

class ScriptedServer;

struct Step {
  enum class Kind { send, send_raw, expect, start_tls, call, close, stall };
  Kind kind = Kind::stall;
  std::string name;            // for error messages
  std::vector<uint8_t> bytes;  // send: a payload to frame; send_raw: bytes as they are
  // expect: "" when the packet matches, else why not.
  std::function<std::string(const ReceivedPacket&)> check;
  SSL_CTX* tls_ctx = nullptr;                   // start_tls: the server-side context
  std::function<void(ScriptedServer&)> action;  // call: runs with the server, may send()
};
using Script = std::vector<Step>;

// Step builders.
Step send(std::vector<uint8_t> payload);
Step send_raw(std::vector<uint8_t> bytes);
Step expect(std::string name, std::function<std::string(const ReceivedPacket&)> check);
Step expect_any(std::string name = "any packet");
Step expect_prefix(std::vector<uint8_t> prefix);
// Runs the server side of TLS (the client's SSLRequest must have been expected before); the
// next step runs once the handshake is done.
Step start_tls(SSL_CTX* ctx);
Step call(std::string name, std::function<void(ScriptedServer&)> action);
Step close_connection();
// Stops here and keeps the connection open without a word.
Step stall();

class ScriptedServer final : public LoopObject, private Transport::Events {
 public:
  ScriptedServer(uv_loop_t* loop, Script script);
  ~ScriptedServer() override;

  uint16_t port() const { return port_; }
  bool accepted() const { return accepted_; }
  // Every step ran (a final stall() counts as reached).
  bool finished() const { return next_step_ >= script_.size() && error_.empty(); }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // The client closed (or reset) its end.
  bool client_gone() const { return client_gone_; }
  const std::vector<ReceivedPacket>& received() const { return received_; }
  bool tls_on() const { return conn_.tls_on(); }

  // For call() steps: frames `payload` with the next sequence id and writes it.
  void send_packet(std::span<const uint8_t> payload);
  void send_bytes(std::span<const uint8_t> bytes);

  // LoopObject
  void close() override;
  bool closed() const override;

 private:
  static void on_connection(uv_stream_t* listener, int status);
  void advance();
  bool run_step(const Step& step);  // false: wait for more input (or stop)
  void fail_step(const std::string& why);

  // Transport::Events
  void on_data(Transport& t, std::span<const uint8_t> data) override;
  void on_drained(Transport&) override {}
  void on_error(Transport& t, int code, const std::string& detail) override;
  void on_tls_ready(Transport& t) override;
  void on_closed(Transport& t) override;

  uv_tcp_t listener_{};
  bool listener_closed_ = false;
  Transport conn_;
  bool conn_closed_ = false;
  uint16_t port_ = 0;
  bool accepted_ = false;
  bool client_gone_ = false;
  bool advancing_ = false;
  bool tls_started_ = false;
  bool tls_done_ = false;
  Script script_;
  size_t next_step_ = 0;
  uint8_t next_seq_ = 0;
  std::vector<uint8_t> inbox_;
  std::vector<ReceivedPacket> received_;
  std::string error_;
};

// Payload builders (no frame header).
// A MySQL 8 style greeting: protocol 10, camproxy's own server capabilities (CLIENT_PROTOCOL_41
// and friends), connection id 42, the nonce 1..20 and `plugin`; with `offer_tls` also CLIENT_SSL.
protocol::HandshakeV10 make_greeting(std::string_view plugin = protocol::kNativePassword, bool offer_tls = false);
std::vector<uint8_t> greeting_payload(const protocol::HandshakeV10& hs);
std::vector<uint8_t> ok_payload(uint16_t status_flags = 0x0002);
std::vector<uint8_t> err_payload(uint16_t code, std::string_view sql_state, std::string_view message);
std::vector<uint8_t> auth_switch_payload(std::string_view plugin, std::span<const uint8_t> nonce);
std::vector<uint8_t> auth_more_data_payload(std::span<const uint8_t> data);
// The bytes of `text` (a password, a query).
std::vector<uint8_t> bytes_of(std::string_view text);

}  // namespace camproxy::proxy::testing
