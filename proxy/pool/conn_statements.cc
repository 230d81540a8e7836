#include "proxy/pool/conn_statements.h"

#include <algorithm>

namespace camproxy::proxy {
namespace {

// Bumped by any worker's sessions, read by any worker's connections: only "changed since" matters.
std::atomic<uint64_t> g_forgotten{1};

}  // namespace

void note_statements_forgotten() { g_forgotten.fetch_add(1, std::memory_order_relaxed); }

uint64_t ConnStatements::generation() { return g_forgotten.load(std::memory_order_relaxed); }

bool ConnStatements::stale(const Entry& e) const {
  const auto owner = e.life.lock();
  return !owner || !owner->holds(e.client_id);
}

ConnStatements::Entry* ConnStatements::find(const StatementOwner* owner, uint32_t client_id) {
  const auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return e.owner == owner && e.client_id == client_id && !e.life.expired();
  });
  return it == entries_.end() ? nullptr : &*it;
}

void ConnStatements::add(const std::shared_ptr<const StatementOwner>& owner, uint32_t client_id, uint32_t server_id) {
  remove(owner.get(), client_id);
  entries_.push_back({.owner = owner.get(), .life = owner, .client_id = client_id, .server_id = server_id});
}

void ConnStatements::remove(const StatementOwner* owner, uint32_t client_id) {
  std::erase_if(entries_, [&](const Entry& e) { return e.owner == owner && e.client_id == client_id; });
}

}  // namespace camproxy::proxy
