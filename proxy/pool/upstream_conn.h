#pragma once
// One connection to the database, from TCP connect through the client side of the MySQL
// handshake (TLS, any auth plugin the server asks for) to a logged-in byte stream.
//
// It drives protocol::ClientAuth (protocol/client_auth.h), which makes every decision of the
// login and of COM_CHANGE_USER: this class moves its bytes, runs the TLS handshake it asks for,
// the connect timer and the dial metrics, and reports the outcome to the Owner.
//
// It is a heap object that deletes itself: whoever holds it calls close() to give it up and
// never touches it again. Until then it reports to its Owner, exactly once, either
// on_upstream_failed() or (after login) relay events.
#include <openssl/ssl.h>
#include <uv.h>

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "auth/secret.h"
#include "protocol/client_auth.h"
#include "protocol/connect_attrs.h"
#include "protocol/handshake_v10.h"
#include "proxy/config/config.h"
#include "proxy/net/packet_inbox.h"
#include "proxy/net/transport.h"
#include "proxy/pool/command_replies.h"
#include "proxy/pool/conn_statements.h"

namespace camproxy::proxy {

struct UpstreamFailure {
  // unsafe_auth: the database asked for the token itself over a hop that does not authenticate
  // it (protocol::ClientAuthFailure::Kind::unsafe_auth); camproxy refused.
  enum class Kind { connect, timeout, tls, protocol, server_error, closed, unsafe_auth };
  Kind kind;
  uint16_t code = 0;      // server_error: the server's error code
  std::string sql_state;  // server_error
  std::string message;    // readable, without secrets
};

struct UpstreamLogin {
  std::string user;
  std::shared_ptr<const auth::SecretString> password;
  uint32_t capabilities = 0;  // the client's bits to mirror (pool-key bits and friends)
  uint8_t collation = 0;
  std::optional<std::string> database;
  protocol::ConnectAttrs attrs;
  uint32_t max_packet_size = 0;
  uint32_t mariadb_capabilities = 0;  // the client's MariaDB extended bits to mirror (pool key)
};

class UpstreamConn final : private Transport::Events {
 public:
  class Owner {
   public:
    virtual void on_upstream_greeting(UpstreamConn& u) = 0;
    // After login() or change_user(): the server's OK.
    virtual void on_upstream_ready(UpstreamConn& u, std::span<const uint8_t> ok_payload) = 0;
    virtual void on_upstream_failed(UpstreamConn& u, const UpstreamFailure& f) = 0;
    virtual void on_upstream_data(UpstreamConn& u, std::span<const uint8_t> data) = 0;
    virtual void on_upstream_drained(UpstreamConn& u) = 0;
    virtual void on_upstream_commands_done(UpstreamConn& u, const std::vector<InternalResult>& results) = 0;

   protected:
    ~Owner() = default;
  };

  struct Settings {
    const TargetConfig* config;
    SSL_CTX* tls_ctx;  // null when --upstream-tls=disable
  };

  static UpstreamConn* create(uv_loop_t* loop, const Settings& settings, Owner* owner);

  // Resolves, connects and reads the greeting; then on_upstream_greeting().
  void connect();
  // After the greeting: logs in; then on_upstream_ready() or on_upstream_failed().
  void login(UpstreamLogin params);

  // After login: camproxy's own commands, pipelined; then on_upstream_commands_done().
  void run_commands(const std::vector<InternalCommand>& commands);

  // At rest: COM_CHANGE_USER to the login's account with `password` (a fresh CAM token) and no
  // schema, answering whatever auth the server asks (spec §5.2); then on_upstream_ready() or
  // on_upstream_failed() (the server closes the connection after a refusal).
  void change_user(std::shared_ptr<const auth::SecretString> password);

  // The holder changes (session <-> pool); the new owner gets every later event.
  void set_owner(Owner* owner) { owner_ = owner; }
  const protocol::HandshakeV10& greeting() const { return auth_.greeting(); }
  // The database's id of this connection (its CONNECTION_ID()), for KILL (§7.3).
  uint32_t thread_id() const { return auth_.greeting().connection_id; }
  uint32_t capabilities() const { return auth_.capabilities(); }                  // negotiated at login
  uint32_t mariadb_capabilities() const { return auth_.mariadb_capabilities(); }  // likewise
  bool tls_on() const { return transport_.tls_on(); }
  // Logged in and not running camproxy's own commands: safe to hand over or reset.
  bool at_rest() const { return state_ == State::ready; }
  // The greeting is in and login() is awaited (on_upstream_greeting() has been called).
  bool awaiting_login() const {
    return state_ == State::handshake && auth_.state() == protocol::ClientAuth::State::greeted;
  }

  // Relay phase. Also while camproxy's own commands run (a client's first command behind a
  // handed-over cleanup, UpstreamPool::take_returning): the replies after theirs are the
  // owner's, passed on right after on_upstream_commands_done().
  void write(std::span<const uint8_t> data);
  // The owner's bytes went out behind camproxy's commands still running.
  bool relay_behind_commands() const { return relay_behind_commands_; }
  bool has_pending_writes() const { return transport_.has_pending_writes(); }
  void start_reading() { transport_.start_reading(); }
  void stop_reading() { transport_.stop_reading(); }

  // --pool-mode transaction: the sessions' prepared statements on this connection.
  ConnStatements& statements() { return statements_; }

  void close();
  // close(), saying COM_QUIT first when at rest, so the server counts an orderly logout and not
  // an aborted client.
  void quit();

 private:
  enum class State {
    resolving,   // getaddrinfo running
    connecting,  // TCP connect running
    handshake,   // connected, not yet logged in: auth_.state() says which step (greeting,
                 // greeted and waiting for login(), TLS handshake running, auth exchange)
    reauth,      // logged in, COM_CHANGE_USER sent; auth_ runs the exchange until OK/ERR
    ready,       // logged in: bytes go to the owner
    commands,    // camproxy's own commands running: replies are read here, not relayed
    failed,      // reported to the owner; waiting for close()
    closing,     // handles closing; deletes itself when both are closed
  };

  UpstreamConn(uv_loop_t* loop, const Settings& settings, Owner* owner);
  ~UpstreamConn();

  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res);
  static void on_connected(uv_connect_t* req, int status);
  static void on_timeout(uv_timer_t* t);
  static void on_timer_closed(uv_handle_t* h);

  void start_connect(const sockaddr* addr);
  void arm_timer();
  void read_login_packets();
  void apply(const protocol::ClientAuthStep& step);
  void start_tls();
  void read_command_replies();
  void fail(UpstreamFailure::Kind kind, std::string message, uint16_t code = 0, std::string sql_state = {});
  void maybe_delete();

  // Transport::Events
  void on_data(Transport& t, std::span<const uint8_t> data) override;
  void on_drained(Transport& t) override;
  void on_error(Transport& t, int code, const std::string& detail) override;
  void on_tls_ready(Transport& t) override;
  void on_closed(Transport& t) override;

  uv_loop_t* loop_;
  Settings settings_;
  Owner* owner_;
  State state_ = State::resolving;
  Transport transport_;
  uv_timer_t timer_{};
  uv_getaddrinfo_t resolve_req_{};
  uv_connect_t connect_req_{};
  bool resolving_ = false;
  bool transport_closed_ = false;
  bool timer_closed_ = false;
  PacketInbox inbox_;
  protocol::ClientAuth auth_;
  // The password of the exchange running in auth_, which reads its bytes until OK or ERR.
  std::shared_ptr<const auth::SecretString> password_;
  std::optional<ReplyReader> replies_;
  bool relay_behind_commands_ = false;  // write() while commands ran: their replies are followed
  std::chrono::steady_clock::time_point dial_started_{};
  ConnStatements statements_;
};

std::string_view to_string(UpstreamFailure::Kind kind);

}  // namespace camproxy::proxy
