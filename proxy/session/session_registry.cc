#include "proxy/session/session_registry.h"

namespace camproxy::proxy {
namespace {

uint32_t thread_of(uint64_t claim) { return static_cast<uint32_t>(claim); }
uint32_t number_of(uint64_t claim) { return static_cast<uint32_t>(claim >> 32); }

}  // namespace

std::shared_ptr<SessionEntry> SessionRegistry::add(uint32_t connection_id, std::string user) {
  auto e = std::make_shared<SessionEntry>(connection_id, std::move(user));
  std::lock_guard lock(mu_);
  by_connection_id_[connection_id] = e;  // after the id space wrapped, the newer session has the id
  return e;
}

// A database connection serves one session at a time: whoever claimed this thread before has
// given it back to the pool, and this newer claim wins over its (find_by_thread).
void SessionRegistry::set_thread(const std::shared_ptr<SessionEntry>& e, uint32_t thread_id) {
  const uint64_t number = claims_.fetch_add(1, std::memory_order_relaxed) + 1;
  e->claim_.store(number << 32 | thread_id, std::memory_order_release);
}

void SessionRegistry::set_user(const std::shared_ptr<SessionEntry>& e, std::string user) {
  std::lock_guard lock(mu_);
  e->user_ = std::move(user);
}

void SessionRegistry::remove(const std::shared_ptr<SessionEntry>& e) {
  std::lock_guard lock(mu_);
  const auto it = by_connection_id_.find(e->connection_id_);
  if (it != by_connection_id_.end() && it->second == e) by_connection_id_.erase(it);
}

KillTarget SessionRegistry::find_for_kill(uint64_t id) const {
  KillTarget t;
  if (id == 0 || id > UINT32_MAX) return t;
  const auto key = static_cast<uint32_t>(id);
  std::lock_guard lock(mu_);
  const auto by_greeting = by_connection_id_.find(key);
  const std::shared_ptr<SessionEntry> by_thread = find_by_thread(key);
  const bool greeting_hit = by_greeting != by_connection_id_.end();
  if (!greeting_hit && !by_thread) return t;
  if (greeting_hit && by_thread && by_greeting->second != by_thread) {
    t.outcome = KillTarget::Outcome::ambiguous;
    return t;
  }
  t.outcome = KillTarget::Outcome::found;
  t.entry = greeting_hit ? by_greeting->second : by_thread;
  t.thread_id = thread_of(t.entry->claim_.load(std::memory_order_acquire));
  t.user = t.entry->user_;
  return t;
}

std::shared_ptr<SessionEntry> SessionRegistry::find_by_thread(uint32_t id) const {
  std::shared_ptr<SessionEntry> newest;
  uint32_t newest_number = 0;
  for (const auto& [connection_id, e] : by_connection_id_) {
    const uint64_t claim = e->claim_.load(std::memory_order_acquire);
    if (thread_of(claim) != id) continue;
    // Serial number arithmetic (RFC 1982): right across the counter's wrap.
    if (!newest || static_cast<int32_t>(number_of(claim) - newest_number) > 0) {
      newest = e;
      newest_number = number_of(claim);
    }
  }
  return newest;
}

}  // namespace camproxy::proxy
