#pragma once
// One application connection: the server side of the MySQL handshake (any password is
// accepted), then a CAM token, then the upstream login, then a byte relay with back-pressure.
//
// A heap object owned by its Worker; it deletes itself after its handles are closed.
#include <uv.h>

#include <memory>
#include <optional>
#include <string>

#include "protocol/auth_plugins.h"
#include "protocol/connect_attrs.h"
#include "proxy/client_errors.h"
#include "proxy/packet_inbox.h"
#include "proxy/token_service.h"
#include "proxy/transport.h"
#include "proxy/upstream_conn.h"

namespace camproxy::proxy {

class Worker;

class ClientSession final : private Transport::Events, private UpstreamConn::Owner {
 public:
  explicit ClientSession(Worker& worker);
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // Accepts the pending connection of `server`; false (and self-cleanup) on failure.
  bool accept(uv_stream_t* server, bool is_unix);
  void start();
  // Worker stopping: close at once.
  void shutdown();
  // Worker: a token snapshot was published while this session waits for one.
  void on_token_published();

 private:
  enum class State {
    wait_profile,    // accepted; the database's greeting is needed to mirror its version
    read_handshake,  // greeting sent; waiting for HandshakeResponse41 or SSLRequest
    tls_handshake,   // SSLRequest received; TLS server handshake running
    read_switch,     // AuthSwitchRequest sent; waiting for the client's auth data
    wait_upstream,   // client accepted; waiting for a token and the upstream's greeting
    upstream_login,  // upstream login running with the token
    relay,           // both sides logged in: bytes flow unchanged
    draining,        // a final ERR is queued; closing once it is written
    closing,         // handles closing; deleted when they are
  };

  ~ClientSession();

  void send_greeting();
  void process_client_packets();
  void handle_handshake_response(std::span<const uint8_t> payload);
  void handle_switch_response(std::span<const uint8_t> payload);
  void client_authenticated();
  void acquire_token();
  void maybe_start_upstream_login();
  void dial_upstream();
  void fail_with_cam_error(const TokenState* state);
  void fail_with_upstream_error(const UpstreamFailure& f);
  void fail(ClientError kind, std::string_view detail = {});
  void send_error_and_close(const protocol::ErrPacket& err, bool protocol41 = true);
  void finish();
  void maybe_delete();
  void stop_waiting_for_token();
  ClientErrorContext error_context(std::string_view detail) const;

  static void on_timer(uv_timer_t* t);
  static void on_timer_closed(uv_handle_t* h);

  // Transport::Events (the client side)
  void on_data(Transport& t, std::span<const uint8_t> data) override;
  void on_drained(Transport& t) override;
  void on_error(Transport& t, int code, const std::string& detail) override;
  void on_tls_ready(Transport& t) override;
  void on_closed(Transport& t) override;

  // UpstreamConn::Owner
  void on_upstream_greeting(UpstreamConn& u) override;
  void on_upstream_ready(UpstreamConn& u, std::span<const uint8_t> ok_payload) override;
  void on_upstream_failed(UpstreamConn& u, const UpstreamFailure& f) override;
  void on_upstream_data(UpstreamConn& u, std::span<const uint8_t> data) override;
  void on_upstream_drained(UpstreamConn& u) override;

  Worker& worker_;
  State state_ = State::wait_profile;
  Transport client_;
  uv_timer_t timer_{};
  bool client_closed_ = false;
  bool timer_closed_ = false;
  UpstreamConn* upstream_ = nullptr;
  bool upstream_greeted_ = false;
  PacketInbox inbox_;
  uint32_t connection_id_ = 0;
  protocol::Nonce nonce_{};
  uint32_t advertised_caps_ = 0;
  uint8_t client_seq_ = 0;  // seq id of the next packet camproxy sends the client
  bool sent_greeting_ = false;

  // From the client's HandshakeResponse41.
  uint32_t client_caps_ = 0;
  uint8_t collation_ = 0;
  uint32_t max_packet_size_ = 0;
  std::string user_;
  std::optional<std::string> database_;
  protocol::ConnectAttrs attrs_;
  std::string switch_plugin_;
  bool sha2_fast_ack_ = false;  // send AuthMoreData 01 03 before the OK (§2.5)

  std::string account_;
  std::shared_ptr<const TokenState> token_;
  bool waiting_for_token_ = false;
  uint64_t seen_generation_ = 0;
  uint64_t rejected_generation_ = 0;  // token the database answered 1045 to
  bool retried_after_1045_ = false;
  std::optional<UpstreamFailure> pending_upstream_failure_;
};

}  // namespace camproxy::proxy
