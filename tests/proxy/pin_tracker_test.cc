// --pool-mode transaction's detach rules: what pins a session to its database connection, what
// ends each pin, and what the SQL classifier reports as pins.
#include "proxy/session/pin_tracker.h"

#include <gtest/gtest.h>

#include "protocol/constants.h"
#include "proxy/session/sql_classifier.h"

namespace camproxy::proxy {
namespace {

constexpr uint16_t kAutocommit = protocol::status::kAutocommit;
constexpr uint16_t kInTrans = protocol::status::kInTrans;

PinTracker::Response ok(uint16_t pins = 0) { return {.pins = pins, .status_flags = kAutocommit}; }

TEST(PinTracker, APlainResponseLeavesTheSessionShareable) {
  PinTracker t;
  EXPECT_FALSE(t.on_response(ok()).has_value());
  EXPECT_FALSE(t.pinned());
  EXPECT_FALSE(t.reason().has_value());
}

TEST(PinTracker, AnOpenTransactionPinsUntilTheStatusFlagsSayItEnded) {
  PinTracker t;
  auto begin = ok();
  begin.status_flags = kAutocommit | kInTrans;
  EXPECT_EQ(t.on_response(begin), PinReason::transaction);
  EXPECT_EQ(t.reason(), PinReason::transaction);
  EXPECT_FALSE(t.on_response(begin).has_value());  // still pinned: no new pin counted
  auto failed = begin;                             // an ERR inside keeps the transaction
  failed.error = true;
  t.on_response(failed);
  EXPECT_EQ(t.reason(), PinReason::transaction);
  t.on_response(ok());  // COMMIT
  EXPECT_FALSE(t.pinned());
}

TEST(PinTracker, AutocommitOffWithWorkDoneShowsAsInTrans) {
  PinTracker t;
  t.on_response({.status_flags = 0});  // SET autocommit = 0: nothing open yet
  EXPECT_FALSE(t.pinned());
  t.on_response({.status_flags = kInTrans});  // a SELECT under autocommit = 0
  EXPECT_EQ(t.reason(), PinReason::transaction);
}

TEST(PinTracker, StickyPinsLastUntilReset) {
  for (PinReason r : {PinReason::xa, PinReason::get_lock, PinReason::temporary_table, PinReason::user_variable,
                      PinReason::prepared_statement, PinReason::unfollowable}) {
    PinTracker t;
    EXPECT_EQ(t.on_response(ok(pin_bit(r))), r) << label_value(r);
    t.on_response(ok());
    t.on_response({.unlock_tables = true, .status_flags = kAutocommit});
    EXPECT_EQ(t.reason(), r) << label_value(r);
    auto failed_reset = ok();
    failed_reset.reset = true;
    failed_reset.error = true;
    t.on_response(failed_reset);
    EXPECT_EQ(t.reason(), r) << label_value(r);
    auto reset = ok();
    reset.reset = true;
    t.on_response(reset);
    EXPECT_FALSE(t.pinned()) << label_value(r);
  }
}

TEST(PinTracker, LocksEndAtASuccessfulUnlockTables) {
  for (PinReason r : {PinReason::lock_tables, PinReason::read_lock}) {
    PinTracker t;
    t.on_response(ok(pin_bit(r)));
    auto failed_unlock = ok();
    failed_unlock.unlock_tables = true;
    failed_unlock.error = true;
    t.on_response(failed_unlock);
    EXPECT_EQ(t.reason(), r);
    t.on_response({.unlock_tables = true, .status_flags = kAutocommit});
    EXPECT_FALSE(t.pinned()) << label_value(r);
  }
}

TEST(PinTracker, UnlockThenLockInOneCommandKeepsTheNewLock) {
  PinTracker t;
  t.on_response(ok(pin_bit(PinReason::lock_tables)));
  t.on_response({.pins = pin_bit(PinReason::lock_tables), .unlock_tables = true, .status_flags = kAutocommit});
  EXPECT_EQ(t.reason(), PinReason::lock_tables);
}

TEST(PinTracker, UnlockTablesDoesNotEndOtherPins) {
  PinTracker t;
  t.on_response(ok(pin_bit(PinReason::lock_tables) | pin_bit(PinReason::temporary_table)));
  t.on_response({.unlock_tables = true, .status_flags = kAutocommit});
  EXPECT_EQ(t.reason(), PinReason::temporary_table);
}

TEST(PinTracker, AResponseThatCanBeAskedAboutHoldsUntilTheNextResponse) {
  const PinTracker::Response askable[] = {
      {.status_flags = kAutocommit, .warnings = 1},                  // SHOW WARNINGS
      {.error = true, .status_flags = kAutocommit},                  // SHOW ERRORS, @@error_count
      {.status_flags = kAutocommit, .affected_rows = 3},             // ROW_COUNT()
      {.pins = pin_bit(PinReason::last_result), .status_flags = 2},  // SQL_CALC_FOUND_ROWS: FOUND_ROWS()
  };
  for (const auto& r : askable) {
    PinTracker t;
    EXPECT_EQ(t.on_response(r), PinReason::last_result);
    EXPECT_FALSE(t.on_response(ok()).has_value());
    EXPECT_FALSE(t.pinned());
  }
}

TEST(PinTracker, TheFirstReasonIsReported) {
  PinTracker t;
  auto r = ok(pin_bit(PinReason::user_variable));
  r.status_flags = kInTrans;
  EXPECT_EQ(t.on_response(r), PinReason::transaction);
  t.on_response(ok());
  EXPECT_EQ(t.reason(), PinReason::user_variable);
}

// What the classifier reports as pins, statement by statement.
TEST(ClassifyPins, StatementsThatPin) {
  struct Row {
    const char* sql;
    PinReason reason;
  };
  const Row rows[] = {
      {"SET @x = 1", PinReason::user_variable},
      {"SELECT @x", PinReason::user_variable},
      {"SELECT 1 INTO @x", PinReason::user_variable},
      {"CREATE TEMPORARY TABLE t (a INT)", PinReason::temporary_table},
      {"DROP TEMPORARY TABLE t", PinReason::temporary_table},
      {"LOCK TABLES t READ", PinReason::lock_tables},
      {"FLUSH TABLES WITH READ LOCK", PinReason::read_lock},
      {"SELECT GET_LOCK('a', 0)", PinReason::get_lock},
      {"XA START 'x'", PinReason::xa},
      {"PREPARE s FROM 'SELECT 1'", PinReason::prepared_statement},
      {"SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1", PinReason::last_result},
      {"HANDLER t OPEN", PinReason::unfollowable},
      {"CALL p()", PinReason::unfollowable},
      {"EXECUTE s", PinReason::unfollowable},
      {"SET TRANSACTION ISOLATION LEVEL READ COMMITTED", PinReason::unfollowable},
      {"SELECT * FROM t LOCK IN SHARE MODE", PinReason::unfollowable},
      // A multi-statement whose SETs are dropped with an unreplayable statement cannot move.
      {"SET sql_mode = ''; SAVEPOINT a", PinReason::unfollowable},
      {"SET sql_mode = ''; LOCK TABLES t READ", PinReason::unfollowable},
  };
  for (const Row& r : rows) {
    const auto fx = classify_statements(r.sql);
    EXPECT_NE(fx.pins & pin_bit(r.reason), 0) << r.sql;
  }
}

TEST(ClassifyPins, StatementsThatDoNotPin) {
  for (const char* sql :
       {"SELECT 1", "SET NAMES latin1", "SET SESSION sql_mode = 'ANSI'", "USE db", "BEGIN",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", "SET autocommit = 0", "SELECT RELEASE_LOCK('a')",
        "UNLOCK TABLES", "INSERT INTO t VALUES ('@x', 'LOCK')", "SAVEPOINT a"}) {
    EXPECT_EQ(classify_statements(sql).pins, 0) << sql;
  }
}

TEST(ClassifyPins, UnlockTablesAndLastInsertId) {
  EXPECT_TRUE(classify_statements("UNLOCK TABLES").unlock_tables);
  EXPECT_TRUE(classify_statements("unlock table").unlock_tables);
  EXPECT_FALSE(classify_statements("SELECT 'UNLOCK TABLES'").unlock_tables);
  EXPECT_TRUE(classify_statements("SELECT LAST_INSERT_ID(5)").last_insert_id_may_change);
  EXPECT_TRUE(classify_statements("INSERT INTO t (a) VALUES (1) RETURNING id").last_insert_id_may_change);
  EXPECT_FALSE(classify_statements("INSERT INTO t (a) VALUES (1)").last_insert_id_may_change);
}

}  // namespace
}  // namespace camproxy::proxy
