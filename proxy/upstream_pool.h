#pragma once
// A worker's logged-in database connections, kept warm and handed to new client sessions so
// that a connection per request costs a local handshake only (no TCP, TLS, auth or CAM call).
//
// Per worker, so nothing here is shared between threads. A connection is reused only by a
// client whose pool key matches (account + the capability bits of spec/mysql-protocol.md §5.4
// that cannot change after login); what can be fixed up with commands (schema, character set,
// MULTI_STATEMENTS, IGNORE_SPACE) is recorded in its SessionProfile. A connection goes back
// only after COM_RESET_CONNECTION succeeded and left no transaction open (§5.1, §5.3); when the
// server refuses that command (1047 on an old server or a middlebox), after COM_CHANGE_USER
// with the current CAM token (§5.2), which the pool then uses for every later return.
//
// A cleanup is one COM_RESET_CONNECTION when nothing about the session is in doubt: the schema
// (the reset keeps it) is the one the session tracked, the reset gave back the login collation
// (checked once per pool, since MySQL and MariaDB versions differ), and the connection's
// session was looked at (SELECT of schema, wait_timeout, sql_mode) less than a minute ago
// (kLookInterval). Otherwise the look is added to the same pipelined write.
//
// Idle connections are closed before the server's wait_timeout would close them: the pool
// reads the session's wait_timeout on its first connection and with every look (§7.1).
#include <uv.h>

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "proxy/collation_names.h"
#include "proxy/metrics.h"
#include "proxy/upstream_conn.h"

namespace camproxy::proxy {

class Worker;

// What a pooled connection's server session currently has, in the terms a client asks for.
struct SessionProfile {
  std::optional<std::string> schema;  // nullopt: no current database
  uint8_t collation = 0;              // 0: the server's default (unknown id or not set)
  bool multi_statements = false;
  bool ignore_space = false;
  bool operator==(const SessionProfile&) const = default;
};

struct PoolKey {
  std::string account;
  uint32_t caps = 0;  // the §5.4 pool-key bits
  bool operator==(const PoolKey&) const = default;
};

struct PooledConn {
  UpstreamConn* conn = nullptr;
  PoolKey key;
  SessionProfile profile;
  std::chrono::steady_clock::time_point created;
  std::chrono::steady_clock::time_point idle_since;
  uint8_t login_collation = 0;  // the handshake's (profile.collation when the connection logged in)
  // The last look at the session after a cleanup: IGNORE_SPACE as a reset leaves it (from the
  // global sql_mode and the login flags), and when it looked.
  struct Look {
    bool ignore_space = false;
    std::chrono::steady_clock::time_point at;
  };
  std::optional<Look> last_look;
};

struct PoolStats {
  uint64_t dials = 0;
  uint64_t dial_failures = 0;
  uint64_t reuses = 0;
  uint64_t resets = 0;
  uint64_t change_users = 0;
  uint64_t reset_failures = 0;
  uint64_t evicted_dead = 0;
  uint64_t evicted_idle = 0;
  size_t idle = 0;
  size_t total = 0;
};

class UpstreamPool final : private UpstreamConn::Owner {
 public:
  // A session waiting for a connection of its key that is on its way back to the pool.
  class Waiter {
   public:
    // The wait is over: an idle connection of the key is there, or none is coming after all.
    // The session asks again (take(), then dial or error 1040 as without waiting).
    virtual void on_pool_wait_over() = 0;

   protected:
    ~Waiter() = default;
  };

  explicit UpstreamPool(Worker& worker);
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;
  ~UpstreamPool();

  void start();
  void close();

  // An idle connection for `key`: one whose profile equals `want` if any, else one that can be
  // fixed up (never one with a schema for a client that wants none: there is no "USE nothing").
  std::optional<PooledConn> take(const PoolKey& key, const SessionProfile& want);

  // No idle connection of `key`, but one is being cleaned after its last client (or is reading
  // the server's settings) and not promised to an earlier waiter: `w` waits for it and true is
  // returned. A reset is one round trip where a login is several, and at --pool-max the only
  // other answer would be error 1040, so a connection-per-request client waits. A waiting
  // session cancels with cancel_wait() when it goes away; the wait needs no timer of its own
  // (the session's login timeout runs meanwhile).
  bool wait_for_returning(const PoolKey& key, Waiter* w);
  void cancel_wait(Waiter* w);

  // Counting for --pool-max: a session that dials its own connection registers it here.
  bool may_open() const;
  // At --pool-max, closes the idle connection least likely to be wanted (another key first), to
  // make room for a client whose key has none idle. False when nothing is idle.
  bool make_room();
  void opened();
  // A connection the pool counted is gone for good (closed by its session).
  void closed();

  // The session is done with `pc`: reset it and keep it if it comes back clean, else close it.
  // `pc.profile` holds the schema and MULTI_STATEMENTS the session left (both survive a reset);
  // `schema_known` is false when the session cannot vouch for the schema (a statement too long
  // to read, a failed multi-statement that had a USE, ...): the cleanup then looks.
  // `next_collation` is applied right after the reset, betting that the next client of this
  // key speaks like the last one (saves a round trip at the next hand-off).
  void give_back(PooledConn pc, uint8_t next_collation, bool schema_known);

  // The server answered COM_RESET_CONNECTION with `err`: from now on connections are cleaned
  // with COM_CHANGE_USER (sessions answering a client's COM_CHANGE_USER ask reset_refused()).
  void note_reset_refused(const InternalResult& err);
  bool reset_refused() const { return reset_refused_; }

  // The key and profile of the latest client, for warming up (min idle).
  void note_demand(const PoolKey& key, const SessionProfile& profile);

  // A new token may let warm-up dials proceed.
  void on_token_published() { maintain(); }

  const PoolStats& stats() const { return stats_; }

 private:
  // A connection its client left, on its way back to the pool.
  struct Cleaning {
    enum class Stage {
      reset,        // COM_RESET_CONNECTION and the restore commands running
      change_user,  // the server refused the reset: COM_CHANGE_USER's auth exchange running
      restore,      // CHANGE_USER succeeded: the restore commands running
    };
    PooledConn pc;
    Stage stage = Stage::reset;
    uint8_t next_collation = 0;
    uint64_t token_generation = 0;  // change_user: the token it sent
    bool look = true;               // the restore commands read the session's state
    bool names = false;             // the restore commands set next_collation
  };
  // Whether COM_RESET_CONNECTION gives back the login collation (MariaDB 10.11 does).
  enum class ResetCollation { unknown, restored, changed };

  static void on_tick(uv_timer_t* t);
  static void on_wake(uv_timer_t* t);
  // Waiters are woken from the loop, never from inside the pool's own iterations.
  void schedule_wake();
  void wake_waiters();
  size_t returning(const PoolKey& key) const;
  size_t idle_count(const PoolKey& key) const;
  void maintain();
  void dial_warm();
  void drop(UpstreamConn* u);
  void close_pooled(UpstreamConn* u, PoolClose reason);
  void report_idle();
  void make_idle(PooledConn pc);

  // Returning a connection (upstream_pool_return.cc).
  void change_user(Cleaning c);
  void on_cleaning_done(Cleaning c, const std::vector<InternalResult>& results);
  void on_change_user_accepted(Cleaning& c);
  PoolClose on_cleaning_failed(const Cleaning& c, const UpstreamFailure& f);
  void finish_cleaning(Cleaning c, std::span<const InternalResult> restored, uint16_t status, PoolCleanup method);
  void plan_restore(Cleaning& c, bool schema_known) const;
  std::vector<InternalCommand> restore_commands(const Cleaning& c) const;
  void apply_look(Cleaning& c, const InternalResult& state);
  void learn_wait_timeout(const std::optional<std::string>& text);

  // UpstreamConn::Owner, for idle, resetting and warming connections.
  void on_upstream_greeting(UpstreamConn& u) override;
  void on_upstream_ready(UpstreamConn& u, std::span<const uint8_t> ok_payload) override;
  void on_upstream_failed(UpstreamConn& u, const UpstreamFailure& f) override;
  void on_upstream_data(UpstreamConn& u, std::span<const uint8_t> data) override;
  void on_upstream_drained(UpstreamConn& u) override;
  void on_upstream_commands_done(UpstreamConn& u, const std::vector<InternalResult>& results) override;

  Worker& worker_;
  uv_timer_t tick_{};
  uv_timer_t wake_{};
  bool started_ = false;
  std::vector<std::pair<PoolKey, Waiter*>> waiters_;  // in arrival order
  std::vector<PooledConn> idle_;
  std::vector<Cleaning> cleaning_;
  std::vector<PooledConn> warming_;
  std::vector<PooledConn> learning_;  // reading wait_timeout (once per pool), the collation table (once per process)
  bool reset_refused_ = false;        // the server answered COM_RESET_CONNECTION with ERR
  ResetCollation reset_collation_ = ResetCollation::unknown;
  bool wait_timeout_asked_ = false;
  std::optional<std::chrono::seconds> wait_timeout_;  // the server's, as last read
  std::chrono::milliseconds idle_timeout_{0};         // --pool-idle-timeout, cut below wait_timeout_
  std::optional<PoolKey> warm_key_;
  SessionProfile warm_profile_;
  size_t open_ = 0;  // every connection of this worker: idle, resetting, warming, in sessions
  PoolStats stats_;
};

// The statement that applies a handshake collation id as the server applies it at login.
std::string collation_statement(uint8_t id, const CollationNames& names);

// COM_SET_OPTION turning MULTI_STATEMENTS on or off.
InternalCommand set_option_command(bool multi_statements);

// The statements that give a connection `want` from `have` (pipelined by the caller); the
// results are checked with `fix_up_failed`.
std::vector<InternalCommand> fix_up_commands(const SessionProfile& have, const SessionProfile& want,
                                             const CollationNames& names);

}  // namespace camproxy::proxy
