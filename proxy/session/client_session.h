#pragma once
// One application connection: the server side of the MySQL handshake (any password is
// accepted, unless local authentication checks it), a logged-in database connection (from the pool, or dialed with a
// CAM token), then a relay with back-pressure that watches commands and responses so the connection can be reset and
// reused, re-created after a failure, and cancelled with KILL.
//
// The session's state, failures and closing live in client_session.cc; the client's login in
// session_login.cc; getting a database connection in session_upstream.cc; the relay in
// session_relay.cc; a client's COM_CHANGE_USER in session_change_user.cc; bringing the database
// connection to the client's profile (checkout, COM_CHANGE_USER, reconnect) in session_prep.cc;
// --pool-mode transaction (giving the connection back between commands) in session_sharing.cc.
// A heap object owned by its Worker (its SessionEnv); it deletes itself after its handles are closed.
#include <uv.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "protocol/auth_plugins.h"
#include "protocol/connect_attrs.h"
#include "protocol/response_tracker.h"
#include "protocol/server_handshake.h"
#include "proxy/config/local_users.h"
#include "proxy/net/transport.h"
#include "proxy/pool/connection_prep.h"
#include "proxy/pool/login_wait.h"
#include "proxy/pool/upstream_conn.h"
#include "proxy/pool/upstream_pool.h"
#include "proxy/session/client_errors.h"
#include "proxy/session/command_framer.h"
#include "proxy/session/pin_tracker.h"
#include "proxy/session/session_registry.h"
#include "proxy/session/session_snapshot.h"
#include "proxy/session/sql_classifier.h"
#include "proxy/session/statement_map.h"
#include "proxy/tokens/token_source.h"

namespace camproxy::proxy {

class SessionEnv;

class ClientSession final : private Transport::Events, private UpstreamConn::Owner, private UpstreamPool::Waiter {
 public:
  explicit ClientSession(SessionEnv& env);
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // Takes `fd`, a client accepted on `listener` (by this worker's Acceptor or another
  // worker's); false (and self-cleanup, `fd` closed) on failure. A peer the listener refuses
  // is taken and told so by start().
  bool adopt(int fd, const ListenAddress& listener);
  void start();
  // Worker stopping: close at once.
  void shutdown();
  // Process draining: close now if between transactions, else when the transaction ends.
  void drain();
  // Worker: a token snapshot was published while this session waits for one.
  void on_token_published();
  // Worker: what GET /debug/sessions shows of this session.
  SessionSnapshot snapshot(std::chrono::steady_clock::time_point now);
  // Worker: too many logins in progress and this one is the oldest (SessionEnv::login_started).
  void crowd_out();

 private:
  enum class State {
    wait_profile,    // accepted; the database's greeting is needed to mirror its version
    client_login,    // greeting sent; login_ runs the client's login (its state says where)
    wait_upstream,   // client accepted; waiting for a token / the dialed upstream's greeting
    upstream_login,  // a new upstream connection logs in with the token
    prepare,         // a pooled connection gets the client's schema, charset and options
    relay,           // both sides logged in: bytes flow, watched by the tracker
    reconnecting,    // the database connection died between commands: a new one is prepared
    // --pool-mode transaction (session_sharing.cc):
    detaching,            // shareable after a response: LAST_INSERT_ID() is read before the connection goes
    detached,             // between commands with no database connection (it is the pool's); tracker_ kept
    attaching,            // the client's next bytes (held_) wait for a connection: taken and fixed up, or dialed
    closing_after_write,  // the last bytes (a final ERR, a reply) are queued; closing once written
    closing,              // handles closing; deleted when they are
  };

  // Every change of state_ goes through transition(); legal_transition() lists the successors
  // of each state (a change outside them is logged as session_bad_transition).
  void transition(State next);
  static bool legal_transition(State from, State to);
  friend std::string_view to_string(State s);

  // The session-state effects of one forwarded command, applied when its response is an OK.
  // A KILL camproxy rewrote for the database thread behind the target (§7.3). Its reply is
  // answered by camproxy: the database's would name that internal thread id.
  struct KillSent {
    uint64_t client_id = 0;                // the id the application gave
    std::shared_ptr<SessionEntry> marked;  // the target this KILL marked killed; unmarked if refused
  };
  struct CommandEffects {
    SessionEffects sql;
    bool reset = false;                    // COM_RESET_CONNECTION
    std::optional<bool> multi_statements;  // COM_SET_OPTION
    std::optional<KillSent> kill;
    std::optional<StatementReply> stmt;  // --pool-mode transaction (session_statements.cc)
  };

  // What a replacement connection must re-create (spec §7.2).
  struct ReplayState {
    std::optional<std::string> schema;
    std::vector<std::string> sets;  // SET statements, in order
    size_t sets_bytes = 0;
    bool unreplayable = false;
    std::string reason;
  };

  ~ClientSession();

  // Login (session_login.cc) and the database connection (session_upstream.cc).
  bool attached(int rc, const ListenAddress& listener);
  void send_greeting();
  void drive_login(protocol::ServerHandshake::Action action);
  void start_client_tls();
  bool map_user_to_account();
  bool verify_locally() const;
  void refuse_login();
  void client_authenticated();
  bool login_needs_connection() const;
  void answer_login_locally();
  void start_session();  // the login is answered: the session counts as logged in
  void acquire_upstream();
  void acquire_token();
  void maybe_start_upstream_login();
  void dial_upstream();
  void dial_with_slot();  // --pool-max's slot is already counted for it
  void fail_with_cam_error(const TokenState* state);
  void fail_with_upstream_error(const UpstreamFailure& f);
  bool refetch_token_after_1045(const UpstreamFailure& f);
  void fail(ClientError kind, std::string_view detail = {});
  void send_error_and_close(const protocol::ErrPacket& err, bool protocol41 = true);
  void close_after_write();
  void stop_waiting_for_token();
  // UpstreamPool::Waiter: a connection of this session's key came back (or will not).
  void on_pool_wait_over() override;
  void stop_waiting_for_pool();
  void count_pool_wait();  // a wait for the pool ended: the waiting gauge and the wait histogram
  void take_over_returning(UpstreamPool::Handover h);
  // A new connection if --pool-max allows, else the borrow queue (session_borrow.cc).
  void dial_or_borrow();
  void on_borrow_idle() override;
  void on_borrow_granted() override;
  void stop_borrowing();  // leaves the queue; observes the wait
  void on_borrow_timeout();
  OwnedErr client_error(ClientError kind, std::string_view detail) const;
  SessionProfile wanted_profile() const;
  PoolKey pool_key() const;

  // Relay (session_relay.cc).
  void start_relay(uint16_t status_flags);
  void relay_from_client(std::span<const uint8_t> data);
  void relay_client_bytes(std::span<const uint8_t> data);  // relay_from_client() without counting
  void on_command_start(const CommandFramer::Piece& piece);
  void forward_held_reset();
  // Feeds `bytes` to the tracker and queues them in the batch relay_from_client() writes.
  void track_and_queue_upstream(std::span<const uint8_t> bytes);
  void on_tracker_event(protocol::TrackerEvent e);
  void handle_kill(const KillStatement& kill, std::span<const uint8_t> held);
  void answer_locally(const protocol::ErrPacket& err);
  void relay_rewriting_replies(std::span<const uint8_t> data);
  void answer_kill(const KillSent& kill, std::vector<uint8_t>& out);
  void on_relay_upstream_lost(const UpstreamFailure& f);
  bool follow_tracked_schema(SessionEffects& sql);
  void reconnect();
  ConnectionPrep::Want replay_want(SessionProfile profile) const;

  // --pool-mode transaction (session_sharing.cc).
  bool shareable() const;
  void maybe_detach();
  void read_last_insert_id();
  void detach();
  void last_insert_id_read(const std::vector<InternalResult>& results);
  void on_shared_data(std::span<const uint8_t> data);
  void attach();
  void take_shared();
  bool refuse_attach(const protocol::ErrPacket& err);
  void start_attach_prep();
  bool held_is_one_plain_command() const;
  void attached_prepared(const ConnectionPrep& prep);
  void relay_held_command(bool pipelined);
  void note_shared_response(const CommandEffects& fx);
  ConnectionPrep::Have checkout_have(const PooledConn& pc) const;
  SessionProfile session_profile() const;
  bool answer_kill_of_shared(const KillStatement& kill, const KillTarget& target);
  void set_pinned(bool pinned);
  void set_shared(bool shared);

  // --pool-mode transaction: server-side prepared statements (session_statements.cc).
  bool on_statement_command(const CommandFramer::Piece& piece);
  bool prepare_statement(const CommandFramer::Piece& piece);
  void close_statement(uint32_t id, const CommandFramer::Piece& piece);
  void forward_statement_command(const CommandFramer::Piece& piece, StatementMap::Statement& st,
                                 ConnStatements::Entry& slot);
  void reprepare(uint32_t id, const StatementMap::Statement& st, const CommandFramer::Piece& piece);
  void close_stale_statements();
  bool hold_for_reprepare(std::span<const uint8_t> data);
  void rewrite_statement_reply(const StatementReply& r, std::span<const uint8_t> bytes, std::vector<uint8_t>& out);
  void on_statement_reply(const StatementReply& r);
  void resume_after_reprepare();
  void forget_statements();
  bool statements_hold_connection() const;

  // The client's own wait_timeout (session_idle.cc).
  void arm_idle();
  void idle_command_started();
  void idle_response_ended();
  bool idle_timeout_due() const;
  void on_idle_timeout();
  void close_idle_session();
  bool look_up_wait_timeout_when_idle();  // true: the lookup runs
  void wait_timeout_looked_up(const std::vector<InternalResult>& results);

  // A client's COM_CHANGE_USER and COM_RESET_CONNECTION (session_change_user.cc).
  enum class ClientCleanup : uint8_t { change_user, reset };
  void change_user(std::span<const uint8_t> payload);
  void reset_connection();
  void clean_for_client(ClientCleanup cleanup, SessionProfile want);

  // Bringing upstream_ to the client's profile (session_prep.cc): the session's driver of
  // ConnectionPrep, and what each purpose does with its outcome.
  void start_prep(ConnectionPrep::Purpose purpose, ConnectionPrep::Have have, ConnectionPrep::Want want);
  // Without a cleanup, only what the connection's session has matters.
  void start_prep(ConnectionPrep::Purpose purpose, const SessionProfile& have, ConnectionPrep::Want want);
  void drive_prep(ConnectionPrep::Step step);
  void checkout_prepared(const ConnectionPrep& prep);
  void change_user_prepared(const ConnectionPrep& prep);
  void reconnect_prepared(const ConnectionPrep& prep);
  void handover_prepared(const ConnectionPrep& prep);
  uint16_t prepared_status(const ConnectionPrep& prep) const;
  void send_ok(uint16_t status_flags);
  void send_reset_ok(uint16_t status_flags);
  void release_upstream();
  PooledConn give_up_upstream();
  void drop_upstream();
  bool upstream_reusable() const;
  void finish();
  void maybe_delete();

  // What timer_ is armed for, each with its own duration and its own expiry.
  enum class Deadline : uint8_t {
    none,
    handshake,          // the client's login must be done (--handshake-timeout)
    pool_wait,          // a pooled connection being cleaned is awaited; then dial (--connect-timeout)
    borrow,             // in the borrow queue at --pool-max: then error 9008 (--pool-borrow-timeout)
    reconnect_backoff,  // the next attempt of a transparent reconnect
    close_after_write,  // the last queued bytes must be written (kCloseAfterWriteTimeoutMs)
    idle,               // relaying between commands: the client's own wait_timeout (session_idle.cc)
  };
  void arm(Deadline deadline, uint64_t ms);
  void disarm();
  static void on_timer(uv_timer_t* t);
  static void on_timer_closed(uv_handle_t* h);

  // Transport::Events (the client side)
  void on_data(Transport& t, std::span<const uint8_t> data) override;
  void on_drained(Transport& t) override;
  void on_error(Transport& t, int code, const std::string& detail) override;
  void on_tls_ready(Transport& t) override;
  void on_closed(Transport& t) override;

  // UpstreamConn::Owner
  void on_upstream_greeting(UpstreamConn& u) override;
  void on_upstream_ready(UpstreamConn& u, std::span<const uint8_t> ok_payload) override;
  void on_upstream_failed(UpstreamConn& u, const UpstreamFailure& f) override;
  void on_upstream_data(UpstreamConn& u, std::span<const uint8_t> data) override;
  void on_upstream_drained(UpstreamConn& u) override;
  void on_upstream_commands_done(UpstreamConn& u, const std::vector<InternalResult>& results) override;

  SessionEnv& env_;
  State state_ = State::wait_profile;
  Transport client_;
  uv_timer_t timer_{};  // see Deadline
  Deadline armed_ = Deadline::none;
  bool client_closed_ = false;
  bool timer_closed_ = false;
  UpstreamConn* upstream_ = nullptr;
  bool upstream_counted_ = false;  // upstream_ counts against --pool-max
  // The account a dialed upstream_'s slot is counted for (a taken one's is pooled_->key's): empty
  // for the dial that learns the greeting before the client named one.
  std::string dial_account_;
  // The client's login; after it, it keeps the bytes a client sends before the relay starts.
  protocol::ServerHandshake login_;
  uint32_t connection_id_ = 0;
  uint8_t client_seq_ = 0;  // seq id of the next packet camproxy sends the client

  // From the client's HandshakeResponse41.
  uint32_t client_caps_ = 0;
  uint32_t client_mariadb_caps_ = 0;  // MariaDB extended capabilities (part of the pool key)
  uint8_t collation_ = 0;
  uint32_t max_packet_size_ = 0;
  std::string user_;
  std::optional<std::string> database_;
  protocol::ConnectAttrs attrs_;
  std::optional<std::string> refused_peer_;        // the uid (or "unknown") --allow-peer-uid refuses
  bool remote_peer_ = false;                       // a TCP peer on another host: TLS required
  std::shared_ptr<const LocalUsers> local_users_;  // local authentication on
  bool sha2_fast_ack_ = false;                     // send AuthMoreData 01 03 before the OK (§2.5)

  std::string account_;
  std::shared_ptr<const TokenState> token_;
  bool waiting_for_token_ = false;
  bool waiting_for_pool_ = false;
  bool borrowing_ = false;  // in the target's borrow queue (UpstreamPool::borrow)
  std::chrono::steady_clock::time_point borrow_started_{};
  std::chrono::steady_clock::time_point pool_wait_started_{};
  LoginWait login_wait_;  // whether and how long the login waited for the database
  uint64_t seen_generation_ = 0;
  uint64_t rejected_generation_ = 0;  // token the database answered 1045 to
  bool retried_after_1045_ = false;
  std::optional<UpstreamFailure> pending_upstream_failure_;

  // Relay.
  std::optional<PooledConn> pooled_;  // key and profile of upstream_, for the pool
  std::optional<protocol::ResponseTracker> tracker_;
  CommandFramer framer_;
  CommandEffects next_effects_;                 // of the command being forwarded
  std::deque<CommandEffects> pending_effects_;  // one per command awaiting its response
  size_t kills_pending_ = 0;                    // of pending_effects_, those of a KILL
  bool quit_requested_ = false;
  bool process_draining_ = false;  // drain(): close at the next transaction boundary
  // Engaged while upstream_ is being prepared (a checkout, a client's COM_CHANGE_USER, a
  // reconnect's replay): upstream_'s answers go to it.
  std::optional<ConnectionPrep> prep_;
  ClientCleanup client_cleanup_ = ClientCleanup::change_user;  // of a Purpose::change_user prep_
  bool reset_held_ = false;  // the client's COM_RESET_CONNECTION, answered once its read is relayed
  bool idle_outside_transaction() const;
  bool logged_in() const;
  ReplayState replay_;
  // The session's wait_timeout in seconds as the client set it; nullopt: the server's default.
  std::optional<uint32_t> client_wait_timeout_;
  uint64_t idle_since_ms_ = 0;  // uv_now() when the last response ended (before any: the accept)
  // The session's wait_timeout is to be read from the database between commands (session_idle.cc).
  enum class WaitTimeoutLookup : uint8_t {
    none,
    due,                // the client set it with an expression camproxy does not evaluate
    interactive_login,  // a CLIENT_INTERACTIVE login: set to interactive_timeout first
    running,            // asked; the client is not read until the answer
  };
  WaitTimeoutLookup wait_timeout_lookup_ = WaitTimeoutLookup::none;
  bool lookup_sets_interactive_ = false;
  std::vector<uint8_t> held_client_bytes_;  // sent with the login, relayed after the lookup
  // replay_.schema may not be the server's: a statement the classifier could not read whole, or
  // one that may have changed the schema in a way it does not follow (DROP DATABASE, a failed
  // multi-statement that had a USE). The pool then looks at the session after the reset.
  bool schema_uncertain_ = false;
  // The client may have set a role (SET ROLE, or SQL camproxy could not read): the cleanup
  // before the connection's next client ends it (ConnectionPrep::Have::role_may_be_set).
  bool role_may_be_set_ = false;
  bool multi_statements_ = false;
  bool response_started_ = false;  // bytes of the current response reached the client
  std::chrono::steady_clock::time_point reconnect_deadline_{};
  uint64_t reconnect_delay_ms_ = 0;
  std::shared_ptr<SessionEntry> registry_entry_;
  std::chrono::steady_clock::time_point accepted_at_{};

  // --pool-mode transaction, latched when the relay first starts (session_sharing.cc).
  bool sharing_ = false;
  PinTracker pins_;
  bool pinned_counted_ = false;  // counted in camproxy_pool_pinned_sessions
  bool shared_counted_ = false;  // counted in camproxy_pool_shared_sessions
  // LAST_INSERT_ID() as the session has it, and whether the last commands may have changed it
  // (read from the connection before it is shared).
  uint64_t last_insert_id_ = 0;
  bool last_insert_id_dirty_ = false;
  std::vector<uint8_t> held_;  // client bytes read while detaching, detached or attaching
  int attach_attempts_ = 0;
  bool pipelined_attach_ = false;  // the held command went out behind the attach's fix-ups
  // The client's server-side prepared statements (statement_map.h); null in --pool-mode session,
  // where they are relayed as they are.
  std::shared_ptr<StatementMap> statements_;
  struct StatementRelay {
    size_t replies = 0;               // of pending_effects_, prepares whose reply is rewritten or not relayed
    uint64_t reply_offset = 0;        // bytes of the front such reply seen so far
    uint8_t reply_first = 0;          // its first payload byte (00: PREPARE_OK)
    std::vector<uint8_t> reply_kept;  // the start of a re-prepare's reply: its ERR, if it fails
    std::vector<uint8_t> held;        // client bytes from the command waiting for a re-prepare on, unframed
    bool waiting = false;             // a re-prepare runs for `held`
    bool resume = false;              // its reply ended: `held` is relayed once this read is done
    uint32_t failed_id = 0;           // the re-prepare of this statement failed: the command gets failed_err
    std::vector<uint8_t> failed_err;  // that ERR, a whole frame
    uint32_t last_prepared = 0;       // for MariaDB's statement id 0xFFFFFFFF; 0 after a failed prepare
    size_t prepares_in_flight = 0;    // the client's own
  };
  StatementRelay stmt_;
};

}  // namespace camproxy::proxy
