// The JSON of GET /debug/pools and /debug/sessions (admin_debug_workers.h), built from
// hand-made worker snapshots: field names and order, nulls, sorting, the partial marker.
#include "proxy/admin_debug_workers.h"

#include <gtest/gtest.h>

namespace camproxy::proxy {
namespace {

WorkerSnapshot worker(std::string target, int index) {
  WorkerSnapshot w;
  w.target = std::move(target);
  w.worker = index;
  return w;
}

TEST(DebugPoolsJson, KeysWithCountsAndTheConnectionsThePoolHolds) {
  WorkerSnapshot w = worker("main", 0);
  w.pool.open = 3;
  w.pool.target_open = 5;
  w.pool.target_max = 5;
  w.pool.target_borrowing = 2;
  PoolKeySnapshot& k = w.pool.key("app", 0x000a8200, 0x1c);
  k.idle = 1;
  k.in_use = 2;
  k.waiting = 1;
  k.borrowing = 2;
  k.entries.push_back({"idle", 42, 10.5, 2.25, "shop"});
  k.entries.push_back({"cleaning", 43, 1.0, 0, std::nullopt});
  EXPECT_EQ(
      debug_pools_json({w}, 0),
      R"({"complete":true,"missing_workers":0,"workers":[{"target":"main","worker":0,"open":3,"target_open":5,)"
      R"("target_max":5,"target_borrowing":2,"keys":[)"
      R"({"account":"app","caps":"0x000a8200","mariadb_caps":"0x0000001c","idle":1,"in_use":2,"warming":0,"learning":0,"cleaning":0,)"
      R"("waiting":1,"borrowing":2,"connections":[{"state":"idle","thread_id":42,"age_seconds":10.500,"idle_seconds":2.250,)"
      R"("schema":"shop"},{"state":"cleaning","thread_id":43,"age_seconds":1.000,"schema":null}]}]}]})");
}

TEST(DebugPoolsJson, KeyLookupAddsOnceAndWorkersComeSortedWithTheMissingCounted) {
  PoolSnapshot p;
  p.key("a", 1, 0).idle = 1;
  p.key("a", 1, 0).in_use = 1;
  p.key("a", 2, 0);
  p.key("a", 1, 4);  // the same MySQL bits with other MariaDB extended capabilities: another key
  EXPECT_EQ(p.keys.size(), 3U);
  EXPECT_EQ(p.keys[0].idle + p.keys[0].in_use, 2U);
  EXPECT_EQ(debug_pools_json({worker("b", 0), worker("a", 1), worker("a", 0)}, 2),
            R"({"complete":false,"missing_workers":2,"workers":[{"target":"a","worker":0,)"
            R"("open":0,"target_open":0,"target_max":0,"target_borrowing":0,"keys":[]},{"target":"a","worker":1,)"
            R"("open":0,"target_open":0,"target_max":0,"target_borrowing":0,"keys":[]},{"target":"b","worker":0,)"
            R"("open":0,"target_open":0,"target_max":0,"target_borrowing":0,"keys":[]}]})");
}

TEST(DebugSessionsJson, EverySessionWithItsWorkerAndNullBeforeADatabaseThread) {
  WorkerSnapshot w = worker("main", 1);
  SessionSnapshot s;
  s.id = 7;
  s.user = "app\"ro";
  s.account = "app_ro";
  s.peer = "127.0.0.1:5000";
  s.state = "relay";
  s.thread_id = 99;
  s.in_transaction = true;
  s.age_seconds = 3.5;
  s.bytes_from_client = 10;
  s.bytes_to_client = 20;
  w.sessions.push_back(s);
  SessionSnapshot logging_in;
  logging_in.id = 8;
  logging_in.peer = "unix";
  logging_in.state = "client_login";
  w.sessions.push_back(logging_in);
  EXPECT_EQ(debug_sessions_json({w}, 0),
            R"({"complete":true,"missing_workers":0,"sessions":[{"target":"main","worker":1,"id":7,)"
            R"("user":"app\"ro","account":"app_ro","peer":"127.0.0.1:5000","state":"relay","thread_id":99,)"
            R"("in_transaction":true,"age_seconds":3.500,"bytes_from_client":10,"bytes_to_client":20},)"
            R"({"target":"main","worker":1,"id":8,"user":"","account":"","peer":"unix","state":"client_login",)"
            R"("thread_id":null,"in_transaction":false,"age_seconds":0.000,"bytes_from_client":0,)"
            R"("bytes_to_client":0}]})");
}

}  // namespace
}  // namespace camproxy::proxy
