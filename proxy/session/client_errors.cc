#include "proxy/session/client_errors.h"

#include <array>

namespace camproxy::proxy {
namespace {

struct Row {
  ClientError kind;
  uint16_t code;
  const char* sql_state;
  std::optional<ClientFailure> reason;  // the metric's reason label (login_failure_reason)
  // {account} {instance} {region} {upstream} {detail} are replaced.
  const char* text;
};

// Codes: spec/mysql-protocol.md §2.5, §3.4, §7.1 and the appendix. 1045/28000 makes drivers
// treat CAM and token problems as a normal login failure. Client-library codes (2000-2999,
// e.g. 2003 "Can't connect") cannot be used: MariaDB Connector/C (the 10.11 CLI) rejects an
// ERR packet carrying one as "2027 Received malformed packet". camproxy's own conditions use
// 9001-9008 (ProxySQL uses 9001 the same way) with SQLSTATE 08S01, which drivers such as
// JDBC treat as a connection failure, or 28000 (access denied) for a refused peer.
// Local authentication answers as mysqld does: 1045/28000 naming the user, the same text for
// an unknown user and a wrong password; a login in clear from another host gets mysqld's
// 3159 (ER_SECURE_TRANSPORT_REQUIRED). A login refused by the CAM call limit gets 1226
// (ER_USER_LIMIT_REACHED, "has exceeded a resource"): not 1045, so that nobody takes it for a
// wrong account, and drivers pass it to the application as an ordinary server error.
// Reasons: the session counts a failure only while it is not relaying (ClientSession::fail),
// so lost_during_command and lost_with_state count as upstream only when they end a login
// or a COM_CHANGE_USER's preparation. Kinds answered to a command of a logged-in client, which
// leave its session open, end no login and have no reason.
constexpr std::optional<ClientFailure> kEndsNoLogin = std::nullopt;
using R = ClientFailure;

constexpr std::array<Row, kClientErrorCount> kRows = {{
    {ClientError::cam_rejected, 1045, "28000", R::cam,
     "camproxy: CAM refused to issue a token for account '{account}' of instance {instance} ({region}): {detail}. "
     "Check the SecretId/SecretKey, the CAM policy (cam:BuildDataFlowAuthToken on this account) and that CAM "
     "authentication is enabled for the account"},
    {ClientError::cam_unavailable, 1045, "28000", R::cam,
     "camproxy: no CAM token for account '{account}' of instance {instance} ({region}): {detail}. "
     "The CAM API is unreachable or failing; camproxy retries, try again shortly"},
    {ClientError::cam_rate_limited, 1226, "42000", R::cam,
     "camproxy: the login as account '{account}' of instance {instance} needs a CAM call and camproxy's CAM calls "
     "are at their limit (--cam-rate-limit, --cam-burst). Try again in a few seconds; with --db-user '*' every new "
     "user name costs a call"},
    {ClientError::upstream_unreachable, 9001, "08S01", R::upstream,
     "camproxy: cannot connect to the database {upstream} (instance {instance}): {detail}"},
    {ClientError::upstream_tls, 9002, "08S01", R::upstream,
     "camproxy: TLS to the database {upstream} failed: {detail}. Check --upstream-tls, --upstream-ca-file and "
     "--upstream-server-name"},
    {ClientError::upstream_auth_rejected, 1045, "28000", R::upstream,
     "camproxy: the database {upstream} refused the CAM token of account '{account}' (instance {instance}): "
     "{detail}. Check that CAM authentication is enabled for this account on this instance"},
    {ClientError::upstream_protocol, 9003, "08S01", R::upstream,
     "camproxy: unexpected answer from the database {upstream} during login: {detail}"},
    {ClientError::upstream_unsafe_auth, 9007, "08S01", R::upstream,
     "camproxy: refused to log in to the database {upstream} as account '{account}' (instance {instance}): "
     "{detail}"},
    {ClientError::no_account, 1045, "28000", R::client_protocol,
     "camproxy: no user name given and --db-user is '*' (pass-through): cannot choose a CAM account"},
    {ClientError::user_not_mapped, 1045, "28000", R::client_protocol,
     "camproxy: user '{detail}' is not in the account map of this target (instance {instance}): add it to the "
     "target's accounts in the config file"},
    {ClientError::compression_refused, 1158, "08S01", R::client_protocol,
     "camproxy: compression is not supported; connect without compression"},
    {ClientError::old_auth_protocol, 1251, "08004", R::client_protocol,
     "Client does not support authentication protocol requested by server; consider upgrading MySQL client"},
    {ClientError::bad_handshake, 1043, "08S01", R::client_protocol, "Bad handshake: {detail}"},
    {ClientError::handshake_timeout, 1043, "08S01", R::handshake_timeout,
     "Bad handshake: the login did not complete in time"},
    {ClientError::packet_too_large, 1153, "08S01", R::client_protocol,
     "Got a packet bigger than the login limit: {detail}"},
    {ClientError::tls_not_offered, 1043, "08S01", R::client_protocol,
     "Bad handshake: TLS requested but camproxy offers none"},
    // 9008, not 1040: the application should tell camproxy's own queue from the database's limit.
    {ClientError::no_connection_free, 9008, "08004", R::pool_full,
     "camproxy: no database connection free after waiting {detail}. Retry later, or raise --pool-max (within the "
     "database's max_connections) or --pool-borrow-timeout"},
    {ClientError::too_many_clients, 1040, "08004", R::client_protocol,
     "Too many connections: camproxy serves at most --max-client-connections applications at once"},
    {ClientError::too_many_logins, 1040, "08004", R::client_protocol,
     "Too many connections: more than --max-logins-in-progress applications were logging in at once and this "
     "login was the oldest"},
    {ClientError::lost_during_command, 9004, "08S01", R::upstream,
     "camproxy: lost the connection to the database {upstream} while a command was running ({detail}); it may or "
     "may not have completed. Reconnect"},
    {ClientError::lost_with_state, 9005, "08S01", R::upstream,
     "camproxy: lost the connection to the database {upstream} while the session held state that cannot be "
     "re-created ({detail}). Reconnect"},
    {ClientError::unsupported_command, 1235, "42000", kEndsNoLogin, "camproxy does not support {detail}"},
    {ClientError::unknown_thread, 1094, "HY000", kEndsNoLogin, "Unknown thread id: {detail}"},
    {ClientError::kill_refused, 1095, "HY000", kEndsNoLogin,
     "camproxy: the database refused to kill connection {detail} (it may have ended, or belong to another "
     "account)"},
    // The server's own words (ER_KILL_DENIED_ERROR), with the id the application gave.
    {ClientError::kill_denied, 1095, "HY000", kEndsNoLogin, "You are not owner of thread {detail}"},
    {ClientError::peer_refused, 9006, "28000", R::peer_refused,
     "camproxy: access denied: uid {detail} may not connect through this socket (--allow-peer-uid)"},
    {ClientError::local_auth_denied, 1045, "28000", R::local_auth, "Access denied for user '{user}'"},
    // The server's own words (ER_MAX_PREPARED_STMT_COUNT_REACHED, ER_UNKNOWN_STMT_HANDLER).
    {ClientError::too_many_statements, 1461, "42000", kEndsNoLogin,
     "Can't create more than max_prepared_stmt_count statements (current value: {detail})"},
    {ClientError::unknown_statement, 1243, "HY000", kEndsNoLogin, "Unknown prepared statement handler ({detail})"},
    {ClientError::tls_required, 3159, "HY000", R::client_tls,
     "camproxy: connections from other hosts must use TLS; connect with TLS (e.g. --ssl, ssl-mode=REQUIRED)"},
}};

constexpr bool rows_in_kind_order() {
  for (size_t i = 0; i < kRows.size(); ++i) {
    if (static_cast<size_t>(kRows[i].kind) != i) return false;
  }
  return true;
}
static_assert(rows_in_kind_order(), "kRows must hold one row per ClientError, in the enum's order");

std::string fill(std::string_view text, const ClientErrorContext& ctx) {
  std::string out;
  out.reserve(text.size() + ctx.detail.size() + 64);
  while (!text.empty()) {
    auto open = text.find('{');
    out += text.substr(0, open);
    if (open == std::string_view::npos) break;
    auto close = text.find('}', open);
    std::string_view key = text.substr(open + 1, close - open - 1);
    if (key == "account")
      out += ctx.account;
    else if (key == "instance")
      out += ctx.instance;
    else if (key == "region")
      out += ctx.region;
    else if (key == "upstream")
      out += ctx.upstream;
    else if (key == "detail")
      out += ctx.detail;
    else if (key == "user")
      out += ctx.user;
    text.remove_prefix(close + 1);
  }
  return out;
}

}  // namespace

OwnedErr make_client_error(ClientError kind, const ClientErrorContext& ctx) {
  const Row& row = kRows.at(static_cast<size_t>(kind));
  return OwnedErr{row.code, row.sql_state, fill(row.text, ctx)};
}

std::optional<ClientFailure> login_failure_reason(ClientError kind) {
  return kRows.at(static_cast<size_t>(kind)).reason;
}

std::optional<ClientErrCode> error_code_label(ClientError kind) {
  const std::string code = std::to_string(kRows.at(static_cast<size_t>(kind)).code);
  const auto& values = FixedLabel<ClientErrCode>::kValues;
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].value == code) return static_cast<ClientErrCode>(i);
  }
  return std::nullopt;
}

}  // namespace camproxy::proxy
