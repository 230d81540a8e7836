// Gathering worker snapshots on a real loop (worker_snapshot.h): the answer comes once every
// worker delivered, from other threads too; a worker that does not answer yields a partial
// answer at the deadline; a late delivery after that is dropped, never written anywhere freed.
#include "proxy/worker_snapshot.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/proxy/loop_harness.h"

namespace camproxy::proxy {
namespace {

using testing::LoopTest;

WorkerSnapshot snapshot_of(int index) {
  WorkerSnapshot w;
  w.target = "t";
  w.worker = index;
  return w;
}

struct Outcome {
  bool done = false;
  size_t got = 0;
  size_t missing = 0;
};

class WorkerSnapshotTest : public LoopTest {
 protected:
  SnapshotsDone record() {
    return [this](std::vector<WorkerSnapshot> s, size_t missing) {
      EXPECT_FALSE(outcome_.done) << "called twice";
      outcome_ = {true, s.size(), missing};
    };
  }
  Outcome outcome_;
};

TEST_F(WorkerSnapshotTest, AnswersOnceEveryWorkerDeliveredFromItsThread) {
  std::vector<std::thread> workers;
  gather_snapshots(
      loop(), 3, std::chrono::milliseconds(5000),
      [&](const std::shared_ptr<SnapshotBox>& box) {
        for (int i = 0; i < 3; ++i) workers.emplace_back([box, i] { box->deliver(snapshot_of(i)); });
      },
      record());
  ASSERT_TRUE(run_until([&] { return outcome_.done; }, 2000));
  for (auto& t : workers) t.join();
  EXPECT_EQ(outcome_.got, 3U);
  EXPECT_EQ(outcome_.missing, 0U);
}

TEST_F(WorkerSnapshotTest, AWorkerThatDoesNotAnswerGivesAPartialAnswerAndItsLateSnapshotIsDropped) {
  std::shared_ptr<SnapshotBox> kept;
  gather_snapshots(
      loop(), 2, std::chrono::milliseconds(50),
      [&](const std::shared_ptr<SnapshotBox>& box) {
        box->deliver(snapshot_of(0));
        kept = box;  // the second worker holds on and answers after the deadline
      },
      record());
  ASSERT_TRUE(run_until([&] { return outcome_.done; }, 2000));
  EXPECT_EQ(outcome_.got, 1U);
  EXPECT_EQ(outcome_.missing, 1U);
  ASSERT_TRUE(run_until_idle());  // the gather's handles are closed and it is gone
  kept->deliver(snapshot_of(1));  // must not touch the closed async
  EXPECT_TRUE(kept->close().empty());
}

TEST_F(WorkerSnapshotTest, NoWorkersAnswersAtOnce) {
  bool asked = false;
  gather_snapshots(
      loop(), 0, std::chrono::milliseconds(5000), [&](const std::shared_ptr<SnapshotBox>&) { asked = true; }, record());
  EXPECT_TRUE(outcome_.done);
  EXPECT_FALSE(asked);
  EXPECT_EQ(outcome_.missing, 0U);
}

}  // namespace
}  // namespace camproxy::proxy
