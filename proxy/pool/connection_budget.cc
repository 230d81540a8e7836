#include "proxy/pool/connection_budget.h"

#include <algorithm>

namespace camproxy::proxy {

void ConnectionBudget::set_limits(size_t max, size_t max_waiters) {
  std::lock_guard lock(mu_);
  max_ = max;
  max_waiters_ = max_waiters;
  while (used_ < max_ && !queue_.empty()) {
    ++used_;
    grant_head();
  }
}

void ConnectionBudget::attach(Listener* l) {
  std::lock_guard lock(mu_);
  listeners_.push_back(l);
}

void ConnectionBudget::detach(Listener* l) {
  std::lock_guard lock(mu_);
  std::erase(listeners_, l);
  std::erase_if(queue_, [l](const Waiting& w) { return w.listener == l; });
  note_queue();
  for (auto it = granted_.begin(); it != granted_.end();) {
    if (it->listener != l) {
      ++it;
      continue;
    }
    it = granted_.erase(it);
    pass_on();
  }
}

bool ConnectionBudget::try_acquire() {
  std::lock_guard lock(mu_);
  // No overtaking: while anyone waits, no slot is free below --pool-max (pass_on() hands each on).
  if (used_ >= max_) return false;
  ++used_;
  return true;
}

void ConnectionBudget::acquire_unchecked() {
  std::lock_guard lock(mu_);
  ++used_;
}

void ConnectionBudget::release() {
  std::lock_guard lock(mu_);
  if (used_ > 0) pass_on();
}

std::optional<ConnectionBudget::Ticket> ConnectionBudget::enqueue(Listener* l) {
  std::lock_guard lock(mu_);
  if (queue_.size() >= max_waiters_) return std::nullopt;
  const Ticket t = next_ticket_++;
  queue_.push_back({t, l});
  note_queue();
  for (Listener* each : listeners_) each->notify();
  return t;
}

void ConnectionBudget::cancel(Ticket t) {
  std::lock_guard lock(mu_);
  if (std::erase_if(queue_, [t](const Waiting& w) { return w.ticket == t; }) > 0) {
    note_queue();
    return;
  }
  auto it = std::find_if(granted_.begin(), granted_.end(), [t](const Waiting& w) { return w.ticket == t; });
  if (it == granted_.end()) return;
  granted_.erase(it);
  pass_on();
}

std::vector<ConnectionBudget::Ticket> ConnectionBudget::take_granted(Listener* l) {
  std::lock_guard lock(mu_);
  std::vector<Ticket> out;
  std::erase_if(granted_, [&](const Waiting& w) {
    if (w.listener != l) return false;
    out.push_back(w.ticket);
    return true;
  });
  return out;
}

bool ConnectionBudget::hand_to_waiter() {
  std::lock_guard lock(mu_);
  if (queue_.empty()) return false;
  grant_head();
  return true;
}

ConnectionBudget::Stats ConnectionBudget::stats() const {
  std::lock_guard lock(mu_);
  return {used_, queue_.size()};
}

size_t ConnectionBudget::max() const {
  std::lock_guard lock(mu_);
  return max_;
}

void ConnectionBudget::pass_on() {
  // Above a lowered --pool-max the slot goes, even with waiters: they get the ones below it.
  if (queue_.empty() || used_ > max_) {
    --used_;
  } else {
    grant_head();
  }
}

void ConnectionBudget::grant_head() {
  Waiting head = queue_.front();
  queue_.pop_front();
  note_queue();
  granted_.push_back(head);
  head.listener->notify();
}

}  // namespace camproxy::proxy
