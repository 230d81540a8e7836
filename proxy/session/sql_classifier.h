#pragma once
// A light reading of COM_QUERY text, enough for what the proxy must know without a SQL parser:
// KILL statements to intercept (spec/mysql-protocol.md §7.3) and the session-state effects that
// decide whether a session can be re-created on a new database connection (§6, §7.2).
//
// It errs on the safe side: whatever it does not recognise as harmless or replayable and that
// may leave state behind (user variables, temporary tables, SQL PREPARE, locks, HANDLER, XA)
// is reported as unreplayable.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/ops/metrics.h"

namespace camproxy::proxy {

struct KillStatement {
  enum class Target { connection, query, query_id, user };
  Target target = Target::connection;
  uint64_t id = 0;  // connection id (connection, query) or query id (query_id)
};

// KILL [HARD|SOFT] [CONNECTION|QUERY] id | KILL [HARD|SOFT] QUERY ID qid | KILL USER u
// (MySQL and MariaDB forms). nullopt when the text is not a single KILL statement.
std::optional<KillStatement> parse_kill(std::string_view sql);

struct WaitTimeoutSet {
  enum class Kind {
    seconds,        // a literal: `seconds`, clamped to the variable's range as the server does
    default_value,  // DEFAULT: the global value again
    unknown,        // an expression camproxy does not evaluate
  };
  Kind kind = Kind::unknown;
  uint32_t seconds = 0;
};

struct SessionEffects {
  std::optional<std::string> schema;         // USE db
  bool schema_uncertain = false;             // the current schema may change otherwise (DROP DATABASE, USE <odd>)
  std::vector<std::string> replayable_sets;  // SET statements that re-create session variables
  bool unreplayable = false;
  std::string_view reason;  // why unreplayable (for logs)
  // SET ROLE, or statements whose SQL it cannot see (PREPARE, EXECUTE, CALL) that may run one:
  // MariaDB keeps the role across COM_RESET_CONNECTION, so the pool's cleanup must end it.
  bool role_may_change = false;
  // --pool-mode transaction (pin_tracker.h): what ties the session to its database connection,
  // one bit per PinReason (pin_bit()); UNLOCK TABLES ends lock_tables and read_lock.
  uint16_t pins = 0;
  bool unlock_tables = false;
  // LAST_INSERT_ID(expr) or INSERT ... RETURNING: the session's LAST_INSERT_ID() may have changed
  // without an OK packet saying so.
  bool last_insert_id_may_change = false;
  // The last session SET of wait_timeout, replayable or not (SET @@wait_timeout = @x is not).
  std::optional<WaitTimeoutSet> wait_timeout;
};

constexpr uint16_t pin_bit(PinReason r) { return static_cast<uint16_t>(1U << static_cast<unsigned>(r)); }

// The effects of one COM_QUERY (which may hold several statements).
SessionEffects classify_statements(std::string_view sql);

// What a session SET statement does to the session's
// wait_timeout, the idle time after which the server closes the connection.
// nullopt when the statement does not assign wait_timeout; the last assignment counts.
std::optional<WaitTimeoutSet> wait_timeout_set(std::string_view set_statement);

}  // namespace camproxy::proxy
