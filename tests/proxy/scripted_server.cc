#include "tests/proxy/scripted_server.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstdio>

#include "protocol/auth_switch.h"
#include "protocol/constants.h"
#include "protocol/ok_err_eof.h"
#include "protocol/packet.h"

namespace camproxy::proxy::testing {
namespace {

constexpr size_t kMaxPacket = 16 * 1024 * 1024;

std::string hex(std::span<const uint8_t> bytes) {
  std::string out;
  char b[4];
  for (uint8_t v : bytes) {
    std::snprintf(b, sizeof(b), "%02x ", v);
    out += b;
  }
  return out;
}

}  // namespace

Step send(std::vector<uint8_t> payload) {
  Step s;
  s.kind = Step::Kind::send;
  s.name = "send";
  s.bytes = std::move(payload);
  return s;
}

Step send_raw(std::vector<uint8_t> bytes) {
  Step s;
  s.kind = Step::Kind::send_raw;
  s.name = "send_raw";
  s.bytes = std::move(bytes);
  return s;
}

Step expect(std::string name, std::function<std::string(const ReceivedPacket&)> check) {
  Step s;
  s.kind = Step::Kind::expect;
  s.name = std::move(name);
  s.check = std::move(check);
  return s;
}

Step expect_any(std::string name) {
  return expect(std::move(name), [](const ReceivedPacket&) { return std::string(); });
}

Step expect_prefix(std::vector<uint8_t> prefix) {
  std::string name = "a packet starting with " + hex(prefix);
  return expect(std::move(name), [prefix = std::move(prefix)](const ReceivedPacket& p) {
    if (p.payload.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), p.payload.begin())) {
      return std::string();
    }
    return "got " + hex(std::span(p.payload).first(std::min<size_t>(p.payload.size(), 32)));
  });
}

Step start_tls(SSL_CTX* ctx) {
  Step s;
  s.kind = Step::Kind::start_tls;
  s.name = "start_tls";
  s.tls_ctx = ctx;
  return s;
}

Step call(std::string name, std::function<void(ScriptedServer&)> action) {
  Step s;
  s.kind = Step::Kind::call;
  s.name = std::move(name);
  s.action = std::move(action);
  return s;
}

Step close_connection() {
  Step s;
  s.kind = Step::Kind::close;
  s.name = "close";
  return s;
}

Step stall() {
  Step s;
  s.kind = Step::Kind::stall;
  s.name = "stall";
  return s;
}

ScriptedServer::ScriptedServer(uv_loop_t* loop, Script script) : conn_(*this), script_(std::move(script)) {
  uv_tcp_init(loop, &listener_);
  listener_.data = this;
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", 0, &addr);
  int rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 4, on_connection);
  int len = sizeof(addr);
  if (rc == 0) rc = uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&addr), &len);
  if (rc != 0) {
    error_ = std::string("cannot listen: ") + uv_strerror(rc);
    ADD_FAILURE() << error_;
    return;
  }
  port_ = ntohs(addr.sin_port);
}

ScriptedServer::~ScriptedServer() = default;

void ScriptedServer::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<ScriptedServer*>(listener->data);
  if (status != 0 || self->accepted_) return;  // one connection per server; later ones wait unanswered
  self->conn_.init_tcp(listener->loop);
  if (uv_accept(listener, self->conn_.stream()) != 0) {
    self->fail_step("accept failed");
    return;
  }
  self->accepted_ = true;
  self->conn_.start_reading();
  self->advance();
}

void ScriptedServer::advance() {
  if (advancing_) return;  // a step's own write or TLS callback re-entered: the outer loop goes on
  advancing_ = true;
  while (error_.empty() && next_step_ < script_.size() && run_step(script_[next_step_])) ++next_step_;
  advancing_ = false;
  if (!error_.empty() || next_step_ < script_.size()) return;
  // After the script: keep what the client sends for the test to read.
  std::vector<uint8_t> scratch;
  while (auto packet = protocol::decode_packet(inbox_, kMaxPacket, scratch)) {
    received_.push_back({packet->packet.seq_id, {packet->packet.payload.begin(), packet->packet.payload.end()}});
    inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<long>(packet->consumed));
  }
}

bool ScriptedServer::run_step(const Step& step) {
  switch (step.kind) {
    case Step::Kind::send: send_packet(step.bytes); return true;
    case Step::Kind::send_raw: send_bytes(step.bytes); return true;
    case Step::Kind::call: step.action(*this); return true;
    case Step::Kind::close: conn_.close(); return true;
    case Step::Kind::stall: next_step_ = script_.size(); return false;
    case Step::Kind::start_tls: {
      if (!tls_started_) {
        tls_started_ = true;
        SSL* ssl = SSL_new(step.tls_ctx);
        SSL_set_accept_state(ssl);
        std::vector<uint8_t> early = std::move(inbox_);
        inbox_.clear();
        conn_.start_tls(ssl, early);
      }
      return tls_done_;
    }
    case Step::Kind::expect: {
      std::vector<uint8_t> scratch;
      auto packet = protocol::decode_packet(inbox_, kMaxPacket, scratch);
      if (!packet) {
        if (packet.error() != protocol::ProtoErr::need_more) fail_step("bad frame: " + packet.error().message());
        return false;
      }
      ReceivedPacket got{packet->packet.seq_id, {packet->packet.payload.begin(), packet->packet.payload.end()}};
      next_seq_ = static_cast<uint8_t>(packet->packet.last_seq_id + 1);
      inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<long>(packet->consumed));
      received_.push_back(got);
      std::string why = step.check(got);
      if (!why.empty()) fail_step(why);
      return why.empty();
    }
  }
  return false;
}

void ScriptedServer::fail_step(const std::string& why) {
  if (!error_.empty()) return;
  const std::string name = next_step_ < script_.size() ? script_[next_step_].name : "after the script";
  error_ = "step " + std::to_string(next_step_) + " (" + name + "): " + why;
}

void ScriptedServer::send_packet(std::span<const uint8_t> payload) {
  std::vector<uint8_t> frames;
  next_seq_ = protocol::encode_packet(payload, next_seq_, frames);
  conn_.write(frames);
}

void ScriptedServer::send_bytes(std::span<const uint8_t> bytes) { conn_.write(bytes); }

void ScriptedServer::on_data(Transport&, std::span<const uint8_t> data) {
  inbox_.insert(inbox_.end(), data.begin(), data.end());
  advance();
}

void ScriptedServer::on_error(Transport&, int code, const std::string& detail) {
  client_gone_ = true;
  if (next_step_ < script_.size()) fail_step("the connection ended (" + std::to_string(code) + ", " + detail + ")");
}

void ScriptedServer::on_tls_ready(Transport&) {
  tls_done_ = true;
  advance();
}

void ScriptedServer::on_closed(Transport&) { conn_closed_ = true; }

void ScriptedServer::close() {
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_),
             [](uv_handle_t* h) { static_cast<ScriptedServer*>(h->data)->listener_closed_ = true; });
  }
  conn_.close();
}

bool ScriptedServer::closed() const { return listener_closed_ && conn_closed_; }

protocol::HandshakeV10 make_greeting(std::string_view plugin, bool offer_tls) {
  namespace cap = protocol::cap;
  protocol::HandshakeV10 hs;
  hs.server_version = "8.0.36-scripted";
  hs.connection_id = 42;
  for (uint8_t i = 0; i < hs.nonce.size(); ++i) hs.nonce[i] = static_cast<uint8_t>(i + 1);
  hs.capabilities = cap::kProxyServerDefault | (offer_tls ? cap::kSsl : 0);
  hs.collation = 255;
  hs.status_flags = protocol::status::kAutocommit;
  hs.auth_plugin_name = std::string(plugin);
  return hs;
}

std::vector<uint8_t> greeting_payload(const protocol::HandshakeV10& hs) {
  std::vector<uint8_t> out;
  protocol::ByteWriter w(out);
  protocol::encode_handshake_v10(hs, w);
  return out;
}

std::vector<uint8_t> ok_payload(uint16_t status_flags) {
  std::vector<uint8_t> out;
  protocol::ByteWriter w(out);
  protocol::OkPacket ok;
  ok.status_flags = status_flags;
  protocol::encode_ok(ok, protocol::cap::kProtocol41, w);
  return out;
}

std::vector<uint8_t> err_payload(uint16_t code, std::string_view sql_state, std::string_view message) {
  std::vector<uint8_t> out;
  protocol::ByteWriter w(out);
  protocol::encode_err({code, sql_state, message}, protocol::cap::kProtocol41, w);
  return out;
}

std::vector<uint8_t> auth_switch_payload(std::string_view plugin, std::span<const uint8_t> nonce) {
  std::vector<uint8_t> out;
  protocol::ByteWriter w(out);
  std::string data(nonce.begin(), nonce.end());
  data.push_back('\0');
  protocol::encode_auth_switch_request({std::string(plugin), data}, w);
  return out;
}

std::vector<uint8_t> auth_more_data_payload(std::span<const uint8_t> data) {
  std::vector<uint8_t> out;
  protocol::ByteWriter w(out);
  protocol::encode_auth_more_data({std::string(data.begin(), data.end())}, w);
  return out;
}

std::vector<uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

}  // namespace camproxy::proxy::testing
