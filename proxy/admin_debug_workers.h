#pragma once
// The admin endpoint's answers built from worker snapshots (worker_snapshot.h):
// GET /debug/pools and GET /debug/sessions (docs/operations.md "Introspection"). One line of
// JSON each; "complete" is false and "missing_workers" counts the workers that did not answer
// in time. Snapshots hold names, addresses and counters only, so no secret can reach them.
#include <string>
#include <vector>

#include "proxy/worker_snapshot.h"

namespace camproxy::proxy {

// Per target and worker: open connections, then per pool key (account, caps) the idle, in
// use, warming, learning, cleaning and waiting counts and the connections the pool holds.
std::string debug_pools_json(std::vector<WorkerSnapshot> snapshots, size_t missing_workers);

// Every client session: target, worker, id, user, account, peer, state, thread_id,
// in_transaction, age_seconds, bytes_from_client, bytes_to_client.
std::string debug_sessions_json(std::vector<WorkerSnapshot> snapshots, size_t missing_workers);

}  // namespace camproxy::proxy
