#pragma once
// Bringing a logged-in database connection to a profile (spec/mysql-protocol.md §5): the one
// machine behind a return to the pool, a client's checkout, a client's COM_CHANGE_USER and the
// transparent reconnect. Sans-I/O: it says what to send (commands to pipeline, or
// COM_CHANGE_USER with the current CAM token) and reads the answers its driver feeds back
// (UpstreamConn::Owner's on_upstream_commands_done / _ready / _failed), until done or failed.
//
// With a cleanup first, one pipelined write carries COM_RESET_CONNECTION, the look at the
// session when the pool is in doubt about it, and the fix-ups (§5.3 "write all, then read all
// replies"). When the server refuses the reset (or is known to), COM_CHANGE_USER with the
// current token cleans instead (§5.2), then one more write restores what it dropped; a 1045
// there means the password rotated under the token (token_rejected: have it refetched).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/ops/metrics.h"
#include "proxy/pool/collation_names.h"
#include "proxy/pool/command_replies.h"
#include "proxy/pool/upstream_conn.h"
#include "proxy/tokens/token_service.h"

namespace camproxy::proxy {

// What a pooled connection's server session currently has, in the terms a client asks for.
struct SessionProfile {
  std::optional<std::string> schema;  // nullopt: no current database
  uint8_t collation = 0;              // 0: the server's default (unknown id or not set)
  bool multi_statements = false;
  bool ignore_space = false;
  bool operator==(const SessionProfile&) const = default;
};

// What a connection given back by a session in --pool-mode transaction (UpstreamPool::share)
// still has of that session beyond its SessionProfile: no cleanup ran.
struct CarriedState {
  std::vector<std::string> sets;  // the session's SET statements, in order
  bool autocommit_off = false;
  uint64_t last_insert_id = 0;  // LAST_INSERT_ID() as the session left it
  bool empty() const { return sets.empty() && !autocommit_off && last_insert_id == 0; }
};

// The last look at a connection's session after a cleanup: IGNORE_SPACE as a cleanup leaves it
// (from the global sql_mode and the login flags), and when it looked.
struct SessionLook {
  bool ignore_space = false;
  std::chrono::steady_clock::time_point at;
};

// Whether COM_RESET_CONNECTION gives back the login collation (MariaDB 10.11 does; learned once
// per pool, since MySQL and MariaDB versions differ).
enum class ResetCollation { unknown, restored, changed };

class ConnectionPrep {
 public:
  // Why the connection is prepared; each use has its rules for failed commands (connection_prep.cc).
  enum class Purpose {
    return_to_pool,  // its client left: clean, look when in doubt, set the next client's collation
    checkout,        // a client takes it: fix up to the client's profile (the schema's ERR is the client's)
    change_user,     // the client sent COM_CHANGE_USER: clean, then fix up to its new profile
    reconnect,       // the session moves to it: fix up and replay the session's state; any ERR fails
    // A return_to_pool cleanup taken over by a client while its reset runs (hand_over()): it
    // must leave exactly the promised profile; a refused reset or any ERR fails (no fallback).
    handover,
    attach,  // --pool-mode transaction: a session's next command takes it; as reconnect
  };
  enum class State {
    start,          // nothing sent: start() gives the first step
    resetting,      // COM_RESET_CONNECTION and the rest of the pipeline running
    changing_user,  // COM_CHANGE_USER wanted or its auth exchange running (change_user_sent / no_token)
    fixing_up,      // the pipeline without a reset running (after CHANGE_USER, or no cleanup asked)
    done,           // profile() and status_flags() are the connection's
    failed,         // failure() says why; the connection is not to be trusted
  };
  // What the connection has now, and what the pool knows of its server.
  struct Have {
    SessionProfile profile;       // for a return: the schema and MULTI_STATEMENTS its client left
    uint8_t login_collation = 0;  // the handshake's
    std::optional<SessionLook> last_look;
    bool reset_refused = false;  // the server answered COM_RESET_CONNECTION with ERR before
    bool reset_worked = false;   // ... or with OK
    ResetCollation reset_collation = ResetCollation::unknown;
    bool schema_known = true;  // false: the schema the client left is in doubt (the return looks)
    // The session may have set a role, which MariaDB keeps across COM_RESET_CONNECTION (10.11):
    // the reset is followed by SET ROLE NONE. (COM_CHANGE_USER logs in again: no role left.)
    bool role_may_be_set = false;
    // It still has another session's state the new one must not see (CarriedState): cleaned
    // first, whatever the purpose.
    bool foreign_state = false;
  };
  // What it is to have afterwards.
  struct Want {
    SessionProfile profile;  // schema nullopt: left as it is; collation 0: not set
    std::vector<std::string> replayed_sets;
    bool autocommit_off = false;  // the session ran SET autocommit = 0
    // --pool-mode transaction: LAST_INSERT_ID() to give the connection (SET last_insert_id = n).
    std::optional<uint64_t> last_insert_id = std::nullopt;
    // No current database afterwards (a client's COM_CHANGE_USER without one; MariaDB 10.11 then
    // has none): only COM_CHANGE_USER gets there (§5.2), so it cleans, instead of a reset, a
    // connection whose session may have a schema.
    bool no_schema = false;
  };
  struct Failure {
    enum class Kind {
      no_token,            // CHANGE_USER needed and no usable CAM token
      change_user_failed,  // CHANGE_USER failed (not with 1045)
      token_rejected,      // CHANGE_USER answered 1045: refetch after token_generation()
      lost,                // the connection failed while commands ran
      schema_refused,      // the client's schema was refused (e.g. 1049): its ERR is the client's
      command_failed,      // a look, fix-up or replayed command failed
      incomplete,          // fewer replies than commands
      in_transaction,      // a transaction is still open after the cleanup (§5.3)
    };
    Kind kind;
    uint16_t code = 0;
    std::string sql_state;
    std::string message;
  };
  struct Step {
    enum class Kind { run_commands, change_user, done, failed };
    Kind kind;
    std::vector<InternalCommand> commands;  // run_commands
    // The server's ERR to COM_RESET_CONNECTION, in the step that falls back to CHANGE_USER: to
    // be remembered for the server (UpstreamPool::note_reset_refused).
    std::optional<InternalResult> refused_reset;
  };

  ConnectionPrep(Purpose purpose, Have have, Want want, const CollationNames& names,
                 std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

  Step start();
  // A client takes the connection while this return's COM_RESET_CONNECTION pipeline runs, and
  // is answered and relayed at once (its commands written behind the pipeline): true when the
  // outcome is known now, as `want` (the schema the client left is vouched for, no look can
  // change what is promised, no fallback to CHANGE_USER is possible); the purpose becomes
  // handover, whose done means "exactly `want`". False: nothing changes.
  bool hand_over(const SessionProfile& want);
  // --pool-mode transaction (attach): the pipeline now running is sent, and the client's command
  // may go out behind it in the same flush (no round trip of its own), when no command of the
  // pipeline can fail and leave the connection in another state than wanted while the connection
  // lives: a reset on a server that has answered one before (no CHANGE_USER fallback then: it
  // fails instead), SET ROLE NONE, SET NAMES, COM_SET_OPTION, IGNORE_SPACE, SET autocommit and
  // SET last_insert_id. COM_INIT_DB (the schema may have been dropped or its grant revoked since)
  // and the client's replayed SETs (they succeeded once; an operator may have changed what they
  // need) can fail, and the command behind would run in the old schema or with the old value: with
  // them the caller waits for the replies first (false). True: recorded, the outcome is then
  // done or failed with no fallback.
  bool let_commands_follow();
  // After a change_user step: COM_CHANGE_USER was sent with the token of `token_generation`.
  void change_user_sent(uint64_t token_generation);
  // After a change_user step: there was no usable token.
  Step no_token();
  Step on_commands_done(const std::vector<InternalResult>& results);
  Step on_ready();  // CHANGE_USER accepted
  Step on_failed(const UpstreamFailure& f);

  Purpose purpose() const { return purpose_; }
  State state() const { return state_; }
  // How the connection was cleaned (or is being); nullopt when no cleanup was asked.
  std::optional<PoolCleanup> cleanup() const { return cleanup_; }
  // Done: what the connection has now; status_flags nullopt when no command had to run.
  const SessionProfile& profile() const { return profile_; }
  std::optional<uint16_t> status_flags() const { return status_; }
  // Done after a look: its row (schema, wait_timeout, IGNORE_SPACE, collation name) and the look.
  const std::optional<InternalResult>& look() const { return look_result_; }
  const std::optional<SessionLook>& last_look() const { return have_.last_look; }
  const Failure& failure() const { return *failure_; }
  uint64_t token_generation() const { return token_generation_; }

 private:
  // replay: the client's SETs; carry: camproxy's own (autocommit, last_insert_id).
  enum class Role { reset, end_role, look, schema, names, multi_statements, ignore_space, replay, carry };

  Step send_pipeline(bool with_reset);
  SessionProfile expected_profile() const;
  void plan_fix_ups();
  void add(Role role, InternalCommand cmd, std::vector<InternalCommand>& cmds);
  SessionProfile after_cleanup(bool by_reset) const;
  bool wants_look(bool by_reset) const;
  Step finish(std::span<const InternalResult> results);
  std::optional<Failure> apply(Role role, const InternalResult& r);
  Step fail(Failure f);

  Purpose purpose_;
  Have have_;
  Want want_;
  const CollationNames& names_;
  std::chrono::steady_clock::time_point now_;
  State state_ = State::start;
  std::optional<PoolCleanup> cleanup_;
  std::vector<Role> roles_;  // of the pipeline running, one per command
  SessionProfile profile_;   // the base the pipeline's results are applied to, then the outcome
  std::optional<uint16_t> status_;
  std::optional<InternalResult> look_result_;
  std::optional<Failure> failure_;
  uint64_t token_generation_ = 0;
  std::optional<SessionProfile> promised_;  // handover: what the client was told it has
  bool followed_ = false;                   // let_commands_follow(): the client's command is behind
};

// The I/O of a step, for every driver: runs its commands, or sends COM_CHANGE_USER with the
// token `current_token()` gives (none usable: the machine is told, and fails). Returns the step
// for the caller to act on when it is an outcome (done, failed); nullopt while the connection
// works (its answer comes to the connection's owner, to be fed back). A step's refused_reset is
// the caller's to note first.
std::optional<ConnectionPrep::Step> carry_out(ConnectionPrep& prep, ConnectionPrep::Step step, UpstreamConn& conn,
                                              const std::function<std::shared_ptr<const TokenState>()>& current_token);

std::string_view to_string(ConnectionPrep::State s);
std::string_view to_string(ConnectionPrep::Failure::Kind k);

// The statement that applies a handshake collation id as the server applies it at login.
std::string collation_statement(uint8_t id, const CollationNames& names);

// COM_SET_OPTION turning MULTI_STATEMENTS on or off.
InternalCommand set_option_command(bool multi_statements);

}  // namespace camproxy::proxy
