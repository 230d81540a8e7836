// ClientSession's idle timeout (issue 16): a session idle past its wait_timeout between
// commands is closed the way the server closes it, instead of being reconnected unseen when the
// server closes the database connection under it.
//
// What holds: the server's idle clock runs from its reply until the next command, so the
// session's runs from the end of the last response (the tracker idle, the framer between
// commands) and stops while a command is in flight. It shares the session's one timer (the
// relay has no other deadline): a uv_timer_start per response, and no timer for a session
// whose client set no wait_timeout. Its database connection has the server's default itself
// (the global wait_timeout, which the pool reads): the server's own close of it after that long
// idle is the signal, and the client is closed then instead of reconnected
// (docs/architecture.md "Idle timeouts").
#include <sys/socket.h>

#include <charconv>

#include "proxy/ops/log.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

// An upstream loss this close to the session's wait_timeout is the server's close for it: its
// clock started at its reply, a little before camproxy's did.
constexpr uint64_t kIdleCloseMarginMs = 500;

}  // namespace

void ClientSession::arm_idle() {
  if (client_wait_timeout_ && (state_ == State::relay || state_ == State::detached)) {
    arm(Deadline::idle, uint64_t{*client_wait_timeout_} * 1000);
    return;
  }
  // Without a connection no server closes the session for the default wait_timeout: camproxy does.
  const auto server = env_.pool().wait_timeout();
  if (state_ == State::detached && server) arm(Deadline::idle, static_cast<uint64_t>(server->count()) * 1000);
}

void ClientSession::idle_command_started() {
  if (armed_ == Deadline::idle) disarm();
  // A command without a reply (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA) leaves the session idle.
  if (!tracker_->last_command().expects_response && tracker_->idle()) arm_idle();
}

// Called before the response's effects are consumed: a SET of wait_timeout that succeeded
// (SessionEffects::wait_timeout, sql_classifier.h) or COM_RESET_CONNECTION (back to the default)
// applies to the idle time that starts now.
void ClientSession::idle_response_ended() {
  if (!pending_effects_.empty() && !tracker_->last_response().error) {
    const CommandEffects& fx = pending_effects_.front();
    if (fx.reset) {  // the global wait_timeout again
      client_wait_timeout_.reset();
      wait_timeout_lookup_ = WaitTimeoutLookup::none;
    }
    if (const auto& change = fx.sql.wait_timeout) {
      wait_timeout_lookup_ = WaitTimeoutLookup::none;
      if (change->kind == WaitTimeoutSet::Kind::seconds) {
        client_wait_timeout_ = change->seconds;
      } else {
        client_wait_timeout_.reset();  // DEFAULT: the server's default again
        // An expression (2*1, @x): the server's value is asked for once the session is idle.
        if (change->kind == WaitTimeoutSet::Kind::unknown) wait_timeout_lookup_ = WaitTimeoutLookup::due;
      }
    }
  }
  if (tracker_->idle() && framer_.at_boundary()) {
    idle_since_ms_ = uv_now(env_.loop());
    arm_idle();
  }
}

// Runs a due lookup of the session's wait_timeout, between commands only (called once the bytes
// of a response, or the login, are relayed): the client is not read until the answer is in, so
// nothing is pipelined behind it. A CLIENT_INTERACTIVE client's login first gets the server's
// rule for such a login: wait_timeout = interactive_timeout (MariaDB 10.11 applies it at login
// only: not after COM_RESET_CONNECTION or COM_CHANGE_USER, nor for SET interactive_timeout).
bool ClientSession::look_up_wait_timeout_when_idle() {
  const bool due =
      wait_timeout_lookup_ == WaitTimeoutLookup::due || wait_timeout_lookup_ == WaitTimeoutLookup::interactive_login;
  if (!due || state_ != State::relay || !tracker_->idle() || !framer_.at_boundary() || !upstream_->at_rest())
    return false;
  std::vector<InternalCommand> cmds;
  if (wait_timeout_lookup_ == WaitTimeoutLookup::interactive_login)
    cmds.push_back(make_query("SET SESSION wait_timeout = @@global.interactive_timeout"));
  cmds.push_back(make_query("SELECT @@session.wait_timeout", true));
  lookup_sets_interactive_ = wait_timeout_lookup_ == WaitTimeoutLookup::interactive_login;
  wait_timeout_lookup_ = WaitTimeoutLookup::running;
  if (armed_ == Deadline::idle) disarm();
  client_.stop_reading();
  upstream_->run_commands(cmds);
  return true;
}

void ClientSession::wait_timeout_looked_up(const std::vector<InternalResult>& results) {
  wait_timeout_lookup_ = WaitTimeoutLookup::none;
  const std::optional<std::string> value =
      results.empty() || !results.back().ok ? std::nullopt : results.back().column(0);
  uint32_t seconds = 0;
  const bool known = value && !value->empty() &&
                     std::from_chars(value->data(), value->data() + value->size(), seconds).ec == std::errc{};
  if (known) {
    client_wait_timeout_ = seconds;
    // A replacement connection (session_reconnect.cc) gets the same.
    if (lookup_sets_interactive_) replay_.sets.push_back("SET SESSION wait_timeout = " + std::to_string(seconds));
  } else {
    log_warn("wait_timeout_unknown", {{"conn", connection_id_}, {"state", to_string(state_)}});
  }
  idle_since_ms_ = uv_now(env_.loop());
  arm_idle();
  client_.start_reading();
  if (!held_client_bytes_.empty()) {
    const std::vector<uint8_t> held = std::move(held_client_bytes_);
    held_client_bytes_.clear();
    relay_from_client(held);
    return;
  }
  maybe_detach();  // --pool-mode transaction: the connection can be shared now
}

// Whether a database connection lost now was closed by the server's wait_timeout: the client's
// own (its timer about to fire), or the server's default for a client that set none.
bool ClientSession::idle_timeout_due() const {
  if (client_wait_timeout_) return armed_ == Deadline::idle && uv_timer_get_due_in(&timer_) <= kIdleCloseMarginMs;
  const auto server = env_.pool().wait_timeout();
  if (!server || !tracker_ || !tracker_->idle() || !framer_.at_boundary()) return false;
  const uint64_t idle_ms = uv_now(env_.loop()) - idle_since_ms_;
  return idle_ms + kIdleCloseMarginMs >= static_cast<uint64_t>(server->count()) * 1000;
}

// MariaDB 10.11 ends a connection idle past its wait_timeout with a TCP reset and no ERR (MySQL
// 8.0.24+ would send ER_CLIENT_INTERACTION_TIMEOUT 4031 first): the client reads ECONNRESET,
// as directly. A unix socket is simply closed.
void ClientSession::close_idle_session() {
  const auto server = env_.pool().wait_timeout();
  const uint64_t seconds = client_wait_timeout_ ? *client_wait_timeout_ : server ? server->count() : 0;
  log_info("session_idle_timeout", {{"conn", connection_id_},
                                    {"state", to_string(state_)},
                                    {"wait_timeout", seconds},
                                    {"set_by_client", client_wait_timeout_.has_value()}});
  uv_os_fd_t fd = -1;
  if (client_.stream()->type == UV_TCP && uv_fileno(reinterpret_cast<uv_handle_t*>(client_.stream()), &fd) == 0) {
    const linger reset{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
  finish();
}

void ClientSession::on_idle_timeout() {
  if (state_ == State::detached) {
    close_idle_session();
    return;
  }
  // The timer is stopped when a command starts; a session preparing (COM_CHANGE_USER) or
  // reconnecting is not idle, and a client that sent part of a command is in one.
  if (state_ != State::relay || !tracker_->idle() || !framer_.at_boundary()) return;
  close_idle_session();
}

}  // namespace camproxy::proxy
