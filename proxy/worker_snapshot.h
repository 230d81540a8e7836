#pragma once
// GET /debug/pools and /debug/sessions read what lives on worker threads. No other thread may
// touch a worker's sessions or pool, so the control loop asks each worker for a snapshot
// (Worker::request_snapshot, a uv_async wake-up), each worker copies its own on its thread
// and hands it to a SnapshotBox, and the control loop answers once every worker has, or after
// a deadline with what it has (a partial answer, marked so).
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/pool/pool_snapshot.h"
#include "proxy/session/session_snapshot.h"

namespace camproxy::proxy {

struct WorkerSnapshot {
  std::string target;
  int worker = 0;
  PoolSnapshot pool;
  std::vector<SessionSnapshot> sessions;
};

// Where workers drop their snapshots; shared by the gather and every worker asked, so a worker
// answering late (or never: it stopped) never writes into freed memory.
class SnapshotBox {
 public:
  SnapshotBox(uv_async_t* all_in, size_t expected) : all_in_(all_in), expected_(expected) {}
  // Any thread: one worker's answer; the last one expected wakes the control loop.
  void deliver(WorkerSnapshot snapshot);
  // Control thread: what arrived so far; later answers are dropped.
  std::vector<WorkerSnapshot> close();

 private:
  std::mutex mu_;
  uv_async_t* all_in_;  // null once closed (guarded by mu_)
  size_t expected_;
  std::vector<WorkerSnapshot> got_;
};

// Control thread: asks `ask` (a function sending the box to each worker) for snapshots of
// `expected` workers and calls `done` once with what arrived and how many did not within
// `timeout`. Owns its handles and deletes itself after `done`.
using SnapshotsDone = std::function<void(std::vector<WorkerSnapshot> snapshots, size_t missing)>;
void gather_snapshots(uv_loop_t* loop, size_t expected, std::chrono::milliseconds timeout,
                      const std::function<void(const std::shared_ptr<SnapshotBox>&)>& ask, SnapshotsDone done);

}  // namespace camproxy::proxy
