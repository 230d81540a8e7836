// The target's --pool-max budget and its borrow queue (proxy/pool/connection_budget.h): FIFO
// order without overtaking, --pool-max-waiters, a waiter that leaves, and a slot freed on one
// worker's thread reaching a waiter of another worker's pool on its own loop.
#include "proxy/pool/connection_budget.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <atomic>
#include <future>
#include <thread>

#include "proxy/pool/upstream_pool.h"
#include "tests/proxy/pool_test_support.h"

namespace camproxy::proxy::testing {
namespace {

using Ticket = ConnectionBudget::Ticket;

struct CountingListener final : ConnectionBudget::Listener {
  void notify() override { ++notified; }
  std::atomic<int> notified{0};
};

TEST(ConnectionBudget, WaitersGetFreedSlotsInArrivalOrderAndNewcomersDoNotOvertake) {
  ConnectionBudget budget;
  CountingListener a, b;
  budget.attach(&a);
  budget.attach(&b);
  budget.set_limits(1, 10);
  ASSERT_TRUE(budget.try_acquire());
  EXPECT_FALSE(budget.try_acquire());
  const Ticket first = *budget.enqueue(&b);
  const Ticket second = *budget.enqueue(&a);
  const Ticket third = *budget.enqueue(&b);
  EXPECT_EQ(budget.stats().waiting, 3U);
  EXPECT_GE(a.notified, 3);  // each arrival tells every worker (one may hold idle connections)

  budget.release();
  EXPECT_TRUE(budget.take_granted(&a).empty());
  EXPECT_EQ(budget.take_granted(&b), std::vector<Ticket>{first});
  EXPECT_EQ(budget.stats().used, 1U);  // the slot passed on, never free in between
  EXPECT_FALSE(budget.try_acquire());  // nor for a newcomer while others wait

  budget.release();
  EXPECT_EQ(budget.take_granted(&a), std::vector<Ticket>{second});
  budget.release();
  EXPECT_EQ(budget.take_granted(&b), std::vector<Ticket>{third});
  budget.release();
  EXPECT_EQ(budget.stats().used, 0U);
  EXPECT_TRUE(budget.try_acquire());
}

TEST(ConnectionBudget, AWaiterThatLeavesIsForgottenAndItsGrantPassesOn) {
  ConnectionBudget budget;
  CountingListener l;
  budget.attach(&l);
  budget.set_limits(1, 10);
  ASSERT_TRUE(budget.try_acquire());
  const Ticket gone = *budget.enqueue(&l);
  const Ticket granted_then_gone = *budget.enqueue(&l);
  const Ticket last = *budget.enqueue(&l);
  budget.cancel(gone);               // left while queued
  budget.release();                  // granted to granted_then_gone, whose worker has not taken it yet...
  budget.cancel(granted_then_gone);  // ... when its client leaves: the slot moves on
  EXPECT_EQ(budget.take_granted(&l), std::vector<Ticket>{last});
  EXPECT_EQ(budget.stats().used, 1U);  // held by `last` now
  budget.release();                    // its connection closes
  EXPECT_EQ(budget.stats().used, 0U);
  EXPECT_EQ(budget.stats().waiting, 0U);
}

TEST(ConnectionBudget, BeyondMaxWaitersEnqueueIsRefused) {
  ConnectionBudget budget;
  CountingListener l;
  budget.attach(&l);
  budget.set_limits(1, 2);
  ASSERT_TRUE(budget.try_acquire());
  const auto one = budget.enqueue(&l);
  ASSERT_TRUE(one);
  ASSERT_TRUE(budget.enqueue(&l));
  EXPECT_FALSE(budget.enqueue(&l));
  budget.cancel(*one);
  EXPECT_TRUE(budget.enqueue(&l));
}

TEST(ConnectionBudget, AnIdleConnectionsSlotGoesToTheHeadWaiterOnlyWhenOneWaits) {
  ConnectionBudget budget;
  CountingListener l;
  budget.attach(&l);
  budget.set_limits(1, 10);
  ASSERT_TRUE(budget.try_acquire());
  EXPECT_FALSE(budget.hand_to_waiter());
  const Ticket t = *budget.enqueue(&l);
  EXPECT_TRUE(budget.hand_to_waiter());
  EXPECT_EQ(budget.take_granted(&l), std::vector<Ticket>{t});
  EXPECT_EQ(budget.stats().used, 1U);
}

// A session of worker B waiting in the borrow queue (UpstreamPool::Waiter).
struct BorrowingSession final : UpstreamPool::Waiter {
  void on_pool_wait_over() override {}
  void on_borrow_idle() override {}
  void on_borrow_granted() override {
    on_thread = std::this_thread::get_id();
    at = std::chrono::steady_clock::now();
    granted.set_value();
  }
  std::promise<void> granted;
  std::thread::id on_thread;
  std::chrono::steady_clock::time_point at;
};

TEST(ConnectionBudget, ASlotFreedOnOneWorkerReachesAWaiterOfAnotherWorkerOnItsOwnLoop) {
  ConnectionBudget budget;
  uv_loop_t loop_a{}, loop_b{};
  ASSERT_EQ(uv_loop_init(&loop_a), 0);
  ASSERT_EQ(uv_loop_init(&loop_b), 0);
  FakePoolEnv env_a(&loop_a), env_b(&loop_b);
  for (FakePoolEnv* env : {&env_a, &env_b}) {
    env->config_.pool_max = 1;
    env->budget_ = &budget;
  }
  UpstreamPool pool_a(env_a), pool_b(env_b);
  pool_a.start();
  pool_b.start();
  pool_a.count_opened();  // worker A's session holds the target's only connection
  BorrowingSession waiter;
  ASSERT_FALSE(pool_b.try_open());
  ASSERT_TRUE(pool_b.borrow(PoolKey{"acct", 0, 0}, {}, &waiter));

  auto granted = waiter.granted.get_future();
  std::thread worker_b([&] {
    // Worker B's loop until its waiter is served (bounded), then its pool closes.
    uv_timer_t bound{};
    uv_timer_init(&loop_b, &bound);
    bound.data = &loop_b;
    uv_timer_start(
        &bound, [](uv_timer_t* t) { uv_stop(static_cast<uv_loop_t*>(t->data)); }, 5000, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&bound));
    while (granted.wait_for(std::chrono::seconds(0)) != std::future_status::ready && uv_loop_alive(&loop_b) &&
           uv_run(&loop_b, UV_RUN_ONCE) != 0) {
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&bound), nullptr);
    pool_b.count_closed();  // the waiter's dial would have held the slot; it ends here
    pool_b.close();
    uv_run(&loop_b, UV_RUN_DEFAULT);
  });
  const auto freed = std::chrono::steady_clock::now();
  pool_a.count_closed();  // A's connection closes on A's thread
  worker_b.join();
  // Woken at once (uv_async), not by the pools' one-second tick.
  EXPECT_LT(waiter.at - freed, std::chrono::milliseconds(500));
  EXPECT_NE(waiter.on_thread, std::thread::id{});
  EXPECT_NE(waiter.on_thread, std::this_thread::get_id());  // served on worker B's thread
  EXPECT_EQ(budget.stats().used, 0U);
  pool_a.close();
  uv_run(&loop_a, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop_a), 0);
  EXPECT_EQ(uv_loop_close(&loop_b), 0);
}

}  // namespace
}  // namespace camproxy::proxy::testing
