#include "proxy/session/session_registry.h"

namespace camproxy::proxy {

std::shared_ptr<SessionEntry> SessionRegistry::add(uint32_t connection_id, std::string user) {
  auto e = std::make_shared<SessionEntry>(connection_id, std::move(user));
  std::lock_guard lock(mu_);
  by_connection_id_[connection_id] = e;
  return e;
}

void SessionRegistry::set_thread(const std::shared_ptr<SessionEntry>& e, uint32_t thread_id) {
  std::lock_guard lock(mu_);
  if (e->thread_id_ != 0) erase_if(by_thread_id_, e->thread_id_, e);
  e->thread_id_ = thread_id;
  // A database connection serves one session at a time: whoever had this thread before has
  // given it back to the pool.
  if (thread_id != 0) by_thread_id_[thread_id] = e;
}

void SessionRegistry::set_user(const std::shared_ptr<SessionEntry>& e, std::string user) {
  std::lock_guard lock(mu_);
  e->user_ = std::move(user);
}

void SessionRegistry::remove(const std::shared_ptr<SessionEntry>& e) {
  std::lock_guard lock(mu_);
  erase_if(by_connection_id_, e->connection_id_, e);
  if (e->thread_id_ != 0) erase_if(by_thread_id_, e->thread_id_, e);
}

KillTarget SessionRegistry::find_for_kill(uint64_t id) const {
  KillTarget t;
  if (id > UINT32_MAX) return t;
  const auto key = static_cast<uint32_t>(id);
  std::lock_guard lock(mu_);
  const auto by_greeting = by_connection_id_.find(key);
  const auto by_thread = by_thread_id_.find(key);
  const bool greeting_hit = by_greeting != by_connection_id_.end();
  const bool thread_hit = by_thread != by_thread_id_.end();
  if (!greeting_hit && !thread_hit) return t;
  if (greeting_hit && thread_hit && by_greeting->second != by_thread->second) {
    t.outcome = KillTarget::Outcome::ambiguous;
    return t;
  }
  t.outcome = KillTarget::Outcome::found;
  t.entry = greeting_hit ? by_greeting->second : by_thread->second;
  t.thread_id = t.entry->thread_id_;
  t.user = t.entry->user_;
  return t;
}

void SessionRegistry::erase_if(std::unordered_map<uint32_t, std::shared_ptr<SessionEntry>>& map, uint32_t key,
                               const std::shared_ptr<SessionEntry>& e) {
  const auto it = map.find(key);
  if (it != map.end() && it->second == e) map.erase(it);
}

}  // namespace camproxy::proxy
