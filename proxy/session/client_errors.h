#pragma once
// Every ERR packet camproxy itself sends to an application comes from this one table
// (STYLE.md "Errors"): a kind, the MySQL code and SQLSTATE the application's driver reacts to,
// and a message naming the account, the instance, the cause and what to do next.
// Nothing secret goes in: `detail` carries CAM's error code and message or a server's error.
// Each row also names the reason label camproxy_client_connections_failed_total counts the kind
// under (metrics.h ClientFailure); the table is indexed by the kind, checked at compile time.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/ok_err_eof.h"
#include "proxy/ops/metrics.h"

namespace camproxy::proxy {

enum class ClientError {
  cam_rejected,            // CAM refused the credentials or the account (user-notification)
  cam_unavailable,         // CAM failed transiently and no valid token is cached
  cam_rate_limited,        // the login needs a CAM call and the process-wide limit has none to spare
  upstream_unreachable,    // TCP connect / DNS / timeout towards the database
  upstream_tls,            // TLS to the database failed or was required but not offered
  upstream_auth_rejected,  // the database refused the CAM token (after one refresh)
  upstream_protocol,       // the database spoke something camproxy cannot follow
  upstream_unsafe_auth,    // the database asked for the token itself over a hop that does not authenticate it
  no_account,              // --db-user '*' and the client sent no user name
  user_not_mapped,         // the target has an account map without this user
  compression_refused,     // the client asked for compression, which camproxy never offers
  old_auth_protocol,       // pre-4.1 client or mysql_old_password
  bad_handshake,           // malformed login packet
  handshake_timeout,       // the client did not finish its login in time
  packet_too_large,        // a login packet above the pre-authentication limit
  tls_not_offered,         // SSLRequest while camproxy offers no TLS
  no_connection_free,      // --pool-max open, none free within --pool-borrow-timeout (or --pool-max-waiters wait)
  too_many_clients,        // --max-client-connections reached
  too_many_logins,         // --max-logins-in-progress reached: the oldest login is closed
  lost_during_command,     // the database connection died while a command was running
  lost_with_state,         // it died between commands, with state that cannot be re-created
  unsupported_command,     // KILL USER, KILL QUERY ID, a COM_CHANGE_USER camproxy refuses (another account, ...)
  unknown_thread,          // KILL of an id naming no session (greeting id or current thread id) of this target
  kill_refused,            // the database refused a KILL (the target ended, or belongs to another account)
  kill_denied,             // KILL of a session another user (the client's login user name) opened
  peer_refused,            // the unix-socket peer's uid is not on --allow-peer-uid
  local_auth_denied,       // local authentication: unknown user or wrong password
  too_many_statements,     // --pool-mode transaction: a prepare beyond the client's statement limit
  unknown_statement,       // --pool-mode transaction: a statement command naming no statement of the client
  tls_required,            // a login from another host without TLS (keep last: kClientErrorCount)
};
inline constexpr size_t kClientErrorCount = static_cast<size_t>(ClientError::tls_required) + 1;

struct ClientErrorContext {
  std::string_view account;
  std::string_view instance;
  std::string_view region;
  std::string_view upstream;
  std::string_view detail;
  std::string_view user;  // the user name the client sent
};

// An ERR packet's fields, owning its text (protocol::ErrPacket only views).
struct OwnedErr {
  uint16_t code = 0;
  std::string sql_state;
  std::string message;
  protocol::ErrPacket view() const { return {code, sql_state, message}; }
};

OwnedErr make_client_error(ClientError kind, const ClientErrorContext& ctx);

// The reason a login ended by this kind is counted under, or nullopt for a kind only ever
// answered to a logged-in client's command (it ends no login). The caller decides whether the
// session was still logging in when it failed.
std::optional<ClientFailure> login_failure_reason(ClientError kind);

// The code label camproxy_client_errors_total counts an ERR of this kind under (metrics.h
// ClientErrCode); nullopt for a code missing there (the table's test fails on one).
std::optional<ClientErrCode> error_code_label(ClientError kind);

}  // namespace camproxy::proxy
