#pragma once
// A worker's logged-in database connections, kept warm and handed to new client sessions so
// that a connection per request costs a local handshake only (no TCP, TLS, auth or CAM call).
//
// Per worker, so nothing here is shared between threads, except the target's ConnectionBudget
// (connection_budget.h): --pool-max and the borrow queue hold for all workers together. A connection is reused only by
// a client whose pool key matches (account + the capability bits of spec/mysql-protocol.md §5.4 that cannot change
// after login); what can be fixed up with commands (schema, character set, MULTI_STATEMENTS, IGNORE_SPACE) is recorded
// in its SessionProfile. A connection goes back only after COM_RESET_CONNECTION succeeded and left no transaction open
// (§5.1, §5.3); when the server refuses that command (1047 on an old server or a middlebox), after COM_CHANGE_USER with
// the current CAM token (§5.2), which the pool then uses for every later return. The cleanup is a ConnectionPrep
// (connection_prep.h) of purpose return_to_pool.
//
// A cleanup is one COM_RESET_CONNECTION when nothing about the session is in doubt: the schema
// (the reset keeps it) is the one the session tracked, the reset gave back the login collation
// (checked once per pool, since MySQL and MariaDB versions differ), and the connection's
// session was looked at (SELECT of schema, wait_timeout, sql_mode) less than a minute ago
// (connection_prep.cc). Otherwise the look is added to the same pipelined write.
//
// Idle connections are closed before the server's wait_timeout would close them: the pool
// reads the session's wait_timeout on its first connection and with every look (§7.1).
//
// --pool-mode transaction takes a connection and gives it back at every command (take(), share()),
// so those cost no scan of the pool and no allocation: each key's idle connections are a list of
// their own, the entries of every state are counted as they move, and an entry's node is moved
// between the lists (and kept for the next entry when it leaves) instead of being made anew.
#include <uv.h>

#include <array>
#include <chrono>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/ops/metrics.h"
#include "proxy/pool/checked_schemas.h"
#include "proxy/pool/connection_budget.h"
#include "proxy/pool/connection_prep.h"
#include "proxy/pool/pool_snapshot.h"
#include "proxy/pool/upstream_conn.h"
#include "proxy/pool/upstream_pool_env.h"

namespace camproxy::proxy {

struct PoolKey {
  std::string account;
  uint32_t caps = 0;          // the §5.4 pool-key bits
  uint32_t mariadb_caps = 0;  // the client's MariaDB extended capabilities: each changes layouts
  bool operator==(const PoolKey&) const = default;
};

struct PoolKeyHash {
  size_t operator()(const PoolKey& k) const;
};

struct PooledConn {
  UpstreamConn* conn = nullptr;
  PoolKey key;
  SessionProfile profile;
  std::chrono::steady_clock::time_point created;
  std::chrono::steady_clock::time_point idle_since;
  uint8_t login_collation = 0;  // the handshake's (profile.collation when the connection logged in)
  std::optional<SessionLook> last_look;
  // Its last client may have run SET ROLE (sql_classifier.h): the cleanup ends the role.
  bool role_may_be_set = false;
  // Given back by share(): what its last session left in it besides the profile (empty after a cleanup).
  CarriedState carried{};
};

class UpstreamPool final : private UpstreamConn::Owner, private ConnectionBudget::Listener {
 public:
  // A session waiting for a connection of its key that is on its way back to the pool.
  class Waiter {
   public:
    // The wait is over: an idle connection of the key is there, or none is coming after all.
    // The session asks again (take(), then dial or error 1040 as without waiting).
    virtual void on_pool_wait_over() = 0;
    // Borrow queue (borrow()): the wait is over. An idle connection of the key is on this worker:
    // the session takes it (take() succeeds for the profile it borrowed with).
    virtual void on_borrow_idle() = 0;
    // A slot of --pool-max is held for the session now (counted as its connection): it dials.
    virtual void on_borrow_granted() = 0;

   protected:
    ~Waiter() = default;
  };

  // A connection taken while its cleanup runs, with the cleanup (purpose handover): its
  // replies come to the taker, which feeds them to prep and calls note_cleaned() when done.
  struct Handover {
    PooledConn pc;
    ConnectionPrep prep;
  };

  explicit UpstreamPool(PoolEnv& env);
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

  // A connection of `key` whose COM_RESET_CONNECTION pipeline is running and will leave it as
  // `want` (ConnectionPrep::hand_over), for a client answered at once whose first command is
  // written behind the pipeline: no round trip of its own for the cleanup. Offered only once a
  // reset has worked on this pool (a refused one could not fall back with client bytes behind
  // it) and to no one ahead of a waiter of the key.
  std::optional<Handover> take_returning(const PoolKey& key, const SessionProfile& want);
  // A handed-over cleanup is done: what a return learns (the server's wait_timeout, whether a
  // reset gives back the login collation), and the cleanup counted.
  void note_cleaned(const PooledConn& pc, const ConnectionPrep& prep);
  // A handed-over connection whose client left before writing anything behind the cleanup:
  // back to cleaning, its prep running on (its outcome is the pool's again).
  void take_back(Handover h);
  void cancel_wait(Waiter* w);

  // Counting for --pool-max (the target's ConnectionBudget): a slot for a connection a session
  // dials for `account`, when no waiter could use it; at --pool-max, the slot of this worker's
  // oldest idle connection (of another key), closed to make room. False: the session borrows.
  bool try_open(std::string_view account);
  // A slot regardless of --pool-max (the first connection of a target, a reconnect).
  void count_opened(std::string_view account);
  // A connection of `account` the pool counted is gone for good (closed by its session): its
  // slot passes on.
  void count_closed(std::string_view account);
  // A slot counted for `from` is `to`'s now (ConnectionBudget::move_slot).
  void recount(std::string_view from, std::string_view to) { env_.budget().move_slot(from, to); }

  // At --pool-max with nothing idle for `key` and nothing coming back: `w` joins the target's
  // borrow queue (FIFO across the workers) until on_borrow_idle() or on_borrow_granted(); false
  // when --pool-max-waiters clients wait already. The session bounds the wait itself
  // (--pool-borrow-timeout) and leaves with cancel_borrow().
  bool borrow(const PoolKey& key, const SessionProfile& want, Waiter* w);
  void cancel_borrow(Waiter* w);

  // The session is done with `pc`: reset it and keep it if it comes back clean, else close it.
  // `pc.profile` holds the schema and MULTI_STATEMENTS the session left (both survive a reset);
  // `schema_known` is false when the session cannot vouch for the schema (a statement too long
  // to read, a failed multi-statement that had a USE, ...): the cleanup then looks.
  // `next_collation` is applied right after the reset, betting that the next client of this
  // key speaks like the last one (saves a round trip at the next hand-off).
  void give_back(PooledConn pc, uint8_t next_collation, bool schema_known);

  // --pool-mode transaction: a session between commands gives `pc` back as it is, without a
  // cleanup; pc.profile and pc.carried say what it has, for the next session's fix-ups (a session
  // that must not see that state has it cleaned first: ConnectionPrep::Have::foreign_state).
  void share(PooledConn pc);

  // The server answered COM_RESET_CONNECTION with `err`: from now on connections are cleaned
  // with COM_CHANGE_USER (sessions answering a client's COM_CHANGE_USER ask reset_refused()).
  void note_reset_refused(const InternalResult& err);
  bool reset_refused() const { return reset_refused_; }
  bool reset_worked() const { return reset_worked_; }  // a COM_RESET_CONNECTION succeeded here
  // Whether a reset gives back the login collation, as learned by a return's look (for a
  // client's COM_CHANGE_USER, which can then skip SET NAMES as a return does).
  ResetCollation reset_collation() const { return reset_collation_; }
  // The server's wait_timeout as last read (nullopt before the first read).
  std::optional<std::chrono::seconds> wait_timeout() const { return wait_timeout_; }

  // Schemas each account logged in to on this worker (--pool-mode transaction's local login).
  CheckedSchemas& checked_schemas() { return checked_schemas_; }

  // The key and profile of the latest client, for warming up (min idle).
  void note_demand(const PoolKey& key, const SessionProfile& profile);

  // A new token may let warm-up dials proceed.
  void on_token_published() { maintain(); }

  // Its connections and waiters by key, for GET /debug/pools (in_use is left to the worker).
  PoolSnapshot snapshot(std::chrono::steady_clock::time_point now) const;

 private:
  struct KeyEntries;
  // A connection the pool holds. It enters in warming (dialed here) or cleaning (given back),
  // changes state only through transition() and leaves through leave() (taken, or closed).
  struct Entry {
    enum class State {
      warming,   // dialed for --pool-min-idle: connecting and logging in with pc.profile
      learning,  // logged in: reading wait_timeout (once per pool), the collation table (once per process)
      idle,      // at rest and offered by take(); idle_since set; counted in the idle gauge
      cleaning,  // its client left: prep (engaged only here) brings it back to rest
    };
    static constexpr size_t kStates = 4;
    PooledConn pc;
    State state = State::warming;
    std::optional<ConnectionPrep> prep;
    KeyEntries* keyed = nullptr;      // its key's idle list and count
    std::list<Entry>::iterator self;  // its node: in its key's idle list when idle, else in busy_
  };
  friend std::string_view to_string(Entry::State s);
  // One key's connections: the idle ones in the order they came to rest (take() serves the
  // longest idle first, the oldest is at the front), and how many are on their way to idle.
  struct KeyEntries {
    std::list<Entry> idle;
    size_t returning = 0;  // warming, learning or cleaning
  };

  // ConnectionBudget::Listener: any thread; the loop then runs on_budget().
  void notify() override;
  static void on_budget(uv_async_t* a);
  // Granted tickets to their sessions; idle connections to local borrowers of their key, else
  // closed so that the head waiter (any worker) dials into the slot.
  void serve_borrowers();
  bool make_room(std::string_view account);
  bool has_idle_for(const PoolKey& key, const SessionProfile& want);
  static void on_tick(uv_timer_t* t);
  static void on_wake(uv_timer_t* t);
  // Waiters are woken from the loop, never from inside the pool's own iterations.
  void schedule_wake();
  void wake_waiters();
  // Connections of `key` on their way to idle: cleaning, learning or warming.
  size_t returning(const PoolKey& key);
  void maintain();
  void dial_warm();
  // `slot_passed`: the connection's slot went to a waiter or to the caller (not released).
  void drop(UpstreamConn* u, std::string_view account, bool slot_passed = false);
  void close_pooled(Entry& e, PoolClose reason, bool slot_passed = false);
  Entry* oldest_idle();
  void report_idle();
  void make_idle(Entry& e);
  void learn(Entry& e, const std::vector<InternalResult>& results);

  // The entries: the only places that add, move and remove them.
  Entry& enter(PooledConn pc, Entry::State state);
  void transition(Entry& e, Entry::State to);
  PooledConn leave(Entry& e);
  Entry* find(const UpstreamConn& u);
  std::list<Entry>& list_of(const Entry& e);
  void count_entry(const Entry& e, int delta);
  KeyEntries* find_key(const PoolKey& key);
  KeyEntries& keyed(const PoolKey& key);  // made when new
  // Idle connections of `key`.
  size_t idle(const PoolKey& key);
  // Calls f(entry) for every entry (f may not add or remove any).
  template <typename F>
  void for_each_entry(F&& f) const;
  // Keys with no connection left are forgotten (each tick: a key comes and goes with every command).
  void forget_empty_keys();

  // Returning a connection (upstream_pool_return.cc).
  void drive(Entry& e, ConnectionPrep::Step step);
  void finish_cleaning(Entry& e);
  void cleaning_failed(Entry& e);
  void learn_from_look(const PooledConn& pc, const InternalResult& look, bool after_reset);
  void learn_wait_timeout(const std::optional<std::string>& text);

  // UpstreamConn::Owner, for idle, resetting and warming connections.
  void on_upstream_greeting(UpstreamConn& u) override;
  void on_upstream_ready(UpstreamConn& u, std::span<const uint8_t> ok_payload) override;
  void on_upstream_failed(UpstreamConn& u, const UpstreamFailure& f) override;
  void on_upstream_data(UpstreamConn& u, std::span<const uint8_t> data) override;
  void on_upstream_drained(UpstreamConn& u) override;
  void on_upstream_commands_done(UpstreamConn& u, const std::vector<InternalResult>& results) override;

  PoolEnv& env_;
  uv_timer_t tick_{};
  uv_timer_t wake_{};
  bool started_ = false;
  struct Borrower {
    ConnectionBudget::Ticket ticket;
    PoolKey key;
    SessionProfile want;
    Waiter* waiter;
  };
  uv_async_t budget_async_{};
  std::vector<std::pair<PoolKey, Waiter*>> waiters_;  // in arrival order
  std::vector<Borrower> borrowers_;                   // this worker's sessions in the borrow queue, in arrival order
  // The entries: warming, learning and cleaning ones in busy_, idle ones in their key's list. List
  // nodes stay put while their callbacks run, and move between the lists without allocating; a
  // node whose entry left waits in spare_ for the next one.
  std::list<Entry> busy_;
  std::unordered_map<PoolKey, KeyEntries, PoolKeyHash> keys_;
  // The key looked up last: a target's clients mostly share one, and every take() and share()
  // looks it up, cheaper compared than hashed (null once keys_ forgets keys).
  std::pair<const PoolKey, KeyEntries>* last_key_ = nullptr;
  std::list<Entry> spare_;
  std::array<size_t, Entry::kStates> counts_{};  // entries per state
  bool reset_refused_ = false;                   // the server answered COM_RESET_CONNECTION with ERR
  bool reset_worked_ = false;                    // a COM_RESET_CONNECTION cleanup succeeded here
  ResetCollation reset_collation_ = ResetCollation::unknown;
  bool wait_timeout_asked_ = false;
  std::optional<std::chrono::seconds> wait_timeout_;  // the server's, as last read
  std::chrono::milliseconds idle_timeout_{0};         // --pool-idle-timeout, cut below wait_timeout_
  std::optional<PoolKey> warm_key_;
  SessionProfile warm_profile_;
  size_t open_ = 0;           // this worker's slots of the budget: idle, resetting, warming, in sessions
  size_t idle_reported_ = 0;  // this pool's share of the process-wide idle gauge
  CheckedSchemas checked_schemas_;
};

template <typename F>
void UpstreamPool::for_each_entry(F&& f) const {
  for (const Entry& e : busy_) f(e);
  for (const auto& [key, k] : keys_) {
    for (const Entry& e : k.idle) f(e);
  }
}

}  // namespace camproxy::proxy
