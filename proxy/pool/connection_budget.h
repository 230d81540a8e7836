#pragma once
// A target's --pool-max, held for all its workers together, and its borrow queue (issue 15).
//
// Every open database connection of the target (idle, cleaning, warming, in a session) holds one
// slot. A client that needs a connection when none is idle for it and every slot is held waits
// here, in arrival order across the workers, for at most --pool-borrow-timeout; at most
// --pool-max-waiters wait at once. A slot freed anywhere passes straight to the head waiter
// (it stays held: nobody can take it in between), and so does the slot of an idle connection
// that a worker gives up for a waiter (hand_to_waiter()). A new client takes a free slot only when
// nobody waits (FIFO: no overtaking), and so does a warm-up dial (never a slot a waiter needs).
//
// Workers are threads: everything here is under one mutex, and a worker learns that one of its
// waiters got a slot, or that clients wait, through its Listener (a uv_async_send in
// UpstreamPool, so notify() may run on any thread and must not call back into the budget).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
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

  struct Stats {
    size_t used = 0;     // slots held: the target's open database connections
    size_t waiting = 0;  // tickets in the queue
  };

  ConnectionBudget() = default;
  ConnectionBudget(const ConnectionBudget&) = delete;
  ConnectionBudget& operator=(const ConnectionBudget&) = delete;

  // --pool-max and --pool-max-waiters as of now (a reload may change them). A raised max passes
  // the new slots to the waiters.
  void set_limits(size_t max, size_t max_waiters);

  void attach(Listener* l);
  // Its queued tickets are dropped and the slots granted to it and not yet taken are freed.
  void detach(Listener* l);

  // A free slot for a new connection, when nobody waits for one.
  bool try_acquire();
  // A slot regardless of the limit: a dial that cannot wait (the very first connection of a
  // target, whose greeting every login needs).
  void acquire_unchecked();
  // A connection closed: its slot passes to the head waiter, or is free.
  void release();

  // Joins the queue; nullopt when --pool-max-waiters tickets are queued already. Every listener
  // is notified, so that a worker holding idle connections gives one up.
  std::optional<Ticket> enqueue(Listener* l);
  // The ticket's owner stops waiting (timeout, client gone). A slot already granted to it and
  // not taken is released (passed on to the next waiter).
  void cancel(Ticket t);
  // The tickets of `l` granted since the last call: each holds a slot now, for its owner to dial.
  std::vector<Ticket> take_granted(Listener* l);
  // A worker closes an idle connection for the head waiter: its slot passes to that waiter
  // instead of being released. False (keep the connection) when nobody waits.
  bool hand_to_waiter();
  // Without the lock (a pool asks at every connection it gets back): the queue's length as of
  // its last change, which a caller under the lock could not know any better either.
  bool has_waiters() const { return queued_.load(std::memory_order_acquire) != 0; }

  Stats stats() const;
  size_t max() const;

 private:
  struct Waiting {
    Ticket ticket;
    Listener* listener;
  };
  // queued_ follows queue_ (mu_ held).
  void note_queue() { queued_.store(queue_.size(), std::memory_order_release); }
  // A held slot is given up: to the head waiter, or freed (mu_ held).
  void pass_on();
  // The head ticket gets the slot the caller holds (mu_ held; the listener is notified).
  void grant_head();

  mutable std::mutex mu_;
  size_t max_ = 0;
  size_t max_waiters_ = 0;
  size_t used_ = 0;
  Ticket next_ticket_ = 1;
  std::deque<Waiting> queue_;      // in arrival order
  std::atomic<size_t> queued_{0};  // queue_.size(), set with every change of queue_ (mu_ held)
  std::vector<Waiting> granted_;   // granted, not yet taken by their listener
  std::vector<Listener*> listeners_;
};

}  // namespace camproxy::proxy
