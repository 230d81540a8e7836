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

constexpr int64_t kNow = 100'000'000'000;
constexpr int64_t kMs = 1'000'000;

std::optional<size_t> steer(size_t mine, std::vector<size_t> sessions, std::vector<int64_t> returned_at) {
  return worker_for_client(mine, sessions, returned_at, kNow);
}

// Connection per request: the previous client's connection is being reset on worker 0; a client
// the kernel puts on worker 1 goes to worker 0, which can hand the reset connection over.
TEST(WorkerSteering, ANewClientGoesToTheWorkerOfTheLatestReturn) {
  EXPECT_EQ(steer(1, {1, 0}, {kNow - kMs, 0}), 0u);  // the previous session still closing on 0
  EXPECT_EQ(steer(1, {0, 0}, {kNow - kMs, kNow - 5 * kMs}), 0u);
  EXPECT_EQ(steer(0, {0, 0}, {kNow - kMs, kNow - 5 * kMs}), std::nullopt);  // already there
  EXPECT_EQ(steer(2, {0, 0, 0}, {kNow - 9 * kMs, kNow - 2 * kMs, 0}), 1u);
}

TEST(WorkerSteering, NoRecentReturnKeepsTheClient) {
  EXPECT_EQ(steer(1, {0, 0}, {0, 0}), std::nullopt);
  const int64_t stale = kNow - std::chrono::nanoseconds(kSteerWindow).count() - 1;
  EXPECT_EQ(steer(1, {0, 0}, {stale, 0}), std::nullopt);
}

// Steering never makes the spread worse than the gap: a busy worker of the latest return is
// left alone, and a worker two sessions busier still hands its client to the lightest.
TEST(WorkerSteering, BalanceComesFirst) {
  EXPECT_EQ(steer(1, {3, 1}, {kNow - kMs, 0}), std::nullopt);
  EXPECT_EQ(steer(1, {2, 1}, {kNow - kMs, 0}), 0u);
  EXPECT_EQ(steer(0, {3, 1}, {kNow - kMs, 0}), 1u);
}

}  // namespace
}  // namespace camproxy::proxy
