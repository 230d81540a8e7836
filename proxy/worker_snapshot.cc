#include "proxy/worker_snapshot.h"

namespace camproxy::proxy {

void SnapshotBox::deliver(WorkerSnapshot snapshot) {
  std::lock_guard lock(mu_);
  if (all_in_ == nullptr) return;  // too late: the answer went without it
  got_.push_back(std::move(snapshot));
  if (got_.size() == expected_) uv_async_send(all_in_);
}

std::vector<WorkerSnapshot> SnapshotBox::close() {
  std::lock_guard lock(mu_);
  all_in_ = nullptr;
  return std::move(got_);
}

namespace {

// One gather on the control loop: an async the last worker wakes, a timer for the deadline.
struct Gather {
  uv_async_t all_in{};
  uv_timer_t deadline{};
  std::shared_ptr<SnapshotBox> box;
  size_t expected = 0;
  SnapshotsDone done;
  int open_handles = 2;

  void finish() {
    if (!done) return;  // both handles may fire in one loop iteration
    auto snapshots = box->close();
    const size_t missing = expected - snapshots.size();
    auto d = std::move(done);
    done = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&all_in), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&deadline), on_closed);
    d(std::move(snapshots), missing);
  }
  static void on_all_in(uv_async_t* a) { static_cast<Gather*>(a->data)->finish(); }
  static void on_deadline(uv_timer_t* t) { static_cast<Gather*>(t->data)->finish(); }
  static void on_closed(uv_handle_t* h) {
    auto* g = static_cast<Gather*>(h->data);
    if (--g->open_handles == 0) delete g;
  }
};

}  // namespace

void gather_snapshots(uv_loop_t* loop, size_t expected, std::chrono::milliseconds timeout,
                      const std::function<void(const std::shared_ptr<SnapshotBox>&)>& ask, SnapshotsDone done) {
  auto* g = new Gather;
  g->expected = expected;
  g->done = std::move(done);
  uv_async_init(loop, &g->all_in, Gather::on_all_in);
  uv_timer_init(loop, &g->deadline);
  g->all_in.data = g;
  g->deadline.data = g;
  g->box = std::make_shared<SnapshotBox>(&g->all_in, expected);
  if (expected == 0) {
    g->finish();
    return;
  }
  uv_timer_start(&g->deadline, Gather::on_deadline, static_cast<uint64_t>(timeout.count()), 0);
  ask(g->box);
}

}  // namespace camproxy::proxy
