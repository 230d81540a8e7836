// The target's --pool-max budget and its borrow queue (proxy/pool/connection_budget.h): FIFO
// order without overtaking, --pool-max-waiters, a waiter that leaves, per-account caps
// (pool.max-by-account), and a slot freed on one worker's thread reaching a waiter of another
// worker's pool on its own loop.
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

constexpr std::string_view kAccount = "acct";

std::vector<Ticket> tickets(const std::vector<ConnectionBudget::Grant>& grants) {
  std::vector<Ticket> out;
  for (const auto& g : grants) out.push_back(g.ticket);
  return out;
}

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
  ASSERT_TRUE(budget.try_acquire(kAccount));
  EXPECT_FALSE(budget.try_acquire(kAccount));
  const Ticket first = *budget.enqueue(&b, kAccount);
  const Ticket second = *budget.enqueue(&a, kAccount);
  const Ticket third = *budget.enqueue(&b, kAccount);
  EXPECT_EQ(budget.stats().waiting, 3U);
  EXPECT_GE(a.notified, 3);  // each arrival tells every worker (one may hold idle connections)

  budget.release(kAccount);
  EXPECT_TRUE(tickets(budget.take_granted(&a)).empty());
  EXPECT_EQ(tickets(budget.take_granted(&b)), std::vector<Ticket>{first});
  EXPECT_EQ(budget.stats().used, 1U);          // the slot passed on, never free in between
  EXPECT_FALSE(budget.try_acquire(kAccount));  // nor for a newcomer while others wait

  budget.release(kAccount);
  EXPECT_EQ(tickets(budget.take_granted(&a)), std::vector<Ticket>{second});
  budget.release(kAccount);
  EXPECT_EQ(tickets(budget.take_granted(&b)), std::vector<Ticket>{third});
  budget.release(kAccount);
  EXPECT_EQ(budget.stats().used, 0U);
  EXPECT_TRUE(budget.try_acquire(kAccount));
}

TEST(ConnectionBudget, AWaiterThatLeavesIsForgottenAndItsGrantPassesOn) {
  ConnectionBudget budget;
  CountingListener l;
  budget.attach(&l);
  budget.set_limits(1, 10);
  ASSERT_TRUE(budget.try_acquire(kAccount));
  const Ticket gone = *budget.enqueue(&l, kAccount);
  const Ticket granted_then_gone = *budget.enqueue(&l, kAccount);
  const Ticket last = *budget.enqueue(&l, kAccount);
  budget.cancel(gone);               // left while queued
  budget.release(kAccount);          // granted to granted_then_gone, whose worker has not taken it yet...
  budget.cancel(granted_then_gone);  // ... when its client leaves: the slot moves on
  EXPECT_EQ(tickets(budget.take_granted(&l)), std::vector<Ticket>{last});
  EXPECT_EQ(budget.stats().used, 1U);  // held by `last` now
  budget.release(kAccount);            // its connection closes
  EXPECT_EQ(budget.stats().used, 0U);
  EXPECT_EQ(budget.stats().waiting, 0U);
}

TEST(ConnectionBudget, BeyondMaxWaitersEnqueueIsRefused) {
  ConnectionBudget budget;
  CountingListener l;
  budget.attach(&l);
  budget.set_limits(1, 2);
  ASSERT_TRUE(budget.try_acquire(kAccount));
  const auto one = budget.enqueue(&l, kAccount);
  ASSERT_TRUE(one);
  ASSERT_TRUE(budget.enqueue(&l, kAccount));
  EXPECT_FALSE(budget.enqueue(&l, kAccount));
  budget.cancel(*one);
  EXPECT_TRUE(budget.enqueue(&l, kAccount));
}

TEST(ConnectionBudget, AnIdleConnectionsSlotGoesToTheHeadWaiterOnlyWhenOneWaits) {
  ConnectionBudget budget;
  CountingListener l;
  budget.attach(&l);
  budget.set_limits(1, 10);
  ASSERT_TRUE(budget.try_acquire(kAccount));
  EXPECT_FALSE(budget.hand_to_waiter(kAccount));
  const Ticket t = *budget.enqueue(&l, kAccount);
  EXPECT_TRUE(budget.hand_to_waiter(kAccount));
  EXPECT_EQ(tickets(budget.take_granted(&l)), std::vector<Ticket>{t});
  EXPECT_EQ(budget.stats().used, 1U);
}

// pool.max-by-account: an account at its cap waits, and lets pass the waiters behind it that a
// freed slot can serve; its own waiters get its own freed slots, in arrival order.
TEST(ConnectionBudget, AnAccountAtItsCapWaitsWithoutHoldingUpOtherAccounts) {
  ConnectionBudget budget;
  CountingListener l;
  budget.attach(&l);
  budget.set_limits(3, 10, {{"capped", 1}});
  ASSERT_TRUE(budget.try_acquire("capped"));
  EXPECT_FALSE(budget.try_acquire("capped"));  // its cap, with --pool-max not reached
  const Ticket capped_waits = *budget.enqueue(&l, "capped");
  EXPECT_TRUE(tickets(budget.take_granted(&l)).empty());
  ASSERT_TRUE(budget.try_acquire("other"));  // a slot the capped waiter cannot use
  ASSERT_TRUE(budget.try_acquire("other"));
  const Ticket other_waits = *budget.enqueue(&l, "other");  // --pool-max now
  budget.release("other");                                  // behind the capped waiter, served first
  EXPECT_EQ(budget.take_granted(&l), (std::vector<ConnectionBudget::Grant>{{other_waits, "other"}}));
  budget.release("capped");
  EXPECT_EQ(tickets(budget.take_granted(&l)), std::vector<Ticket>{capped_waits});
  EXPECT_EQ(budget.used_by("capped"), 1U);
  EXPECT_EQ(budget.used_by("other"), 2U);
  EXPECT_EQ(budget.stats().used, 3U);
  EXPECT_EQ(budget.stats().waiting, 0U);
}

TEST(ConnectionBudget, TheStarLimitCapsEveryAccountNotNamed) {
  ConnectionBudget budget;
  budget.set_limits(10, 10, {{"*", 1}, {"big", 2}});
  EXPECT_TRUE(budget.try_acquire("x"));
  EXPECT_FALSE(budget.try_acquire("x"));
  EXPECT_TRUE(budget.try_acquire("y"));
  EXPECT_TRUE(budget.try_acquire("big"));
  EXPECT_TRUE(budget.try_acquire("big"));
  EXPECT_FALSE(budget.try_acquire("big"));
  budget.release("x");
  EXPECT_EQ(budget.used_by("x"), 0U);
  EXPECT_TRUE(budget.try_acquire("x"));
}

TEST(ConnectionBudget, ARaisedAccountLimitServesItsWaiters) {
  ConnectionBudget budget;
  CountingListener l;
  budget.attach(&l);
  budget.set_limits(5, 10, {{"a", 1}});
  ASSERT_TRUE(budget.try_acquire("a"));
  const Ticket t = *budget.enqueue(&l, "a");
  budget.set_limits(5, 10, {{"a", 2}});  // a reload
  EXPECT_EQ(tickets(budget.take_granted(&l)), std::vector<Ticket>{t});
  EXPECT_EQ(budget.used_by("a"), 2U);
}

TEST(ConnectionBudget, AnIdleConnectionGoesOnlyToAWaiterItsSlotCanServe) {
  ConnectionBudget budget;
  CountingListener l;
  budget.attach(&l);
  budget.set_limits(2, 10, {{"a", 1}});
  ASSERT_TRUE(budget.try_acquire("a"));  // idle on some worker
  ASSERT_TRUE(budget.try_acquire("b"));  // idle too
  const Ticket t = *budget.enqueue(&l, "a");
  EXPECT_FALSE(budget.hand_to_waiter("b"));  // closing b's would leave "a" at its cap
  EXPECT_EQ(budget.used_by("b"), 1U);
  EXPECT_TRUE(budget.hand_to_waiter("a"));
  EXPECT_EQ(tickets(budget.take_granted(&l)), std::vector<Ticket>{t});
  EXPECT_EQ(budget.used_by("a"), 1U);
  EXPECT_EQ(budget.stats().used, 2U);
  // At --pool-max with nobody waiting, a new connection takes an idle one's slot: not beyond its cap.
  EXPECT_FALSE(budget.reassign("b", "a"));
  EXPECT_TRUE(budget.reassign("a", "c"));
  EXPECT_EQ(budget.used_by("a"), 0U);
  EXPECT_EQ(budget.used_by("c"), 1U);
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
  pool_a.count_opened(kAccount);  // worker A's session holds the target's only connection
  BorrowingSession waiter;
  ASSERT_FALSE(pool_b.try_open(kAccount));
  ASSERT_TRUE(pool_b.borrow(PoolKey{std::string(kAccount), 0, 0}, {}, &waiter));

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
    pool_b.count_closed(kAccount);  // the waiter's dial would have held the slot; it ends here
    pool_b.close();
    uv_run(&loop_b, UV_RUN_DEFAULT);
  });
  const auto freed = std::chrono::steady_clock::now();
  pool_a.count_closed(kAccount);  // A's connection closes on A's thread
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
