#pragma once
// The target's sessions as KILL sees them (spec/mysql-protocol.md §7.3): each relaying session
// under the connection id camproxy's greeting gave it AND under the thread id of the database
// connection serving it now (what CONNECTION_ID() and SHOW PROCESSLIST show), with its local user.
// Applications kill from a second connection, usually on another worker, and the pool moves
// sessions between database threads, so ids are never forwarded raw. Thread-safe: every worker
// of the target adds, updates and looks up.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace camproxy::proxy {

// Greeting connection ids live in [2^30, 2^31): positive as a signed int32 (Connector/J, mysql2
// and PyMySQL read the field so), and above the small sequential thread ids a database hands out
// (MariaDB and MySQL count from 1 since their start), so an id taken from CONNECTION_ID() or SHOW
// PROCESSLIST is never also a greeting id unless the database has served 2^30 connections since
// it started; KILL refuses a number that is both (find_for_kill). The n-th id of the process is
// kClientIdBase + n mod 2^30: the space wraps after 2^30 logins.
inline constexpr uint32_t kClientIdBase = 1U << 30;
constexpr uint32_t client_connection_id(uint32_t n) { return kClientIdBase | (n & (kClientIdBase - 1)); }

// One session as the registry holds it. Its thread id and user change (a reconnect, a client's
// COM_CHANGE_USER) and are read by other workers: they go through the registry, under its lock.
class SessionEntry {
 public:
  SessionEntry(uint32_t connection_id, std::string user) : connection_id_(connection_id), user_(std::move(user)) {}
  uint32_t connection_id() const { return connection_id_; }
  std::atomic<bool> killed{false};  // KILL CONNECTION: the session must not reconnect
  // --pool-mode transaction: between commands with no database connection (thread id 0 by design).
  std::atomic<bool> shared{false};

 private:
  friend class SessionRegistry;
  const uint32_t connection_id_;
  uint32_t thread_id_ = 0;  // of the database connection serving the session; 0: none now
  std::string user_;        // the user name the client logged in (or COM_CHANGE_USER'd) with
};

// What a KILL names, as it was at the lookup.
struct KillTarget {
  enum class Outcome {
    found,
    unknown,    // no session has that greeting id or current thread id: 1094
    ambiguous,  // one session's greeting id and another's thread id: refused with 1094 too
  };
  Outcome outcome = Outcome::unknown;
  std::shared_ptr<SessionEntry> entry;
  uint32_t thread_id = 0;  // the target's database thread now (0: it is reconnecting)
  std::string user;        // the target's user, for the owner check (ERR 1095)
};

class SessionRegistry {
 public:
  std::shared_ptr<SessionEntry> add(uint32_t connection_id, std::string user);
  // The session's database connection changed (a login, a checkout, a reconnect); 0: it has none.
  void set_thread(const std::shared_ptr<SessionEntry>& e, uint32_t thread_id);
  void set_user(const std::shared_ptr<SessionEntry>& e, std::string user);
  void remove(const std::shared_ptr<SessionEntry>& e);
  // The session `id` names: by greeting id, else by current thread id (an id above 2^32 is neither).
  KillTarget find_for_kill(uint64_t id) const;

 private:
  // An index entry is erased only by the entry it points to: after the id space wrapped, or
  // when a thread id passed from one session's record to another's, the newer one stays.
  static void erase_if(std::unordered_map<uint32_t, std::shared_ptr<SessionEntry>>& map, uint32_t key,
                       const std::shared_ptr<SessionEntry>& e);

  mutable std::mutex mu_;
  std::unordered_map<uint32_t, std::shared_ptr<SessionEntry>> by_connection_id_;
  std::unordered_map<uint32_t, std::shared_ptr<SessionEntry>> by_thread_id_;
};

}  // namespace camproxy::proxy
