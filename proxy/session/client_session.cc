#include "proxy/session/client_session.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "protocol/constants.h"
#include "proxy/config/listen_policy.h"
#include "proxy/net/packet_out.h"
#include "proxy/net/peer_identity.h"
#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;

// Time a closing session gets to flush its last bytes (a final ERR, the reply before COM_QUIT)
// to a client that stopped reading.
constexpr uint64_t kCloseAfterWriteTimeoutMs = 2000;

}  // namespace

ClientSession::ClientSession(SessionEnv& env) : env_(env), client_(*this) {
  uv_timer_init(env_.loop(), &timer_);
  timer_.data = this;
}

ClientSession::~ClientSession() = default;

bool ClientSession::adopt(int fd, const ListenAddress& listener) {
  int rc = listener.is_unix ? client_.init_pipe(env_.loop()) : client_.init_tcp(env_.loop());
  if (rc == 0) rc = listener.is_unix ? uv_pipe_open(client_.pipe(), fd) : uv_tcp_open(client_.tcp(), fd);
  if (rc != 0) ::close(fd);  // the handle did not take it
  return attached(rc, listener);
}

// The client's socket is this session's (rc == 0) or not: then everything is closed again.
bool ClientSession::attached(int rc, const ListenAddress& listener) {
  const bool is_unix = listener.is_unix;
  if (rc != 0) {
    if (rc != UV_EAGAIN) log_warn("accept_failed", {{"error", uv_strerror(rc)}});
    transition(State::closing);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_timer_closed);
    client_.close();
    return false;
  }
  if (!is_unix) uv_tcp_nodelay(client_.tcp(), 1);
  // A loopback listener's peers are local by construction (no getpeername per connection).
  if (!is_unix && !is_loopback_host(listener.tcp.host)) {
    sockaddr_storage peer{};
    int len = sizeof peer;
    // A peer whose address cannot be read is treated as remote: it must use TLS.
    remote_peer_ =
        uv_tcp_getpeername(client_.tcp(), reinterpret_cast<sockaddr*>(&peer), &len) != 0 || !is_loopback_peer(peer);
  }
  if (!listener.allowed_peer_uids.empty()) {
    uv_os_fd_t fd = -1;
    auto uid = uv_fileno(reinterpret_cast<uv_handle_t*>(client_.stream()), &fd) == 0 ? peer_uid(fd) : std::nullopt;
    const auto& allowed = listener.allowed_peer_uids;
    if (!uid) {
      refused_peer_ = "unknown";
    } else if (std::find(allowed.begin(), allowed.end(), *uid) == allowed.end()) {
      refused_peer_ = std::to_string(*uid);
    }
  }
  return true;
}

void ClientSession::start() {
  connection_id_ = env_.next_connection_id();
  accepted_at_ = std::chrono::steady_clock::now();
  idle_since_ms_ = uv_now(env_.loop());
  process_metrics().counter(MetricId::client_connections_total).inc();
  process_metrics().gauge(MetricId::client_connections_open).add();
  // A refusal instead of a hang (issue 7): the ERR takes the greeting's place.
  if (!env_.admit_client()) {
    fail(ClientError::too_many_clients);
    return;
  }
  if (refused_peer_) {  // the ERR takes the greeting's place
    log_warn("peer_refused", {{"conn", connection_id_}, {"state", to_string(state_)}, {"uid", *refused_peer_}});
    fail(ClientError::peer_refused, *refused_peer_);
    return;
  }
  env_.login_started(this);
  local_users_ = env_.local_users();
  log_debug("client_connected", {{"conn", connection_id_}, {"state", to_string(state_)}, {"worker", env_.index()}});
  client_.start_reading();
  if (env_.profile()) {
    send_greeting();
    return;
  }
  // The first session learns what to mirror from a database greeting; that connection then
  // serves it, logging in once the client has.
  dial_upstream();
}

std::string_view to_string(ClientSession::State s) {
  using State = ClientSession::State;
  switch (s) {
    case State::wait_profile: return "wait_profile";
    case State::client_login: return "client_login";
    case State::wait_upstream: return "wait_upstream";
    case State::upstream_login: return "upstream_login";
    case State::prepare: return "prepare";
    case State::relay: return "relay";
    case State::reconnecting: return "reconnecting";
    case State::detaching: return "detaching";
    case State::detached: return "detached";
    case State::attaching: return "attaching";
    case State::closing_after_write: return "closing_after_write";
    case State::closing: return "closing";
  }
  return "?";
}

// The session's life in one place (docs/architecture.md draws it).
bool ClientSession::legal_transition(State from, State to) {
  if (from == State::closing) return false;
  if (to == State::closing_after_write || to == State::closing) return true;  // any failure, any close
  switch (from) {
    case State::wait_profile: return to == State::client_login;
    case State::client_login: return to == State::wait_upstream;
    // wait_upstream again: a 1045 retry with a refreshed token, or a pooled connection that died.
    // relay: a connection taken while its reset runs (the client's OK needs no answer first).
    // detached: --pool-mode transaction's login answered without a connection.
    case State::wait_upstream:
      return to == State::upstream_login || to == State::prepare || to == State::wait_upstream || to == State::relay ||
             to == State::detached;
    case State::upstream_login: return to == State::relay || to == State::wait_upstream;
    case State::prepare: return to == State::relay || to == State::wait_upstream;
    case State::relay:
      return to == State::prepare || to == State::reconnecting || to == State::relay || to == State::detaching ||
             to == State::detached;
    case State::reconnecting: return to == State::relay || to == State::reconnecting;
    case State::detaching: return to == State::detached;
    case State::detached: return to == State::attaching;
    case State::attaching: return to == State::relay || to == State::detached;  // detached: error 9008
    case State::closing_after_write:
    case State::closing: return false;
  }
  return false;
}

void ClientSession::transition(State next) {
  if (!legal_transition(state_, next)) {
    log_error("session_bad_transition",
              {{"conn", connection_id_}, {"from", to_string(state_)}, {"to", to_string(next)}});
  }
  log_debug("session_state", {{"conn", connection_id_}, {"from", to_string(state_)}, {"to", to_string(next)}});
  state_ = next;
}

// The ERR of `kind` with this session's account, user and target in its text; every ERR of
// camproxy's own a session sends is made here, so it is counted here.
OwnedErr ClientSession::client_error(ClientError kind, std::string_view detail) const {
  if (auto code = error_code_label(kind)) process_metrics().counter(MetricId::client_errors, *code).inc();
  const TargetConfig& c = env_.config();
  const std::string upstream = c.upstream.to_string();
  return make_client_error(kind, {account_, c.instance_id, c.region, upstream, detail, user_});
}

void ClientSession::fail(ClientError kind, std::string_view detail) {
  const auto reason = login_failure_reason(kind);
  if (reason && !logged_in()) process_metrics().counter(MetricId::client_connections_failed, *reason).inc();
  auto err = client_error(kind, detail);
  log_info("client_login_failed", {{"conn", connection_id_},
                                   {"state", to_string(state_)},
                                   {"user", user_},
                                   {"code", err.code},
                                   {"message", err.message}});
  send_error_and_close(err.view());
}

void ClientSession::send_error_and_close(const protocol::ErrPacket& err, bool protocol41) {
  if (state_ == State::closing || state_ == State::closing_after_write) return;
  const bool mid_tls_handshake =
      state_ == State::client_login && login_.state() == protocol::ServerHandshakeState::tls_handshake;
  stop_waiting_for_token();
  transition(State::closing_after_write);
  // Mid-TLS-handshake there is no channel for an ERR (plaintext would corrupt the handshake,
  // SSL_write cannot run before it completes): close, as a MySQL server does.
  if (!mid_tls_handshake) {
    // Before the greeting the ERR takes its place (seq 0), as a server refusing a connection
    // does. It keeps its SQLSTATE even then: PyMySQL always skips 6 bytes of '#' + state.
    const uint8_t seq = client_seq_;
    send_err(client_, seq, err, protocol41 ? cap::kProtocol41 : 0);
    if (state_ == State::closing) return;  // the write failed and on_error finished the session
  }
  close_after_write();
}

// The one way a session ends gracefully: what is queued for the client is written first (for at
// most kCloseAfterWriteTimeoutMs), then finish(). The database connection is released now.
void ClientSession::close_after_write() {
  transition(State::closing_after_write);
  release_upstream();
  if (!client_.has_pending_writes()) {
    finish();
    return;
  }
  client_.stop_reading();
  arm(Deadline::close_after_write, kCloseAfterWriteTimeoutMs);
}

void ClientSession::on_error(Transport&, int code, const std::string& detail) {
  if (code == UV_EOF) {
    log_debug("client_disconnected", {{"conn", connection_id_}, {"state", to_string(state_)}});
  } else {
    log_info("client_connection_error", {{"conn", connection_id_}, {"state", to_string(state_)}, {"error", detail}});
  }
  // A login ending here was not counted by fail(): once fail() has queued its ERR the session
  // is closing, and a logged-in session (relaying, applying a COM_CHANGE_USER) is no login.
  const bool logging_in = !logged_in() && state_ != State::closing_after_write && state_ != State::closing &&
                          !(prep_ && prep_->purpose() == ConnectionPrep::Purpose::change_user);
  if (logging_in) {
    const bool in_tls =
        state_ == State::client_login && login_.state() == protocol::ServerHandshakeState::tls_handshake;
    process_metrics()
        .counter(MetricId::client_connections_failed, in_tls ? ClientFailure::client_tls : ClientFailure::client_closed)
        .inc();
  }
  finish();
}

// One handle serves the session's deadlines: they never overlap, and a new one replaces the last.
void ClientSession::arm(Deadline deadline, uint64_t ms) {
  armed_ = deadline;
  uv_timer_start(&timer_, on_timer, ms, 0);
}

void ClientSession::disarm() {
  armed_ = Deadline::none;
  uv_timer_stop(&timer_);
}

void ClientSession::on_timer(uv_timer_t* t) {
  auto* self = static_cast<ClientSession*>(t->data);
  const Deadline expired = std::exchange(self->armed_, Deadline::none);
  switch (expired) {
    case Deadline::none: return;
    case Deadline::handshake: self->fail(ClientError::handshake_timeout); return;
    case Deadline::pool_wait:  // a cleanup hangs on the database: this client dials (or borrows)
      self->stop_waiting_for_pool();
      self->dial_or_borrow();
      return;
    case Deadline::borrow: self->on_borrow_timeout(); return;
    case Deadline::reconnect_backoff: self->reconnect(); return;
    case Deadline::close_after_write: self->finish(); return;
    case Deadline::idle: self->on_idle_timeout(); return;
  }
}

void ClientSession::shutdown() { finish(); }

SessionSnapshot ClientSession::snapshot(std::chrono::steady_clock::time_point now) {
  SessionSnapshot out;
  out.id = connection_id_;
  out.user = user_;
  out.account = account_;
  out.peer = "unix";
  out.state = to_string(state_);
  out.in_transaction = tracker_ && tracker_->in_transaction();
  out.age_seconds = std::chrono::duration<double>(now - accepted_at_).count();
  out.bytes_from_client = client_.bytes_in();
  out.bytes_to_client = client_.bytes_out();
  if (client_.stream()->type == UV_TCP) {
    sockaddr_storage peer{};
    int len = sizeof peer;
    const bool known = uv_tcp_getpeername(client_.tcp(), reinterpret_cast<sockaddr*>(&peer), &len) == 0;
    out.peer = known ? peer_address_text(peer) : "unknown";
  }
  if (upstream_ != nullptr && upstream_->thread_id() != 0) out.thread_id = upstream_->thread_id();
  if (pooled_) {
    out.pool_caps = pooled_->key.caps;
    out.pool_mariadb_caps = pooled_->key.mariadb_caps;
  }
  return out;
}

// A login that already failed (its ERR queued) is closing anyway.
void ClientSession::crowd_out() {
  if (state_ == State::wait_profile || state_ == State::client_login) fail(ClientError::too_many_logins);
}

// Past the client's login: relaying, or between commands under --pool-mode transaction.
bool ClientSession::logged_in() const {
  return state_ == State::relay || state_ == State::reconnecting || state_ == State::detaching ||
         state_ == State::detached || state_ == State::attaching;
}

bool ClientSession::idle_outside_transaction() const {
  if (state_ == State::detached) return true;
  return state_ == State::relay && tracker_ && tracker_->idle() && !tracker_->in_transaction() && framer_.at_boundary();
}

void ClientSession::drain() {
  process_draining_ = true;
  if (idle_outside_transaction()) {
    log_info("session_drained", {{"conn", connection_id_}, {"state", to_string(state_)}});
    finish();
  }
}

void ClientSession::finish() {
  if (state_ == State::closing) return;
  if (connection_id_ != 0) {
    process_metrics().gauge(MetricId::client_connections_open).sub();
    env_.login_finished(this);
    env_.client_gone();
  }
  stop_waiting_for_token();
  stop_waiting_for_pool();
  stop_borrowing();
  release_upstream();
  set_pinned(false);
  set_shared(false);
  transition(State::closing);
  if (registry_entry_) env_.sessions().remove(registry_entry_);
  env_.on_session_closed(this);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_timer_closed);
  client_.close();
}

void ClientSession::on_timer_closed(uv_handle_t* h) {
  auto* self = static_cast<ClientSession*>(h->data);
  self->timer_closed_ = true;
  self->maybe_delete();
}

void ClientSession::on_closed(Transport&) {
  client_closed_ = true;
  maybe_delete();
}

void ClientSession::maybe_delete() {
  if (client_closed_ && timer_closed_) delete this;
}

}  // namespace camproxy::proxy
