#pragma once
// A target's --pool-max, held for all its workers together, and its borrow queue (issue 15).
//
// Every open database connection of the target (idle, cleaning, warming, in a session) holds one
// slot. A client that needs a connection when none is idle for it and no slot is free for it waits
// here, in arrival order across the workers, for at most --pool-borrow-timeout; at most
// --pool-max-waiters wait at once. A slot freed anywhere passes straight to the first waiter that
// can use it (it stays held: nobody can take it in between), and so does the slot of an idle
// connection that a worker gives up for a waiter (hand_to_waiter()). A new client takes a free slot
// only when no waiter could (FIFO: no overtaking), and so does a warm-up dial (never a slot a
// waiter needs).
//
// An account may have a cap of its own (pool.max-by-account, docs/config.md): its connections, all
// workers and pool keys together, count against it as well as against --pool-max. A waiter whose
// account is at its cap waits in the same queue but lets pass those behind it that can use a freed
// slot (FIFO among the waiters a slot can serve): one account at its cap never holds up the others.
//
// Workers are threads: everything here is under one mutex, and a worker learns that one of its
// waiters got a slot, or that clients wait, through its Listener (a uv_async_send in
// UpstreamPool, so notify() may run on any thread and must not call back into the budget).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace camproxy::proxy {

class ConnectionBudget {
 public:
  class Listener {
   public:
    // Something changed for this worker: one of its tickets was granted (take_granted()), or
    // clients wait while it may hold idle connections (has_waiters()). Any thread.
    virtual void notify() = 0;

   protected:
    ~Listener() = default;
  };

  using Ticket = uint64_t;
  // Account name -> most connections of that account; the key "*" caps every account not named.
  using AccountLimits = std::map<std::string, size_t, std::less<>>;

  struct Stats {
    size_t used = 0;     // slots held: the target's open database connections
    size_t waiting = 0;  // tickets in the queue
  };

  // A ticket granted: its slot is held for `account`.
  struct Grant {
    Ticket ticket = 0;
    std::string account;
    bool operator==(const Grant&) const = default;
  };

  ConnectionBudget() = default;
  ConnectionBudget(const ConnectionBudget&) = delete;
  ConnectionBudget& operator=(const ConnectionBudget&) = delete;

  // --pool-max, --pool-max-waiters and pool.max-by-account as of now (a reload may change them).
  // Raised limits pass the new slots to the waiters.
  void set_limits(size_t max, size_t max_waiters, AccountLimits accounts = {});

  void attach(Listener* l);
  // Its queued tickets are dropped and the slots granted to it and not yet taken are freed.
  void detach(Listener* l);

  // A free slot for a new connection of `account`, when no waiter could use it.
  bool try_acquire(std::string_view account);
  // A slot regardless of the limits: a dial that cannot wait (the very first connection of a
  // target, whose greeting every login needs; a reconnect).
  void acquire_unchecked(std::string_view account);
  // A connection of `account` closed: its slot passes to the first waiter that can use it, or is free.
  void release(std::string_view account);
  // A connection of `from` is closed to make room for a new one of `to` (at --pool-max, nobody
  // waiting): its slot changes account. False (keep the connection) when `to` is at its cap.
  bool reassign(std::string_view from, std::string_view to);
  // The same, whatever the caps: the first session's connection, dialed to learn the greeting
  // before its client named an account, becomes that account's.
  void move_slot(std::string_view from, std::string_view to);

  // Joins the queue for a connection of `account`; nullopt when --pool-max-waiters tickets are
  // queued already. Every listener is notified, so that a worker holding idle connections gives
  // one up.
  std::optional<Ticket> enqueue(Listener* l, std::string_view account);
  // The ticket's owner stops waiting (timeout, client gone). A slot already granted to it and
  // not taken is released (passed on to the next waiter).
  void cancel(Ticket t);
  // The tickets of `l` granted since the last call: each holds a slot now, for its owner to dial.
  std::vector<Grant> take_granted(Listener* l);
  // A worker closes an idle connection of `account` for a waiter: its slot passes to the first
  // waiter that can use it instead of being released. False (keep the connection) when none can.
  bool hand_to_waiter(std::string_view account);
  // Without the lock (a pool asks at every connection it gets back): the queue's length as of
  // its last change, which a caller under the lock could not know any better either.
  bool has_waiters() const { return queued_.load(std::memory_order_acquire) != 0; }

  Stats stats() const;
  size_t max() const;
  // The connections of `account` open now (all workers).
  size_t used_by(std::string_view account) const;

 private:
  struct Waiting {
    Ticket ticket;
    Listener* listener;
    std::string account;
  };
  // mu_ held for all of these.
  // queued_ follows queue_.
  void note_queue() { queued_.store(queue_.size(), std::memory_order_release); }
  bool has_room(std::string_view account) const;
  void count(std::string_view account);
  void uncount(std::string_view account);
  // Slots below --pool-max go to the queued waiters whose account has room, in arrival order.
  void grant_waiters();
  // The waiter at `it` gets a slot counted for its account; returns the waiter after it.
  std::deque<Waiting>::iterator grant(std::deque<Waiting>::iterator it);

  mutable std::mutex mu_;
  size_t max_ = 0;
  size_t max_waiters_ = 0;
  size_t used_ = 0;
  AccountLimits account_limits_;
  std::map<std::string, size_t, std::less<>> used_by_account_;  // accounts with a connection open
  Ticket next_ticket_ = 1;
  std::deque<Waiting> queue_;      // in arrival order
  std::atomic<size_t> queued_{0};  // queue_.size(), set with every change of queue_ (mu_ held)
  std::vector<Waiting> granted_;   // granted, not yet taken by their listener
  std::vector<Listener*> listeners_;
};

}  // namespace camproxy::proxy
