// Which worker a new client goes to (proxy/worker_balance.h).
#include "proxy/worker_balance.h"

#include <gtest/gtest.h>

#include <vector>

namespace camproxy::proxy {
namespace {

std::optional<size_t> pick(size_t mine, std::vector<size_t> sessions) { return lighter_worker(mine, sessions); }

TEST(WorkerBalance, KeepsTheClientUnlessAnotherWorkerHasTwoFewerSessions) {
  EXPECT_EQ(pick(0, {0, 0}), std::nullopt);
  EXPECT_EQ(pick(0, {1, 0}), std::nullopt);  // connect per request: the last session still closing
  EXPECT_EQ(pick(0, {2, 0}), 1u);
  EXPECT_EQ(pick(1, {3, 5}), 0u);
  EXPECT_EQ(pick(1, {4, 5}), std::nullopt);
  EXPECT_EQ(pick(0, {7}), std::nullopt);  // one worker
}

TEST(WorkerBalance, ThePickedWorkerIsTheLeastBusy) {
  EXPECT_EQ(pick(0, {6, 3, 1, 2}), 2u);
  EXPECT_EQ(pick(3, {2, 0, 0, 5}), 1u);  // ties: the first
}

// What the hand-over rule gives when the kernel puts every connection of a burst on worker 0
// (the worst SO_REUSEPORT hash): the sessions still end up within the gap of each other.
TEST(WorkerBalance, ABurstOnOneWorkerIsSpread) {
  std::vector<size_t> sessions(4, 0);
  for (int i = 0; i < 40; ++i) ++sessions[pick(0, sessions).value_or(0)];
  for (size_t n : sessions) EXPECT_GE(n + kHandOverGap, sessions[0]) << n;
  EXPECT_EQ(sessions[0] + sessions[1] + sessions[2] + sessions[3], 40u);
}

}  // namespace
}  // namespace camproxy::proxy
