// ClientSession answering a client's COM_CHANGE_USER (spec §2.7; mysqli persistent connections
// send it on every reuse, mysql2 on changeUser()). camproxy accepts any password as at login and
// does not log in again: the database connection is reset (§5.1) and given the new schema and
// character set. Where the server refuses COM_RESET_CONNECTION, COM_CHANGE_USER with the
// current CAM token cleans it instead (§5.2), as the pool does.
#include "protocol/auth_plugins.h"
#include "protocol/byte_io.h"
#include "protocol/change_user.h"
#include "protocol/constants.h"
#include "protocol/ok_err_eof.h"
#include "proxy/net/packet_out.h"
#include "proxy/ops/log.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;

}  // namespace

void ClientSession::change_user(std::span<const uint8_t> payload) {
  auto cmd = protocol::decode_change_user(payload, client_caps_);
  std::string_view refusal;
  if (!cmd)
    refusal = "a malformed COM_CHANGE_USER";
  else if (!tracker_->idle())
    refusal = "COM_CHANGE_USER pipelined behind other commands";
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
  database_ = cmd->database.empty() ? std::nullopt : std::optional<std::string>(cmd->database);
  if (cmd->collation) collation_ = static_cast<uint8_t>(*cmd->collation);
  client_seq_ = 1;
  transition(State::prepare);
  client_.stop_reading();
  if (env_.pool().reset_refused()) {
    change_user_upstream();
    return;
  }
  changing_user_ = ChangeUser::reset;
  // A reset keeps the schema (§5.1): say which one the client gets.
  std::vector<InternalCommand> cmds = {make_command(protocol::Command::kResetConnection)};
  SessionProfile have = pooled_->profile;
  have.collation = 0;         // the reset copied the character set from the globals
  have.ignore_space = false;  // and sql_mode
  have.schema = replay_.schema;
  for (auto& c : fix_up_commands(have, wanted_profile(), env_.collations())) cmds.push_back(std::move(c));
  upstream_->run_commands(cmds);
}

// spec §5.2: COM_CHANGE_USER upstream, to the session's own account with the current token.
void ClientSession::change_user_upstream() {
  auto token = env_.tokens().current(account_);
  if (!token || !token->usable(std::chrono::steady_clock::now())) {
    changing_user_ = ChangeUser::none;
    fail(ClientError::lost_with_state, "no usable CAM token to clean the connection for COM_CHANGE_USER");
    return;
  }
  token_ = token;
  changing_user_ = ChangeUser::reauth;
  upstream_->change_user(token->password);
}

void ClientSession::change_user_reauthenticated() {
  changing_user_ = ChangeUser::fix_up;
  // CHANGE_USER left no schema and the login's character set; whether it keeps COM_SET_OPTION's
  // MULTI_STATEMENTS state is not documented, so that is said again (have = the opposite).
  const SessionProfile want = wanted_profile();
  SessionProfile have = pooled_->profile;
  have.schema.reset();
  have.collation = 0;
  have.ignore_space = false;
  have.multi_statements = !want.multi_statements;
  auto cmds = fix_up_commands(have, want, env_.collations());
  upstream_->run_commands(cmds);  // never empty: COM_SET_OPTION at least
}

void ClientSession::change_user_failed(const UpstreamFailure& f) {
  changing_user_ = ChangeUser::none;
  if (f.kind == UpstreamFailure::Kind::server_error && f.code == 1045 && token_ != nullptr)
    env_.tokens().request_after_rejection(account_, token_->generation);  // rotated: refetch
  fail(ClientError::lost_with_state, "cleaning the database connection for COM_CHANGE_USER failed: " + f.message);
}

void ClientSession::change_user_done(const std::vector<InternalResult>& results) {
  const bool after_reset = changing_user_ == ChangeUser::reset;
  if (after_reset && !results.front().ok) {  // e.g. 1047: the server does not do COM_RESET_CONNECTION
    env_.pool().note_reset_refused(results.front());
    change_user_upstream();
    return;
  }
  changing_user_ = ChangeUser::none;
  for (size_t i = after_reset ? 1 : 0; i < results.size(); ++i) {
    if (!results[i].ok && results[i].code == 1049) {  // unknown database: the client's error
      OwnedErr e{results[i].code, results[i].sql_state, results[i].message};
      send_error_and_close(e.view());
      return;
    }
  }
  pooled_->profile = wanted_profile();
  replay_ = {};
  replay_.schema = pooled_->profile.schema;
  std::vector<uint8_t> ok;
  protocol::ByteWriter w(ok);
  const uint16_t status = results.back().status_flags;
  protocol::encode_ok({0, 0, status, 0, {}, {}, 0x00}, client_caps_ | cap::kProtocol41, w);
  client_seq_ = send_login_ok(client_, client_seq_, sha2_fast_ack_, ok);
  log_info("change_user", {{"conn", connection_id_},
                           {"state", to_string(state_)},
                           {"user", user_},
                           {"upstream_change_user", !after_reset}});
  transition(State::relay);
  tracker_.emplace(upstream_->capabilities(), status);
  client_.start_reading();
}

}  // namespace camproxy::proxy
