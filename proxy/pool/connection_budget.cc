#include "proxy/pool/connection_budget.h"

#include <algorithm>
#include <limits>

namespace camproxy::proxy {

void ConnectionBudget::set_limits(size_t max, size_t max_waiters, AccountLimits accounts) {
  std::lock_guard lock(mu_);
  max_ = max;
  max_waiters_ = max_waiters;
  account_limits_ = std::move(accounts);
  grant_waiters();
}

void ConnectionBudget::attach(Listener* l) {
  std::lock_guard lock(mu_);
  listeners_.push_back(l);
}

void ConnectionBudget::detach(Listener* l) {
  std::lock_guard lock(mu_);
  std::erase(listeners_, l);
  std::erase_if(queue_, [l](const Waiting& w) { return w.listener == l; });
  for (auto it = granted_.begin(); it != granted_.end();) {
    if (it->listener != l) {
      ++it;
      continue;
    }
    uncount(it->account);
    it = granted_.erase(it);
  }
  grant_waiters();
}

bool ConnectionBudget::try_acquire(std::string_view account) {
  std::lock_guard lock(mu_);
  // No overtaking: a waiter that could use a free slot has it already (grant_waiters() runs on
  // every change), so a slot free here is one no waiter can use.
  if (used_ >= max_ || !has_room(account)) return false;
  count(account);
  return true;
}

void ConnectionBudget::acquire_unchecked(std::string_view account) {
  std::lock_guard lock(mu_);
  count(account);
}

void ConnectionBudget::release(std::string_view account) {
  std::lock_guard lock(mu_);
  if (used_ == 0) return;
  uncount(account);
  grant_waiters();
}

bool ConnectionBudget::reassign(std::string_view from, std::string_view to) {
  std::lock_guard lock(mu_);
  if (from == to) return true;
  if (!has_room(to)) return false;
  uncount(from);
  count(to);
  return true;
}

void ConnectionBudget::move_slot(std::string_view from, std::string_view to) {
  std::lock_guard lock(mu_);
  uncount(from);
  count(to);
}

std::optional<ConnectionBudget::Ticket> ConnectionBudget::enqueue(Listener* l, std::string_view account) {
  std::lock_guard lock(mu_);
  if (queue_.size() >= max_waiters_) return std::nullopt;
  const Ticket t = next_ticket_++;
  queue_.push_back({t, l, std::string(account)});
  note_queue();
  for (Listener* each : listeners_) each->notify();
  grant_waiters();  // a slot freed since the caller's try_acquire()
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
  uncount(it->account);
  granted_.erase(it);
  grant_waiters();
}

std::vector<ConnectionBudget::Grant> ConnectionBudget::take_granted(Listener* l) {
  std::lock_guard lock(mu_);
  std::vector<Grant> out;
  std::erase_if(granted_, [&](const Waiting& w) {
    if (w.listener != l) return false;
    out.push_back({w.ticket, w.account});
    return true;
  });
  return out;
}

bool ConnectionBudget::hand_to_waiter(std::string_view account) {
  std::lock_guard lock(mu_);
  // As if the idle connection were closed: its account's slot is free for the search.
  uncount(account);
  auto it = std::find_if(queue_.begin(), queue_.end(), [this](const Waiting& w) { return has_room(w.account); });
  if (it == queue_.end()) {
    count(account);
    return false;
  }
  grant(it);  // even above a lowered --pool-max: the slot stays held, it does not add one
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

size_t ConnectionBudget::used_by(std::string_view account) const {
  std::lock_guard lock(mu_);
  auto it = used_by_account_.find(account);
  return it == used_by_account_.end() ? 0 : it->second;
}

bool ConnectionBudget::has_room(std::string_view account) const {
  auto limit = account_limits_.find(account);
  if (limit == account_limits_.end()) limit = account_limits_.find("*");
  if (limit == account_limits_.end()) return true;
  auto used = used_by_account_.find(account);
  return (used == used_by_account_.end() ? 0 : used->second) < limit->second;
}

void ConnectionBudget::count(std::string_view account) {
  ++used_;
  auto it = used_by_account_.find(account);
  if (it == used_by_account_.end()) it = used_by_account_.emplace(std::string(account), 0).first;
  ++it->second;
}

void ConnectionBudget::uncount(std::string_view account) {
  if (used_ > 0) --used_;
  auto it = used_by_account_.find(account);
  if (it == used_by_account_.end()) return;
  if (--it->second == 0) used_by_account_.erase(it);  // pass-through accounts come and go
}

void ConnectionBudget::grant_waiters() {
  for (auto it = queue_.begin(); it != queue_.end() && used_ < max_;) it = has_room(it->account) ? grant(it) : it + 1;
}

std::deque<ConnectionBudget::Waiting>::iterator ConnectionBudget::grant(std::deque<Waiting>::iterator it) {
  count(it->account);
  granted_.push_back(*it);
  it->listener->notify();
  auto next = queue_.erase(it);
  note_queue();
  return next;
}

}  // namespace camproxy::proxy
