#pragma once
// The target's sessions as KILL sees them (spec/mysql-protocol.md §7.3): each relaying session
// under the connection id camproxy's greeting gave it AND under the thread id of the database
// connection serving it now (what CONNECTION_ID() and SHOW PROCESSLIST show), with its local user.
// Applications kill from a second connection, usually on another worker, and the pool moves
// sessions between database threads, so ids are never forwarded raw. Thread-safe: every worker
// of the target adds, updates and looks up.
//
// --pool-mode transaction moves a session's thread id at every command (detach, attach), so that
// update is one atomic store in the session's own entry, with no lock and no map; a KILL by
// thread id, rare, pays instead: it looks through the target's sessions under the lock.
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

// One session as the registry holds it. Its thread id and user change (a checkout, a reconnect, a
// client's COM_CHANGE_USER) and are read by other workers: the thread id as one atomic claim
// (below), the user under the registry's lock.
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
  // The database connection serving the session: its thread id in the low 32 bits (0: none now),
  // and in the high 32 bits the registry's claim number of that set_thread(). A thread id can be
  // claimed by two sessions at once (one gave its connection up without a set_thread(0), e.g. just
  // before remove(); or the database restarted and hands out small ids again): the latest claim
  // holds it, as the registry's ordering of claims says.
  std::atomic<uint64_t> claim_{0};
  std::string user_;  // the user name the client logged in (or COM_CHANGE_USER'd) with
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
  // The session whose latest claim is thread `id` (mu_ held); null when none claims it.
  std::shared_ptr<SessionEntry> find_by_thread(uint32_t id) const;

  mutable std::mutex mu_;
  // Its claims are numbered (SessionEntry::claim_), wrapping: of two claims of one thread id the
  // newer is told right while they are less than 2^31 claims apart (hours at any command rate;
  // only a claim left behind by a session that gave its connection up can be older).
  std::atomic<uint32_t> claims_{0};
  std::unordered_map<uint32_t, std::shared_ptr<SessionEntry>> by_connection_id_;
};

}  // namespace camproxy::proxy
