// --pool-mode transaction's prepared statements: the client's ids (statement_map.h), which of
// them a connection has under which server id (conn_statements.h), the bounds, forgetting, and
// where an execute's parameter types are.
#include "proxy/session/statement_map.h"

#include <gtest/gtest.h>

#include <set>

namespace camproxy::proxy {
namespace {

TEST(StatementMap, ClientIdsAreNewForEveryPrepareAndMapToEachConnectionsServerId) {
  auto map = std::make_shared<StatementMap>();
  const uint32_t a = map->reserve("SELECT ?", true);
  const uint32_t b = map->reserve("SELECT ?, ?", true);
  EXPECT_NE(a, 0U);
  EXPECT_NE(a, b);
  map->prepared(a, 1, 1);
  map->prepared(b, 2, 2);
  // The same statement has a different server id on each connection; the client's id stays.
  ConnStatements x, y;
  x.add(map, a, 7);
  y.add(map, a, 1);
  y.add(map, b, 2);
  ASSERT_NE(x.find(map.get(), a), nullptr);
  EXPECT_EQ(x.find(map.get(), a)->server_id, 7U);
  EXPECT_EQ(y.find(map.get(), a)->server_id, 1U);
  EXPECT_EQ(y.find(map.get(), b)->server_id, 2U);
  EXPECT_EQ(x.find(map.get(), b), nullptr);  // not prepared on x: to be prepared there again
  EXPECT_EQ(map->find(a)->num_params, 1);
  EXPECT_EQ(map->find(b)->sql, "SELECT ?, ?");
  // Another client's statements are not this one's, whatever their ids.
  auto other = std::make_shared<StatementMap>();
  const uint32_t o = other->reserve("SELECT 1", true);
  EXPECT_EQ(x.find(other.get(), o), nullptr);
}

TEST(StatementMap, AFailedPrepareLeavesNothingAndIdsAreNotReused) {
  StatementMap map;
  const uint32_t a = map.reserve("SELEC", true);
  map.failed(a);
  EXPECT_EQ(map.find(a), nullptr);
  EXPECT_EQ(map.size(), 0U);
  const uint32_t b = map.reserve("SELECT 1", true);
  map.forget(b);
  EXPECT_NE(map.reserve("SELECT 1", true), b);
}

TEST(StatementMap, BoundsCountStatementsAndText) {
  StatementMap map({.max_statements = 2, .max_text_bytes = 10});
  EXPECT_FALSE(map.full(4));
  const uint32_t a = map.reserve("abcd", true);
  EXPECT_TRUE(map.full(7));  // 4 + 7 > 10
  map.reserve("ab", true);
  EXPECT_TRUE(map.full(0));  // two statements, in flight or not
  map.forget(a);
  EXPECT_FALSE(map.full(4));
}

TEST(StatementMap, LongDataHoldsTheConnectionUntilExecutedResetOrClosed) {
  StatementMap map;
  const uint32_t a = map.reserve("SELECT ?", true);
  map.prepared(a, 1, 1);
  map.set_long_data(*map.find(a), true);
  map.set_long_data(*map.find(a), true);
  EXPECT_TRUE(map.holds_connection());
  map.set_long_data(*map.find(a), false);
  EXPECT_FALSE(map.holds_connection());
  map.set_long_data(*map.find(a), true);
  map.forget(a);
  EXPECT_FALSE(map.holds_connection());
}

TEST(ConnStatements, StatementsClosedOrOfAGoneClientAreTakenForClosingOnce) {
  auto map = std::make_shared<StatementMap>();
  const uint32_t kept = map->reserve("SELECT 1", true);
  const uint32_t closed = map->reserve("SELECT 2", true);
  ConnStatements conn;
  conn.add(map, kept, 11);
  conn.add(map, closed, 12);
  auto gone = std::make_shared<StatementMap>();
  conn.add(gone, gone->reserve("SELECT 3", true), 13);
  map->forget(closed);  // closed while the session held another connection
  gone.reset();         // the client went away
  std::set<uint32_t> taken;
  conn.take_stale([&](uint32_t server_id) { taken.insert(server_id); });
  EXPECT_EQ(taken, (std::set<uint32_t>{12, 13}));
  EXPECT_EQ(conn.size(), 1U);
  EXPECT_EQ(conn.find(map.get(), kept)->server_id, 11U);
  taken.clear();
  conn.take_stale([&](uint32_t server_id) { taken.insert(server_id); });
  EXPECT_TRUE(taken.empty());
}

TEST(ConnStatements, AResetForgetsEveryServerId) {
  auto map = std::make_shared<StatementMap>();
  const uint32_t a = map->reserve("SELECT 1", true);
  ConnStatements conn;
  conn.add(map, a, 1);
  conn.clear();
  EXPECT_EQ(conn.find(map.get(), a), nullptr);
  // ... and the client's own COM_RESET_CONNECTION forgets its statements.
  map->clear();
  EXPECT_EQ(map->find(a), nullptr);
}

TEST(FindExecuteTypes, AfterTheNullBitmapWhenThereAreParameters) {
  // 17 int<1> command, int<4> id, int<1> flags, int<4> iterations, bitmap of 2 params, flag 1.
  const std::vector<uint8_t> with = {0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0x00, 1, 8, 0, 8, 0};
  auto t = find_execute_types(with, 2);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->flag_at, 11U);
  EXPECT_TRUE(t->sent);
  const std::vector<uint8_t> without = {0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0x00, 0};
  EXPECT_FALSE(find_execute_types(without, 2)->sent);
  EXPECT_FALSE(find_execute_types(without, 0).has_value());  // no parameters, no types
  // 9 parameters: a bitmap of two bytes; a prefix that stops before the flag says nothing.
  EXPECT_FALSE(find_execute_types(without, 9).has_value());
}

}  // namespace
}  // namespace camproxy::proxy
