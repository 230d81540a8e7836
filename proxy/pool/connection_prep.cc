#include "proxy/pool/connection_prep.h"

#include "protocol/constants.h"

namespace camproxy::proxy {
namespace {

// The look at the session after a cleanup: what it has now, for the connection's
// SessionProfile, the server's wait_timeout (copied from the globals by either command) and the
// collation (to learn whether a reset gives back the login collation).
constexpr std::string_view kSessionStateQuery =
    "SELECT DATABASE(), @@session.wait_timeout, FIND_IN_SET('IGNORE_SPACE', @@session.sql_mode) > 0, "
    "@@session.collation_connection";
// A connection's look is taken again after this long: a cleanup copies the globals, which an
// operator may have changed (wait_timeout, sql_mode).
constexpr auto kLookInterval = std::chrono::seconds(60);

bool cleans(ConnectionPrep::Purpose p, const ConnectionPrep::Have& have) {
  return p == ConnectionPrep::Purpose::return_to_pool || p == ConnectionPrep::Purpose::change_user ||
         p == ConnectionPrep::Purpose::handover || have.foreign_state;
}

}  // namespace

std::string collation_statement(uint8_t id, const CollationNames& names) {
  if (auto fast = names.set_names(id)) return *fast;
  // The handshake's collation id, applied as the server applies it at login (character_set_client,
  // _results and _connection): SET NAMES needs names, and only charset ids may be given as numbers.
  const std::string n = std::to_string(id);
  const std::string charset = "(SELECT CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID = " + n + ")";
  return "SET character_set_client = " + charset + ", character_set_results = " + charset +
         ", collation_connection = (SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE ID = " + n + ")";
}

InternalCommand set_option_command(bool multi_statements) {
  // COM_SET_OPTION int<2>: 0 = MULTI_STATEMENTS on, 1 = off (spec §4.3).
  const char option[2] = {static_cast<char>(multi_statements ? 0 : 1), 0};
  return make_command(protocol::Command::set_option, std::string_view(option, 2));
}

ConnectionPrep::ConnectionPrep(Purpose purpose, Have have, Want want, const CollationNames& names,
                               std::chrono::steady_clock::time_point now)
    : purpose_(purpose), have_(std::move(have)), want_(std::move(want)), names_(names), now_(now) {}

ConnectionPrep::Step ConnectionPrep::start() {
  if (!cleans(purpose_, have_)) return send_pipeline(false);
  const bool schema_to_drop = want_.no_schema && (have_.profile.schema || !have_.schema_known);
  if (!have_.reset_refused && !schema_to_drop) return send_pipeline(true);
  cleanup_ = PoolCleanup::change_user;
  state_ = State::changing_user;
  return {Step::Kind::change_user, {}, {}};
}

bool ConnectionPrep::hand_over(const SessionProfile& want) {
  // A look after a reset only confirms what is known when the schema is vouched for and an
  // earlier look gave IGNORE_SPACE; without them the outcome waits for the look's row.
  if (purpose_ != Purpose::return_to_pool || state_ != State::resetting || !have_.schema_known || !have_.last_look)
    return false;
  if (expected_profile() != want) return false;
  purpose_ = Purpose::handover;
  promised_ = want;
  return true;
}

// The profile the running pipeline leaves when every command succeeds and its look (if any)
// sees what is known.
SessionProfile ConnectionPrep::expected_profile() const {
  SessionProfile p = profile_;
  for (Role role : roles_) {
    if (role == Role::schema) p.schema = want_.profile.schema;
    if (role == Role::names) p.collation = want_.profile.collation;
    if (role == Role::multi_statements) p.multi_statements = want_.profile.multi_statements;
    if (role == Role::ignore_space) p.ignore_space = true;
  }
  return p;
}

bool ConnectionPrep::let_commands_follow() {
  if (purpose_ != Purpose::attach || (state_ != State::resetting && state_ != State::fixing_up)) return false;
  const bool reset_known_good = have_.reset_worked && !have_.reset_refused;
  for (Role role : roles_) {
    if (role == Role::reset && !reset_known_good) return false;
    if (role == Role::schema || role == Role::replay || role == Role::look) return false;
  }
  followed_ = true;
  return true;
}

void ConnectionPrep::change_user_sent(uint64_t token_generation) { token_generation_ = token_generation; }

ConnectionPrep::Step ConnectionPrep::no_token() {
  return fail({Failure::Kind::no_token, 0, {}, "no usable CAM token"});
}

ConnectionPrep::Step ConnectionPrep::on_ready() {
  if (state_ != State::changing_user) return fail({Failure::Kind::command_failed, 0, {}, "unexpected login OK"});
  return send_pipeline(false);
}

ConnectionPrep::Step ConnectionPrep::on_failed(const UpstreamFailure& f) {
  if (state_ != State::changing_user) return fail({Failure::Kind::lost, f.code, f.sql_state, f.message});
  // spec §3.4: 1045 to the current token means the password rotated after it was fetched.
  const bool rejected = f.kind == UpstreamFailure::Kind::server_error && f.code == 1045;
  return fail(
      {rejected ? Failure::Kind::token_rejected : Failure::Kind::change_user_failed, f.code, f.sql_state, f.message});
}

ConnectionPrep::Step ConnectionPrep::on_commands_done(const std::vector<InternalResult>& results) {
  if (results.size() != roles_.size()) {  // run_commands answers every command; nothing to trust otherwise
    return fail({Failure::Kind::incomplete,
                 0,
                 {},
                 "the server answered " + std::to_string(results.size()) + " of " + std::to_string(roles_.size()) +
                     " commands"});
  }
  if (state_ == State::resetting && !results.front().ok && (purpose_ == Purpose::handover || followed_)) {
    // The client's commands are already behind the pipeline: there is no falling back.
    const InternalResult& r = results.front();
    return fail({Failure::Kind::command_failed, r.code, r.sql_state, "COM_RESET_CONNECTION failed: " + r.message});
  }
  if (state_ == State::resetting && !results.front().ok) {
    // e.g. 1047 from a server before MariaDB 10.2.4 / MySQL 5.7.3, or a middlebox (§5.2).
    have_.reset_refused = true;
    cleanup_ = PoolCleanup::change_user;
    state_ = State::changing_user;
    return {Step::Kind::change_user, {}, results.front()};
  }
  return finish(results);
}

// What the session has after the cleanup, before the pipeline's look and fix-ups. spec §5.1: a
// reset keeps the schema and MULTI_STATEMENTS and copies sql_mode and the character set from the
// globals (the login collation where the server is known to give it back). §5.2: CHANGE_USER
// leaves no schema, and whether it keeps MULTI_STATEMENTS is not documented, so the opposite of
// what is wanted is assumed (COM_SET_OPTION always follows).
SessionProfile ConnectionPrep::after_cleanup(bool by_reset) const {
  SessionProfile p = have_.profile;
  if (!cleans(purpose_, have_)) return p;
  p.ignore_space = have_.last_look && have_.last_look->ignore_space;
  if (by_reset) {
    p.collation = have_.reset_collation == ResetCollation::restored ? have_.login_collation : 0;
    return p;
  }
  p.schema.reset();
  p.collation = 0;
  p.multi_statements = !want_.profile.multi_statements;
  return p;
}

// A return looks after CHANGE_USER, and after a reset when something is in doubt: the schema the
// client left, whether the reset gives the collation back, or a look over a minute old.
bool ConnectionPrep::wants_look(bool by_reset) const {
  if (purpose_ != Purpose::return_to_pool) return false;
  return !by_reset || !have_.schema_known || have_.reset_collation == ResetCollation::unknown || !have_.last_look ||
         now_ - have_.last_look->at >= kLookInterval;
}

void ConnectionPrep::add(Role role, InternalCommand cmd, std::vector<InternalCommand>& cmds) {
  roles_.push_back(role);
  cmds.push_back(std::move(cmd));
}

// In this order: the reset (and SET ROLE NONE), the look (so it sees what the cleanup left), the schema, SET NAMES,
// MULTI_STATEMENTS, IGNORE_SPACE, then the replayed statements.
ConnectionPrep::Step ConnectionPrep::send_pipeline(bool with_reset) {
  roles_.clear();
  profile_ = after_cleanup(with_reset);
  std::vector<InternalCommand> cmds;
  if (with_reset) {
    cleanup_ = PoolCleanup::reset;
    add(Role::reset, make_command(protocol::Command::reset_connection), cmds);
    if (have_.role_may_be_set) add(Role::end_role, make_query("SET ROLE NONE"), cmds);
  }
  if (wants_look(with_reset)) add(Role::look, make_query(kSessionStateQuery, true), cmds);
  const SessionProfile& want = want_.profile;
  if (want.schema && want.schema != profile_.schema)
    add(Role::schema, make_command(protocol::Command::init_db, *want.schema), cmds);
  if (want.collation != 0 && want.collation != profile_.collation)
    add(Role::names, make_query(collation_statement(want.collation, names_)), cmds);
  if (want.multi_statements != profile_.multi_statements)
    add(Role::multi_statements, set_option_command(want.multi_statements), cmds);
  if (want.ignore_space && !profile_.ignore_space)
    add(Role::ignore_space, make_query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',IGNORE_SPACE')"), cmds);
  for (const auto& set : want_.replayed_sets) add(Role::replay, make_query(set), cmds);
  if (want_.autocommit_off) add(Role::carry, make_query("SET autocommit = 0"), cmds);
  if (want_.last_insert_id)
    add(Role::carry, make_query("SET last_insert_id = " + std::to_string(*want_.last_insert_id)), cmds);
  if (cmds.empty()) {
    state_ = State::done;
    return {Step::Kind::done, {}, {}};
  }
  state_ = with_reset ? State::resetting : State::fixing_up;
  return {Step::Kind::run_commands, std::move(cmds), {}};
}

// Which failed commands a purpose survives: SET NAMES (the collation is then unknown) except on
// a reconnect, where the session must be as it was; on a checkout or a client's CHANGE_USER also
// MULTI_STATEMENTS and IGNORE_SPACE (the profile says what the connection has).
std::optional<ConnectionPrep::Failure> ConnectionPrep::apply(Role role, const InternalResult& r) {
  const bool strict = purpose_ == Purpose::reconnect || purpose_ == Purpose::handover || purpose_ == Purpose::attach;
  const bool tolerant = purpose_ == Purpose::checkout || purpose_ == Purpose::change_user;
  if (!r.ok && role == Role::schema && !strict)
    return Failure{Failure::Kind::schema_refused, r.code, r.sql_state.empty() ? "HY000" : r.sql_state, r.message};
  const bool survivable =
      role == Role::names ? !strict : tolerant && (role == Role::multi_statements || role == Role::ignore_space);
  if (!r.ok && !survivable) return Failure{Failure::Kind::command_failed, r.code, r.sql_state, r.message};
  switch (role) {
    case Role::reset:
    case Role::end_role:
    case Role::replay:
    case Role::carry: break;
    case Role::look:
      look_result_ = r;
      profile_.schema = r.column(0);
      have_.last_look = SessionLook{r.column(2) == "1", now_};
      profile_.ignore_space = have_.last_look->ignore_space;
      break;
    case Role::schema: profile_.schema = want_.profile.schema; break;
    case Role::names: profile_.collation = r.ok ? want_.profile.collation : 0; break;
    case Role::multi_statements:
      if (r.ok) profile_.multi_statements = want_.profile.multi_statements;
      break;
    case Role::ignore_space:
      if (r.ok) profile_.ignore_space = true;
      break;
  }
  return std::nullopt;
}

ConnectionPrep::Step ConnectionPrep::finish(std::span<const InternalResult> results) {
  for (size_t i = 0; i < results.size(); ++i) {
    if (auto failure = apply(roles_[i], results[i])) return fail(std::move(*failure));
  }
  status_ = results.back().status_flags;
  // spec §5.3: a cleaned connection is trusted only when no transaction is left open.
  if (cleanup_ && (*status_ & protocol::status::kInTrans) != 0)
    return fail({Failure::Kind::in_transaction, 0, {}, "a transaction is still open"});
  if (promised_ && profile_ != *promised_)
    return fail({Failure::Kind::command_failed, 0, {}, "the cleanup left another profile than the client was told"});
  state_ = State::done;
  return {Step::Kind::done, {}, {}};
}

ConnectionPrep::Step ConnectionPrep::fail(Failure f) {
  failure_ = std::move(f);
  state_ = State::failed;
  return {Step::Kind::failed, {}, {}};
}

std::optional<ConnectionPrep::Step> carry_out(ConnectionPrep& prep, ConnectionPrep::Step step, UpstreamConn& conn,
                                              const std::function<std::shared_ptr<const TokenState>()>& current_token) {
  switch (step.kind) {
    case ConnectionPrep::Step::Kind::run_commands: conn.run_commands(step.commands); return std::nullopt;
    case ConnectionPrep::Step::Kind::change_user: {
      // spec §5.2: to the login's account, with the current token (it also clears the schema).
      auto token = current_token();
      if (!token || !token->usable(std::chrono::steady_clock::now())) return prep.no_token();
      prep.change_user_sent(token->generation);
      conn.change_user(token->password);
      return std::nullopt;
    }
    case ConnectionPrep::Step::Kind::done:
    case ConnectionPrep::Step::Kind::failed: return step;
  }
  return step;
}

std::string_view to_string(ConnectionPrep::State s) {
  switch (s) {
    case ConnectionPrep::State::start: return "start";
    case ConnectionPrep::State::resetting: return "resetting";
    case ConnectionPrep::State::changing_user: return "changing_user";
    case ConnectionPrep::State::fixing_up: return "fixing_up";
    case ConnectionPrep::State::done: return "done";
    case ConnectionPrep::State::failed: return "failed";
  }
  return "?";
}

std::string_view to_string(ConnectionPrep::Failure::Kind k) {
  using K = ConnectionPrep::Failure::Kind;
  switch (k) {
    case K::no_token: return "no_token";
    case K::change_user_failed: return "change_user_failed";
    case K::token_rejected: return "token_rejected";
    case K::lost: return "lost";
    case K::schema_refused: return "schema_refused";
    case K::command_failed: return "command_failed";
    case K::incomplete: return "incomplete";
    case K::in_transaction: return "in_transaction";
  }
  return "?";
}

}  // namespace camproxy::proxy
