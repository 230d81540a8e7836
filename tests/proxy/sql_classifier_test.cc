// The light SQL reading: KILL forms and session-state effects, as tables.
#include "proxy/session/sql_classifier.h"

#include <gtest/gtest.h>

namespace camproxy::proxy {
namespace {

using Target = KillStatement::Target;

TEST(ParseKill, RecognisesMySqlAndMariaDbForms) {
  struct Row {
    const char* sql;
    Target target;
    uint64_t id;
  };
  const Row rows[] = {
      {"KILL 42", Target::connection, 42},        {"kill connection 7", Target::connection, 7},
      {"KILL QUERY 9", Target::query, 9},         {"  /* cancel */ KILL QUERY 9;", Target::query, 9},
      {"KILL HARD QUERY 3", Target::query, 3},    {"KILL SOFT CONNECTION 4", Target::connection, 4},
      {"KILL QUERY ID 11", Target::query_id, 11}, {"KILL USER app", Target::user, 0},
  };
  for (const Row& r : rows) {
    auto k = parse_kill(r.sql);
    ASSERT_TRUE(k.has_value()) << r.sql;
    EXPECT_EQ(k->target, r.target) << r.sql;
    EXPECT_EQ(k->id, r.id) << r.sql;
  }
}

TEST(ParseKill, LeavesEverythingElseAlone) {
  for (const char* sql : {"SELECT 'KILL 1'", "KILLER 1", "KILL", "KILL QUERY", "KILL 1; SELECT 1", "KILL abc",
                          "-- KILL 1\nSELECT 1", "KILL 99999999999999999999999"}) {
    EXPECT_FALSE(parse_kill(sql).has_value()) << sql;
  }
}

TEST(ClassifyStatements, HarmlessStatementsHaveNoEffect) {
  for (const char* sql :
       {"SELECT 1", "INSERT INTO t VALUES ('@x', \"TEMPORARY\")", "SELECT @@version", "SELECT 1 /* LOCK */", "BEGIN",
        "COMMIT", "UNLOCK TABLES", "SET GLOBAL max_connections=10", "SELECT `lock` FROM t"}) {
    auto fx = classify_statements(sql);
    EXPECT_FALSE(fx.unreplayable) << sql << ": " << fx.reason;
    EXPECT_FALSE(fx.schema.has_value()) << sql;
    EXPECT_TRUE(fx.replayable_sets.empty()) << sql;
  }
}

// MariaDB keeps a role across COM_RESET_CONNECTION: statements that set one, or may (SQL the
// classifier cannot see), are flagged for the pool's cleanup.
TEST(ClassifyStatements, RolesThatMayOutliveAReset) {
  for (const char* sql : {"SET ROLE app_reader", "set role NONE", "SELECT 1; SET ROLE r", "PREPARE s FROM @q",
                          "EXECUTE IMMEDIATE 'SET ROLE r'", "EXECUTE s", "CALL p()"}) {
    EXPECT_TRUE(classify_statements(sql).role_may_change) << sql;
  }
  for (const char* sql : {"SELECT 'SET ROLE r'", "SET NAMES utf8mb4", "SELECT role FROM t", "SET @role = 1"}) {
    EXPECT_FALSE(classify_statements(sql).role_may_change) << sql;
  }
}

TEST(ClassifyStatements, UnreplayableState) {
  for (const char* sql :
       {"SET @x = 1", "SELECT 1 INTO @x", "CREATE TEMPORARY TABLE t (a int)", "PREPARE s FROM 'SELECT 1'",
        "LOCK TABLES t READ", "SELECT GET_LOCK('a', 1)", "HANDLER t OPEN", "XA START 'x'", "SAVEPOINT a",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "SELECT SQL_CALC_FOUND_ROWS * FROM t",
        "SET NAMES utf8mb4; SET @y := 2", "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE */"}) {
    auto fx = classify_statements(sql);
    EXPECT_TRUE(fx.unreplayable) << sql;
    EXPECT_TRUE(fx.replayable_sets.empty()) << sql;
  }
}

TEST(ClassifyStatements, SchemaChangesItCannotFollow) {
  for (const char* sql :
       {"DROP DATABASE camdb", "drop schema if exists x", "SELECT 1; DROP DATABASE d", "USE \"camdb\"", "USE `a``b`"}) {
    auto fx = classify_statements(sql);
    EXPECT_TRUE(fx.schema_uncertain) << sql;
    EXPECT_FALSE(fx.schema.has_value()) << sql;
  }
  for (const char* sql :
       {"USE camdb", "USE `camdb`", "DROP TABLE database_log", "SELECT 'DROP DATABASE x'", "DROP TEMPORARY TABLE t"}) {
    EXPECT_FALSE(classify_statements(sql).schema_uncertain) << sql;
  }
  EXPECT_TRUE(classify_statements("DROP TEMPORARY TABLE t").unreplayable);
}

TEST(ClassifyStatements, ReplayableSessionState) {
  auto fx = classify_statements("USE `camdb`");
  ASSERT_TRUE(fx.schema.has_value());
  EXPECT_EQ(*fx.schema, "camdb");

  fx = classify_statements("SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci; SET time_zone = '+00:00';");
  EXPECT_FALSE(fx.unreplayable);
  ASSERT_EQ(fx.replayable_sets.size(), 2u);
  EXPECT_EQ(fx.replayable_sets[0], "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci");
  EXPECT_EQ(fx.replayable_sets[1], "SET time_zone = '+00:00'");

  fx = classify_statements("set session sql_mode='ANSI'");
  ASSERT_EQ(fx.replayable_sets.size(), 1u);
  fx = classify_statements("SET @@session.autocommit = 0");
  ASSERT_EQ(fx.replayable_sets.size(), 1u);
  fx = classify_statements("SET @@global.x = 0");
  EXPECT_TRUE(fx.replayable_sets.empty());
}

// The session wait_timeout a SET gives (issue 16: camproxy closes an idle client as the server would).
// --pool-mode transaction reads LAST_INSERT_ID() after a statement that may set it: a call with
// an argument, INSERT ... RETURNING; reading it (no argument) sets nothing.
TEST(ClassifyStatements, StatementsThatMaySetLastInsertId) {
  for (const char* sql :
       {"SELECT LAST_INSERT_ID(5)", "UPDATE t SET id = LAST_INSERT_ID(id + 1)", "select last_insert_id ( 7 )",
        "SELECT LAST_INSERT_ID", "SELECT LAST_INSERT_ID(", "INSERT INTO t VALUES (1) RETURNING id",
        "SELECT LAST_INSERT_ID(); SELECT LAST_INSERT_ID(2)"}) {
    EXPECT_TRUE(classify_statements(sql).last_insert_id_may_change) << sql;
  }
  for (const char* sql : {"SELECT LAST_INSERT_ID()", "select last_insert_id( )",
                          "SELECT LAST_INSERT_ID() + 1; SELECT 1", "SELECT 'LAST_INSERT_ID(5)'", "SELECT 1"}) {
    EXPECT_FALSE(classify_statements(sql).last_insert_id_may_change) << sql;
  }
}

TEST(WaitTimeoutSet, ReadsTheSessionAssignment) {
  using Kind = WaitTimeoutSet::Kind;
  struct Case {
    const char* sql;
    Kind kind;
    uint32_t seconds;
  };
  for (const Case& c :
       {Case{"SET SESSION wait_timeout = 1", Kind::seconds, 1}, Case{"set wait_timeout=30", Kind::seconds, 30},
        Case{"SET @@wait_timeout = 5", Kind::seconds, 5}, Case{"SET @@session.wait_timeout := 7", Kind::seconds, 7},
        Case{"SET LOCAL wait_timeout = 8", Kind::seconds, 8},
        Case{"SET autocommit = 0, wait_timeout = 9, sql_mode = 'A,B'", Kind::seconds, 9},
        Case{"SET sql_mode = ',', wait_timeout = 10", Kind::seconds, 10},
        Case{"SET wait_timeout = 0", Kind::seconds, 1},  // clamped, as the server does
        Case{"SET wait_timeout = 99999999", Kind::seconds, 31536000},
        Case{"SET wait_timeout = 1, wait_timeout = 2", Kind::seconds, 2},
        Case{"SET wait_timeout = DEFAULT", Kind::default_value, 0},
        Case{"SET wait_timeout = 60 * 60", Kind::unknown, 0},
        Case{"SET wait_timeout = (SELECT 5), autocommit = 1", Kind::unknown, 0},
        Case{"SET wait_timeout = -1", Kind::unknown, 0}}) {
    const auto set = wait_timeout_set(c.sql);
    ASSERT_TRUE(set.has_value()) << c.sql;
    EXPECT_EQ(set->kind, c.kind) << c.sql;
    EXPECT_EQ(set->seconds, c.seconds) << c.sql;
  }
  for (const char* sql : {"SET NAMES utf8mb4", "SET interactive_timeout = 1", "SET net_wait_timeout_x = 1",
                          "SET autocommit = 0", "SELECT 1", "SET sql_mode = 'wait_timeout=1'"}) {
    EXPECT_FALSE(wait_timeout_set(sql).has_value()) << sql;
  }
}

// The effects carry the last wait_timeout a query sets, also from a SET that cannot be replayed
// (a user variable): camproxy then asks the server for the value (session_idle.cc).
TEST(WaitTimeoutSet, ComesWithTheEffectsEvenWhenUnreplayable) {
  const auto fx = classify_statements("SET @x = 1; SET @@session.wait_timeout = @x");
  EXPECT_TRUE(fx.unreplayable);
  EXPECT_TRUE(fx.replayable_sets.empty());
  ASSERT_TRUE(fx.wait_timeout.has_value());
  EXPECT_EQ(fx.wait_timeout->kind, WaitTimeoutSet::Kind::unknown);
  const auto literal = classify_statements("SET wait_timeout = 3; SET sql_mode = ''");
  ASSERT_TRUE(literal.wait_timeout.has_value());
  EXPECT_EQ(literal.wait_timeout->seconds, 3U);
  EXPECT_FALSE(classify_statements("SET GLOBAL wait_timeout = 3").wait_timeout.has_value());
}

}  // namespace
}  // namespace camproxy::proxy
