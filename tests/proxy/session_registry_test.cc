// SessionRegistry: what a KILL may name (a greeting id or a session's current database thread id)
// and nothing else, kept current as sessions change threads, and the greeting id space.
#include "proxy/session/session_registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <thread>

namespace camproxy::proxy {
namespace {

using Outcome = KillTarget::Outcome;

TEST(SessionRegistry, GreetingIdsArePositiveInt32sAboveSmallThreadIds) {
  EXPECT_EQ(client_connection_id(1), 0x40000001U);
  EXPECT_EQ(client_connection_id(2), 0x40000002U);
  for (uint32_t n : {0U, 1U, 0x3FFFFFFFU, 0x40000000U, 0x7FFFFFFFU, 0xFFFFFFFFU}) {
    const uint32_t id = client_connection_id(n);
    EXPECT_GE(id, 1U << 30) << n;
    EXPECT_LE(id, static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) << n;
  }
  EXPECT_EQ(client_connection_id(0x40000001U), client_connection_id(1)) << "wraps within the range";
}

TEST(SessionRegistry, FindsASessionByGreetingIdOrByItsCurrentThreadIdOnly) {
  SessionRegistry r;
  auto a = r.add(client_connection_id(1), "app");
  r.set_thread(a, 74);
  auto b = r.add(client_connection_id(2), "ops");
  r.set_thread(b, 75);

  const KillTarget by_greeting = r.find_for_kill(client_connection_id(1));
  EXPECT_EQ(by_greeting.outcome, Outcome::found);
  EXPECT_EQ(by_greeting.entry, a);
  EXPECT_EQ(by_greeting.thread_id, 74U);
  EXPECT_EQ(by_greeting.user, "app");

  const KillTarget by_thread = r.find_for_kill(75);
  EXPECT_EQ(by_thread.outcome, Outcome::found);
  EXPECT_EQ(by_thread.entry, b);
  EXPECT_EQ(by_thread.thread_id, 75U);
  EXPECT_EQ(by_thread.user, "ops");

  for (uint64_t other : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{76}, uint64_t{client_connection_id(3)},
                         (uint64_t{1} << 32) | 74U}) {
    EXPECT_EQ(r.find_for_kill(other).outcome, Outcome::unknown) << other;
  }
}

TEST(SessionRegistry, ANewThreadReplacesTheOldOneAndZeroMeansNone) {
  SessionRegistry r;
  auto a = r.add(client_connection_id(1), "app");
  r.set_thread(a, 74);
  r.set_thread(a, 90);  // a reconnect
  EXPECT_EQ(r.find_for_kill(74).outcome, Outcome::unknown) << "the old thread is no longer the session's";
  EXPECT_EQ(r.find_for_kill(90).entry, a);
  r.set_thread(a, 0);  // reconnecting
  EXPECT_EQ(r.find_for_kill(90).outcome, Outcome::unknown);
  const KillTarget t = r.find_for_kill(client_connection_id(1));
  EXPECT_EQ(t.outcome, Outcome::found);
  EXPECT_EQ(t.thread_id, 0U);
}

TEST(SessionRegistry, AThreadPassedToAnotherSessionStaysTheNewOnesWhenTheOldOneLeaves) {
  SessionRegistry r;
  auto a = r.add(client_connection_id(1), "app");
  r.set_thread(a, 74);
  auto b = r.add(client_connection_id(2), "app");
  r.set_thread(b, 74);  // a's connection went back to the pool and b took it
  r.remove(a);
  EXPECT_EQ(r.find_for_kill(74).entry, b);
  EXPECT_EQ(r.find_for_kill(client_connection_id(1)).outcome, Outcome::unknown);
  r.remove(b);
  EXPECT_EQ(r.find_for_kill(74).outcome, Outcome::unknown);
  EXPECT_EQ(r.find_for_kill(client_connection_id(2)).outcome, Outcome::unknown);
}

// Thread id 0 is "no database connection now" (between commands in --pool-mode transaction, or
// reconnecting): never a session's to KILL.
TEST(SessionRegistry, NoThreadIsNeverFoundAsThreadZero) {
  SessionRegistry r;
  auto a = r.add(client_connection_id(1), "app");
  auto b = r.add(client_connection_id(2), "app");
  r.set_thread(b, 74);
  r.set_thread(b, 0);
  EXPECT_EQ(r.find_for_kill(0).outcome, Outcome::unknown);
  EXPECT_EQ(r.find_for_kill(74).outcome, Outcome::unknown);
  EXPECT_EQ(r.find_for_kill(client_connection_id(1)).entry, a);
}

// The newest claim of a thread id holds it, whichever order the sessions were added in.
TEST(SessionRegistry, TheLatestClaimOfAThreadHoldsIt) {
  SessionRegistry r;
  auto a = r.add(client_connection_id(1), "app");
  auto b = r.add(client_connection_id(2), "ops");
  r.set_thread(b, 74);
  r.set_thread(a, 74);  // b gave it up without saying so (it is about to be removed)
  EXPECT_EQ(r.find_for_kill(74).entry, a);
  r.set_thread(b, 74);
  EXPECT_EQ(r.find_for_kill(74).entry, b);
  EXPECT_EQ(r.find_for_kill(74).user, "ops");
}

TEST(SessionRegistry, AWrappedGreetingIdIsNotRemovedByItsOlderHolder) {
  SessionRegistry r;
  auto old_one = r.add(client_connection_id(1), "app");
  auto new_one = r.add(client_connection_id(0x40000001U), "app");
  r.remove(old_one);
  EXPECT_EQ(r.find_for_kill(client_connection_id(1)).entry, new_one);
}

// A database that served 2^30 connections: one session's thread id is another's greeting id.
TEST(SessionRegistry, AnIdThatNamesTwoSessionsNamesNone) {
  SessionRegistry r;
  auto a = r.add(client_connection_id(1), "app");
  r.set_thread(a, 7);
  auto b = r.add(client_connection_id(2), "app");
  r.set_thread(b, client_connection_id(1));
  EXPECT_EQ(r.find_for_kill(client_connection_id(1)).outcome, Outcome::ambiguous);
  EXPECT_EQ(r.find_for_kill(client_connection_id(1)).entry, nullptr);
  r.set_thread(a, client_connection_id(1));  // a session whose own thread id is its greeting id
  r.set_thread(b, 8);
  EXPECT_EQ(r.find_for_kill(client_connection_id(1)).entry, a);
}

TEST(SessionRegistry, AChangedUserIsWhatTheOwnerCheckSees) {
  SessionRegistry r;
  auto a = r.add(client_connection_id(1), "app");
  r.set_user(a, "ops");
  EXPECT_EQ(r.find_for_kill(client_connection_id(1)).user, "ops");
}

// Workers differ: one moves its sessions between threads while another looks them up (run under
// TSan by tests/sanitizers.sh). A lookup by thread id always sees the session holding it.
TEST(SessionRegistry, LookupsFromAnotherThreadSeeConsistentEntries) {
  SessionRegistry r;
  auto a = r.add(client_connection_id(1), "app");
  auto b = r.add(client_connection_id(2), "app");
  std::atomic<bool> done{false};
  std::thread mover([&] {
    for (uint32_t i = 1; i <= 20000; ++i) {
      r.set_thread(a, 2 * i);
      r.set_thread(b, 2 * i + 1);
      r.set_user(a, i % 2 ? "app" : "ops");
    }
    done = true;
  });
  while (!done) {
    for (uint64_t id = 2; id < 200; ++id) {
      const KillTarget t = r.find_for_kill(id);
      if (t.outcome != Outcome::found) continue;
      EXPECT_EQ(t.thread_id, id);
      EXPECT_EQ(t.entry, id % 2 ? b : a);
    }
  }
  mover.join();
  EXPECT_EQ(r.find_for_kill(40000).entry, a);
  EXPECT_EQ(r.find_for_kill(40001).entry, b);
}

}  // namespace
}  // namespace camproxy::proxy
