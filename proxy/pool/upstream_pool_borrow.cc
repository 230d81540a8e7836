// The pool's side of the target's borrow queue (connection_budget.h): this worker's sessions
// that wait there, the slots granted to them, and its idle connections while anyone waits.
#include <algorithm>

#include "proxy/pool/upstream_pool.h"

namespace camproxy::proxy {

bool UpstreamPool::borrow(const PoolKey& key, const SessionProfile& want, Waiter* w) {
  if (!started_) return false;
  auto ticket = env_.budget().enqueue(this, key.account);
  if (!ticket) return false;
  borrowers_.push_back({*ticket, key, want, w});
  return true;
}

void UpstreamPool::cancel_borrow(Waiter* w) {
  auto it = std::find_if(borrowers_.begin(), borrowers_.end(), [w](const Borrower& b) { return b.waiter == w; });
  if (it == borrowers_.end()) return;
  const ConnectionBudget::Ticket ticket = it->ticket;
  borrowers_.erase(it);
  env_.budget().cancel(ticket);  // a slot granted meanwhile passes to the next waiter
}

void UpstreamPool::notify() { uv_async_send(&budget_async_); }

void UpstreamPool::on_budget(uv_async_t* a) { static_cast<UpstreamPool*>(a->data)->serve_borrowers(); }

void UpstreamPool::serve_borrowers() {
  if (!started_) return;
  ConnectionBudget& budget = env_.budget();
  for (const ConnectionBudget::Grant& g : budget.take_granted(this)) {
    auto it =
        std::find_if(borrowers_.begin(), borrowers_.end(), [&g](const Borrower& b) { return b.ticket == g.ticket; });
    if (it == borrowers_.end()) {  // not ours any more (cancel_borrow drops a grant): pass it on
      budget.release(g.account);
      continue;
    }
    Waiter* w = it->waiter;
    borrowers_.erase(it);
    ++open_;
    w->on_borrow_granted();  // dials into the slot
  }
  // An idle connection serves a borrower of its key on this worker first: no dial at all...
  for (size_t i = 0; i < borrowers_.size() && counts_[static_cast<size_t>(Entry::State::idle)] > 0;) {
    if (!has_idle_for(borrowers_[i].key, borrowers_[i].want)) {
      ++i;
      continue;
    }
    const Borrower b = borrowers_[i];
    borrowers_.erase(borrowers_.begin() + static_cast<ptrdiff_t>(i));
    budget.cancel(b.ticket);
    b.waiter->on_borrow_idle();  // takes it
  }
  // ... else its slot goes to the head waiter, on whichever worker: closed here, so that the
  // waiter's worker dials into the slot (a connection cannot move between the workers' loops).
  while (Entry* idle = oldest_idle()) {
    if (!budget.hand_to_waiter(idle->pc.key.account)) break;
    close_pooled(*idle, PoolClose::make_room, true);
  }
}

}  // namespace camproxy::proxy
