// ClientSession answering a client's COM_CHANGE_USER (spec §2.7; mysqli persistent connections
// send it on every reuse, mysql2 on changeUser()). camproxy accepts any password as at login and
// does not log in again: the database connection is reset (§5.1) and given the new schema and
// character set. Where the server refuses COM_RESET_CONNECTION, COM_CHANGE_USER with the
// current CAM token cleans it instead (§5.2): the ConnectionPrep the pool uses too
// (session_prep.cc drives it). A client's COM_RESET_CONNECTION takes the same way.
#include "protocol/auth_plugins.h"
#include "protocol/change_user.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {

void ClientSession::change_user(std::span<const uint8_t> payload) {
  auto cmd = protocol::decode_change_user(payload, client_caps_);
  std::string_view refusal;
  if (!cmd)
    refusal = "a malformed COM_CHANGE_USER";
  else if (!tracker_->idle())
    refusal = "COM_CHANGE_USER pipelined behind other commands";
  else if (prep_)  // a handed-over reset still runs (session_prep.cc): its replies are awaited
    refusal = "COM_CHANGE_USER as the first command, while the database connection is being reset; retry it";
  else if (env_.config().account_for(cmd->user) != account_)
    refusal = "COM_CHANGE_USER to another CAM account; open a new connection instead";
  else if (local_users_ && cmd->user != user_)  // its password is not checked here
    refusal = "COM_CHANGE_USER to another user with local authentication; open a new connection instead";
  if (!refusal.empty()) {
    answer_locally(client_error(ClientError::unsupported_command, refusal).view());
    return;
  }
  const std::string plugin = cmd->auth_plugin_name.value_or(std::string(protocol::kNativePassword));
  sha2_fast_ack_ = plugin == protocol::kCachingSha2Password && cmd->auth_response.size() == 32;
  user_ = cmd->user;
  env_.sessions().set_user(registry_entry_, user_);  // whose session it is, for KILL (session_relay.cc)
  database_ = cmd->database.empty() ? std::nullopt : std::optional<std::string>(cmd->database);
  if (cmd->collation) collation_ = static_cast<uint8_t>(*cmd->collation);
  // MariaDB 10.11 leaves no database selected without one, and drops the IGNORE_SPACE the
  // login's CLIENT_IGNORE_SPACE added (the global sql_mode again).
  SessionProfile want = wanted_profile();
  want.ignore_space = false;
  clean_for_client(ClientCleanup::change_user, std::move(want));
}

// A client's COM_RESET_CONNECTION (spec §5.1), answered by camproxy after the same cleanup: the
// database connection's own reset would give back the character set of the connection's login
// (the pool's), where a direct one gives the client's handshake character set. MariaDB 10.11
// keeps the schema, MULTI_STATEMENTS and a role set with SET ROLE, and drops IGNORE_SPACE.
void ClientSession::reset_connection() {
  sha2_fast_ack_ = false;
  SessionProfile want = wanted_profile();
  want.schema = replay_.schema;
  want.ignore_space = false;
  clean_for_client(ClientCleanup::reset, std::move(want));
}

// Cleaned (a reset, or COM_CHANGE_USER with the token where the server refuses it or where only
// it leaves no schema, §5.2), then fixed up to `want`. A reset keeps the schema (§5.1): the one
// the client left, and MULTI_STATEMENTS as the session has it.
void ClientSession::clean_for_client(ClientCleanup cleanup, SessionProfile want) {
  client_cleanup_ = cleanup;
  client_seq_ = 1;
  transition(State::prepare);
  client_.stop_reading();
  UpstreamPool& pool = env_.pool();
  SessionProfile have = pooled_->profile;
  have.schema = replay_.schema;
  have.multi_statements = multi_statements_;
  want.multi_statements = multi_statements_;
  const bool no_schema = !want.schema.has_value();
  start_prep(ConnectionPrep::Purpose::change_user,
             {.profile = std::move(have),
              .login_collation = pooled_->login_collation,
              .last_look = pooled_->last_look,
              .reset_refused = pool.reset_refused(),
              .reset_collation = pool.reset_collation(),
              .schema_known = !schema_uncertain_,
              // A client's own reset keeps its role, as directly.
              .role_may_be_set = role_may_be_set_ && cleanup == ClientCleanup::change_user},
             {.profile = std::move(want), .replayed_sets = {}, .autocommit_off = false, .no_schema = no_schema});
}

}  // namespace camproxy::proxy
