#pragma once
// The process-wide map from the connection ids camproxy gives applications in its greeting to
// the database thread currently serving each session, for KILL (spec/mysql-protocol.md §7.3):
// applications kill from a second connection, usually on another worker, and the pool moves
// sessions between database threads, so ids are never forwarded raw.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace camproxy::proxy {

struct SessionEntry {
  std::atomic<uint32_t> thread_id{0};  // the database's CONNECTION_ID() of the session's connection
  std::atomic<bool> killed{false};     // KILL CONNECTION: the session must not reconnect
};

class SessionRegistry {
 public:
  std::shared_ptr<SessionEntry> add(uint32_t connection_id) {
    auto e = std::make_shared<SessionEntry>();
    std::lock_guard lock(mu_);
    map_[connection_id] = e;
    return e;
  }
  void remove(uint32_t connection_id) {
    std::lock_guard lock(mu_);
    map_.erase(connection_id);
  }
  std::shared_ptr<SessionEntry> find(uint64_t connection_id) const {
    std::lock_guard lock(mu_);
    auto it = map_.find(static_cast<uint32_t>(connection_id));
    return it == map_.end() || connection_id > UINT32_MAX ? nullptr : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<uint32_t, std::shared_ptr<SessionEntry>> map_;
};

}  // namespace camproxy::proxy
