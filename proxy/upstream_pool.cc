#include "proxy/upstream_pool.h"

#include <algorithm>

#include "protocol/constants.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/pool_idle_limit.h"
#include "proxy/version.h"
#include "proxy/worker.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kTickMs = 1000;
// Until a client shows its capabilities, warm up for libmariadb/libmysqlclient's usual set.
constexpr uint32_t kDefaultWarmCaps = cap::kMultiResults | cap::kPsMultiResults | cap::kLocalFiles | cap::kSessionTrack;

int per_worker(int total, int workers) { return (total + workers - 1) / std::max(1, workers); }

bool can_fix_up(const SessionProfile& have, const SessionProfile& want) {
  if (!want.schema && have.schema) return false;  // no way back to "no current database"
  if (have.ignore_space && !want.ignore_space) return false;
  return true;
}

}  // namespace

std::string collation_statement(uint8_t id, const CollationNames& names) {
  if (auto fast = names.set_names(id)) return *fast;
  // The handshake's collation id, applied as the server applies it at login (character_set_client,
  // _results and _connection): SET NAMES needs names, and only charset ids may be given as numbers.
  const std::string n = std::to_string(id);
  const std::string charset = "(SELECT CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID = " + n + ")";
  return "SET character_set_client = " + charset + ", character_set_results = " + charset +
         ", collation_connection = (SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE ID = " + n + ")";
}

InternalCommand set_option_command(bool multi_statements) {
  // COM_SET_OPTION int<2>: 0 = MULTI_STATEMENTS on, 1 = off (spec §4.3).
  const char option[2] = {static_cast<char>(multi_statements ? 0 : 1), 0};
  return make_command(protocol::Command::kSetOption, std::string_view(option, 2));
}

std::vector<InternalCommand> fix_up_commands(const SessionProfile& have, const SessionProfile& want,
                                             const CollationNames& names) {
  std::vector<InternalCommand> cmds;
  if (want.schema && want.schema != have.schema) cmds.push_back(make_command(protocol::Command::kInitDb, *want.schema));
  if (want.collation != 0 && want.collation != have.collation)
    cmds.push_back(make_query(collation_statement(want.collation, names)));
  if (want.multi_statements != have.multi_statements) cmds.push_back(set_option_command(want.multi_statements));
  if (want.ignore_space && !have.ignore_space)
    cmds.push_back(make_query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',IGNORE_SPACE')"));
  return cmds;
}

UpstreamPool::UpstreamPool(Worker& worker) : worker_(worker) {}

UpstreamPool::~UpstreamPool() = default;

void UpstreamPool::start() {
  idle_timeout_ = worker_.ctx().config().pool_idle_timeout;
  uv_timer_init(worker_.loop(), &tick_);
  tick_.data = this;
  uv_timer_start(&tick_, on_tick, kTickMs, kTickMs);
  uv_timer_init(worker_.loop(), &wake_);
  wake_.data = this;
  started_ = true;
  const TargetConfig& c = worker_.ctx().config();
  if (!c.db_user.empty()) warm_key_ = PoolKey{c.db_user, kDefaultWarmCaps};
  maintain();
}

void UpstreamPool::close() {
  if (started_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  }
  started_ = false;
  waiters_.clear();  // their sessions are being shut down with the worker
  for (auto& pc : idle_) pc.conn->quit();
  idle_.clear();
  for (auto* list : {&warming_, &learning_}) {
    for (auto& pc : *list) pc.conn->close();
    list->clear();
  }
  for (auto& c : cleaning_) c.pc.conn->close();
  cleaning_.clear();
  report_idle();
}

void UpstreamPool::on_tick(uv_timer_t* t) { static_cast<UpstreamPool*>(t->data)->maintain(); }

size_t UpstreamPool::returning(const PoolKey& key) const {
  size_t n = 0;
  for (const auto& c : cleaning_) n += c.pc.key == key ? 1 : 0;
  for (const auto* list : {&learning_, &warming_}) {
    for (const auto& pc : *list) n += pc.key == key ? 1 : 0;
  }
  return n;
}

size_t UpstreamPool::idle_count(const PoolKey& key) const {
  return static_cast<size_t>(
      std::count_if(idle_.begin(), idle_.end(), [&](const PooledConn& pc) { return pc.key == key; }));
}

bool UpstreamPool::wait_for_returning(const PoolKey& key, Waiter* w) {
  if (!started_) return false;
  const auto ahead = static_cast<size_t>(
      std::count_if(waiters_.begin(), waiters_.end(), [&](const auto& entry) { return entry.first == key; }));
  if (returning(key) <= ahead) return false;
  waiters_.emplace_back(key, w);
  return true;
}

void UpstreamPool::cancel_wait(Waiter* w) {
  std::erase_if(waiters_, [w](const auto& entry) { return entry.second == w; });
  schedule_wake();  // what it waited for may serve the next waiter of its key
}

void UpstreamPool::schedule_wake() {
  if (started_ && !waiters_.empty()) uv_timer_start(&wake_, on_wake, 0, 0);
}

void UpstreamPool::on_wake(uv_timer_t* t) { static_cast<UpstreamPool*>(t->data)->wake_waiters(); }

// In arrival order, per key: the first waiters get the idle connections; those beyond what is
// idle or still coming back are told to stop waiting (they dial, or get 1040 at --pool-max).
void UpstreamPool::wake_waiters() {
  for (size_t i = 0; i < waiters_.size();) {
    const PoolKey key = waiters_[i].first;
    size_t ahead = 0;
    for (size_t j = 0; j < i; ++j) ahead += waiters_[j].first == key ? 1 : 0;
    const size_t idle = idle_count(key);
    if (idle <= ahead && idle + returning(key) > ahead) {
      ++i;
      continue;
    }
    Waiter* w = waiters_[i].second;
    waiters_.erase(waiters_.begin() + static_cast<ptrdiff_t>(i));
    w->on_pool_wait_over();  // may take an idle connection, or wait again at the end of the queue
  }
}

void UpstreamPool::maintain() {
  const TargetConfig& c = worker_.ctx().config();
  const auto now = Clock::now();
  // spec §7.1: idle connections are closed well inside the server's wait_timeout, and none
  // lives forever (the server may have been reconfigured, or its certificate rotated).
  // A reload may have changed pool.idle-timeout (still cut below the server's wait_timeout)
  // or lowered pool.max (idle connections above it go first).
  idle_timeout_ = idle_limit(c.pool_idle_timeout, wait_timeout_);
  const size_t max_open = static_cast<size_t>(per_worker(c.pool_max, static_cast<int>(worker_.ctx().worker_count())));
  for (size_t i = 0; i < idle_.size();) {
    const bool too_old = now - idle_[i].created > c.pool_max_lifetime;
    const bool idle_too_long = now - idle_[i].idle_since > idle_timeout_;
    if (too_old || idle_too_long || open_ > max_open) {
      ++stats_.evicted_idle;
      UpstreamConn* u = idle_[i].conn;
      idle_.erase(idle_.begin() + static_cast<ptrdiff_t>(i));
      close_pooled(u, too_old         ? PoolClose::max_lifetime
                      : idle_too_long ? PoolClose::idle_timeout
                                      : PoolClose::over_max);
    } else {
      ++i;
    }
  }
  // A reload may have given the target another fixed account: warm up for that one.
  if (!c.db_user.empty() && (!warm_key_ || warm_key_->account != c.db_user))
    warm_key_ = PoolKey{c.db_user, kDefaultWarmCaps};
  dial_warm();
  report_idle();
  stats_.total = open_;
}

void UpstreamPool::dial_warm() {
  const TargetConfig& c = worker_.ctx().config();
  if (!started_ || !warm_key_) return;
  const int workers = static_cast<int>(worker_.ctx().worker_count());
  const size_t min_idle = static_cast<size_t>(per_worker(c.pool_min_idle, workers));
  size_t ready = warming_.size();
  for (const auto& pc : idle_) ready += pc.key == *warm_key_ ? 1 : 0;
  if (ready >= min_idle || !may_open()) return;
  auto token = worker_.ctx().tokens().current(warm_key_->account);
  if (!token || !token->usable(Clock::now())) return;
  auto* u = UpstreamConn::create(worker_.loop(), {&c, worker_.ctx().upstream_tls()}, this);
  opened();
  ++stats_.dials;
  // on_upstream_greeting() logs in with the profile's collation.
  PooledConn pc{.conn = u,
                .key = *warm_key_,
                .profile = warm_profile_,
                .created = Clock::now(),
                .idle_since = Clock::now(),
                .login_collation = warm_profile_.collation,
                .last_look = std::nullopt};
  pc.profile.schema.reset();
  warming_.push_back(std::move(pc));
  u->connect();
}

bool UpstreamPool::may_open() const {
  const int workers = static_cast<int>(worker_.ctx().worker_count());
  return open_ < static_cast<size_t>(per_worker(worker_.ctx().config().pool_max, workers));
}

// The idle gauge is process-wide: each worker's pool adds the change of its own count.
void UpstreamPool::report_idle() {
  const auto now_idle = static_cast<int64_t>(idle_.size());
  process_metrics().gauge(MetricId::upstream_connections_idle).add(now_idle - static_cast<int64_t>(stats_.idle));
  stats_.idle = idle_.size();
}

bool UpstreamPool::make_room() {
  if (idle_.empty()) return false;
  // The oldest idle connection: it has waited longest for a client of its key.
  auto oldest = std::min_element(idle_.begin(), idle_.end(),
                                 [](const PooledConn& a, const PooledConn& b) { return a.idle_since < b.idle_since; });
  UpstreamConn* u = oldest->conn;
  idle_.erase(oldest);
  ++stats_.evicted_idle;
  close_pooled(u, PoolClose::make_room);
  return true;
}

void UpstreamPool::opened() { ++open_; }
void UpstreamPool::closed() {
  if (open_ > 0) --open_;
}

void UpstreamPool::note_demand(const PoolKey& key, const SessionProfile& profile) {
  warm_key_ = key;
  warm_profile_ = profile;
  warm_profile_.schema.reset();
}

std::optional<PooledConn> UpstreamPool::take(const PoolKey& key, const SessionProfile& want) {
  auto best = idle_.end();
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    if (!(it->key == key) || !can_fix_up(it->profile, want)) continue;
    if (it->profile == want) {
      best = it;
      break;
    }
    if (best == idle_.end()) best = it;
  }
  if (best == idle_.end()) return std::nullopt;
  PooledConn pc = std::move(*best);
  idle_.erase(best);
  ++stats_.reuses;
  process_metrics().counter(MetricId::upstream_reuses).inc();
  report_idle();
  return pc;
}

// A logged-in connection ready to serve. The pool's first one reads the server's wait_timeout;
// the first one of the process also reads the collation table.
void UpstreamPool::make_idle(PooledConn pc) {
  std::vector<InternalCommand> cmds;
  if (!wait_timeout_asked_) {
    wait_timeout_asked_ = true;
    cmds.push_back(make_query("SELECT @@session.wait_timeout", true));
  }
  if (worker_.ctx().collations().claim_learning()) {
    cmds.push_back(make_query("SET SESSION group_concat_max_len = 1048576"));
    cmds.push_back(
        make_query("SELECT GROUP_CONCAT(ID, ':', CHARACTER_SET_NAME, ':', COLLATION_NAME) "
                   "FROM information_schema.COLLATIONS",
                   true));
    cmds.push_back(make_query("SET SESSION group_concat_max_len = DEFAULT"));
  }
  if (!cmds.empty()) {
    UpstreamConn* u = pc.conn;
    learning_.push_back(std::move(pc));
    u->run_commands(cmds);
    return;
  }
  pc.idle_since = Clock::now();
  idle_.push_back(std::move(pc));
  report_idle();
  schedule_wake();
}

void UpstreamPool::on_upstream_commands_done(UpstreamConn& u, const std::vector<InternalResult>& results) {
  if (auto l = std::find_if(learning_.begin(), learning_.end(), [&](const PooledConn& pc) { return pc.conn == &u; });
      l != learning_.end()) {
    PooledConn pc = std::move(*l);
    learning_.erase(l);
    // results: [wait_timeout] [SET, collation table, SET back], as make_idle() asked.
    if (results.size() != 3) learn_wait_timeout(results.front().column(0));
    if (results.size() >= 3) worker_.ctx().collations().learn(results[results.size() - 2].column(0).value_or(""));
    if (!std::all_of(results.begin(), results.end(), [](const InternalResult& r) { return r.ok; })) {
      close_pooled(&u, PoolClose::unclean);
      return;
    }
    make_idle(std::move(pc));
    return;
  }
  auto it = std::find_if(cleaning_.begin(), cleaning_.end(), [&](const Cleaning& c) { return c.pc.conn == &u; });
  if (it == cleaning_.end()) return;
  Cleaning c = std::move(*it);
  cleaning_.erase(it);
  on_cleaning_done(std::move(c), results);
}

void UpstreamPool::on_upstream_greeting(UpstreamConn& u) {
  auto it = std::find_if(warming_.begin(), warming_.end(), [&](const PooledConn& pc) { return pc.conn == &u; });
  if (it == warming_.end()) return;
  auto token = worker_.ctx().tokens().current(it->key.account);
  if (!token || !token->password) {
    on_upstream_failed(u, {UpstreamFailure::Kind::connect, 0, {}, "no CAM token"});
    return;
  }
  UpstreamLogin login;
  login.user = it->key.account;
  login.password = token->password;
  login.capabilities = it->key.caps | (it->profile.multi_statements ? cap::kMultiStatements : 0) |
                       (it->profile.ignore_space ? cap::kIgnoreSpace : 0);
  login.collation = it->profile.collation;
  login.max_packet_size = 64 * 1024 * 1024;
  login.attrs.emplace_back("_client_name", "camproxy");
  login.attrs.emplace_back("_client_version", kVersion);
  u.login(std::move(login));
}

void UpstreamPool::on_upstream_ready(UpstreamConn& u, std::span<const uint8_t>) {
  auto c = std::find_if(cleaning_.begin(), cleaning_.end(), [&](const Cleaning& cl) { return cl.pc.conn == &u; });
  if (c != cleaning_.end()) {
    on_change_user_accepted(*c);
    return;
  }
  auto it = std::find_if(warming_.begin(), warming_.end(), [&](const PooledConn& pc) { return pc.conn == &u; });
  if (it == warming_.end()) return;
  PooledConn pc = std::move(*it);
  warming_.erase(it);
  pc.created = Clock::now();
  make_idle(std::move(pc));
}

void UpstreamPool::on_upstream_failed(UpstreamConn& u, const UpstreamFailure& f) {
  auto in = [&](std::vector<PooledConn>& list) {
    auto it = std::find_if(list.begin(), list.end(), [&](const PooledConn& pc) { return pc.conn == &u; });
    if (it == list.end()) return false;
    list.erase(it);
    return true;
  };
  if (in(warming_)) {
    ++stats_.dial_failures;
    if (f.kind == UpstreamFailure::Kind::server_error && f.code == 1045 && warm_key_) {
      // The password rotated under the token: have it refetched (rate-limited per account).
      if (auto token = worker_.ctx().tokens().current(warm_key_->account))
        worker_.ctx().tokens().request_after_rejection(warm_key_->account, token->generation);
    }
    log_warn("pool_dial_failed", {{"kind", to_string(f.kind)}, {"code", f.code}, {"message", f.message}});
    drop(&u);
    return;
  }
  if (in(idle_)) {
    ++stats_.evicted_dead;  // the server closed it (wait_timeout, KILL, restart): never handed out
    log_info("pool_connection_lost", {{"thread_id", u.thread_id()}, {"reason", f.message}});
    close_pooled(&u, PoolClose::lost);
    return;
  }
  PoolClose reason = PoolClose::unclean;
  if (auto c = std::find_if(cleaning_.begin(), cleaning_.end(), [&](const Cleaning& cl) { return cl.pc.conn == &u; });
      c != cleaning_.end()) {
    reason = on_cleaning_failed(*c, f);
    cleaning_.erase(c);
  } else {
    in(learning_);
  }
  close_pooled(&u, reason);
}

void UpstreamPool::on_upstream_data(UpstreamConn& u, std::span<const uint8_t>) {
  // spec §7.1: unsolicited bytes on an idle connection (MySQL 8.0.24+ sends 4031 before its
  // wait_timeout close) mean it is dead.
  on_upstream_failed(u, {UpstreamFailure::Kind::closed, 0, {}, "unsolicited bytes from the server"});
}

void UpstreamPool::on_upstream_drained(UpstreamConn&) {}

// A connection the pool held is closed for `reason`: counted, and logged out politely when it
// is at rest (a plain close would count as an aborted client on the server).
void UpstreamPool::close_pooled(UpstreamConn* u, PoolClose reason) {
  process_metrics().counter(MetricId::pool_closes, reason).inc();
  log_debug("pool_connection_closed", {{"thread_id", u->thread_id()}, {"reason", label_value(reason)}});
  u->quit();
  drop(u);  // its close() is a no-op now
}

void UpstreamPool::drop(UpstreamConn* u) {
  u->close();
  closed();
  report_idle();
  stats_.total = open_;
  schedule_wake();  // a connection a session waited for may have been this one
}

}  // namespace camproxy::proxy
