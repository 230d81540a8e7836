#pragma once
// What a worker's pool holds at one moment, for GET /debug/pools (docs/operations.md
// "Introspection"): plain values copied on the worker's thread, read on the control thread.
// Accounts, capability bits and schemas only: nothing of a connection's credentials.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace camproxy::proxy {

// One connection the pool holds (not those in sessions).
struct PoolEntrySnapshot {
  std::string state;  // warming, learning, idle, cleaning (UpstreamPool::Entry::State)
  uint32_t thread_id = 0;
  double age_seconds = 0;   // since it logged in
  double idle_seconds = 0;  // since it came to rest (idle only)
  std::optional<std::string> schema;
};

// The connections of one pool key (account, the spec §5.4 capability bits and the MariaDB
// extended capabilities: UpstreamPool's PoolKey).
struct PoolKeySnapshot {
  std::string account;
  uint32_t caps = 0;
  uint32_t mariadb_caps = 0;
  size_t idle = 0, warming = 0, learning = 0, cleaning = 0;
  size_t in_use = 0;     // held by this worker's sessions (filled in by the worker)
  size_t waiting = 0;    // sessions waiting for one of the key's connections to come back
  size_t borrowing = 0;  // this worker's sessions of the key in the target's borrow queue
  std::vector<PoolEntrySnapshot> entries;
};

struct PoolSnapshot {
  size_t open = 0;  // every connection of the worker, in the pool or in sessions
  // The target's ConnectionBudget, the same for each of its workers: connections open (all
  // workers), --pool-max, and clients in the borrow queue.
  size_t target_open = 0, target_max = 0, target_borrowing = 0;
  std::vector<PoolKeySnapshot> keys;

  // The entry of a key, added when it is not there yet.
  PoolKeySnapshot& key(const std::string& account, uint32_t caps, uint32_t mariadb_caps) {
    for (auto& k : keys)
      if (k.account == account && k.caps == caps && k.mariadb_caps == mariadb_caps) return k;
    PoolKeySnapshot& added = keys.emplace_back();
    added.account = account;
    added.caps = caps;
    added.mariadb_caps = mariadb_caps;
    return added;
  }
};

}  // namespace camproxy::proxy
