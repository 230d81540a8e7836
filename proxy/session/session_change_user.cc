// ClientSession answering a client's COM_CHANGE_USER (spec §2.7; mysqli persistent connections
// send it on every reuse, mysql2 on changeUser()). camproxy accepts any password as at login and
// does not log in again: the database connection is reset (§5.1) and given the new schema and
// character set. Where the server refuses COM_RESET_CONNECTION, COM_CHANGE_USER with the
// current CAM token cleans it instead (§5.2): the ConnectionPrep the pool uses too
// (session_prep.cc drives it).
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
  client_seq_ = 1;
  transition(State::prepare);
  client_.stop_reading();
  // Cleaned (a reset, or COM_CHANGE_USER with the token where the server refuses it, §5.2),
  // then fixed up to the new profile. A reset keeps the schema (§5.1): the one the client left.
  UpstreamPool& pool = env_.pool();
  SessionProfile have = pooled_->profile;
  have.schema = replay_.schema;
  start_prep(ConnectionPrep::Purpose::change_user,
             {.profile = std::move(have),
              .login_collation = pooled_->login_collation,
              .last_look = pooled_->last_look,
              .reset_refused = pool.reset_refused(),
              .reset_collation = pool.reset_collation(),
              .schema_known = true,
              .role_may_be_set = role_may_be_set_},
             {.profile = wanted_profile(), .replayed_sets = {}, .autocommit_off = false});
}

}  // namespace camproxy::proxy
