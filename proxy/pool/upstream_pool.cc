#include "proxy/pool/upstream_pool.h"

#include <algorithm>

#include "protocol/constants.h"
#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"
#include "proxy/ops/version.h"
#include "proxy/pool/pool_idle_limit.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kTickMs = 1000;
// Until a client shows its capabilities, warm up for libmariadb/libmysqlclient's usual set.
constexpr uint32_t kDefaultWarmCaps = cap::kMultiResults | cap::kPsMultiResults | cap::kLocalFiles | cap::kSessionTrack;

int per_worker(int total, int workers) { return (total + workers - 1) / std::max(1, workers); }

size_t at_least_zero(int n) { return static_cast<size_t>(std::max(0, n)); }

bool can_fix_up(const SessionProfile& have, const SessionProfile& want) {
  if (!want.schema && have.schema) return false;  // no way back to "no current database"
  if (have.ignore_space && !want.ignore_space) return false;
  return true;
}

}  // namespace

UpstreamPool::UpstreamPool(PoolEnv& env) : env_(env) {}

UpstreamPool::~UpstreamPool() = default;

void UpstreamPool::start() {
  idle_timeout_ = env_.config().pool_idle_timeout;
  uv_timer_init(env_.loop(), &tick_);
  tick_.data = this;
  uv_timer_start(&tick_, on_tick, kTickMs, kTickMs);
  uv_timer_init(env_.loop(), &wake_);
  wake_.data = this;
  uv_async_init(env_.loop(), &budget_async_, on_budget);
  budget_async_.data = this;
  env_.budget().attach(this);
  started_ = true;
  const TargetConfig& c = env_.config();
  if (c.has_fixed_account()) warm_key_ = PoolKey{c.db_user, kDefaultWarmCaps};
  maintain();
}

void UpstreamPool::close() {
  if (started_) {
    env_.budget().detach(this);  // no notify() after this: the async handle may close
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&budget_async_), nullptr);
  }
  started_ = false;
  waiters_.clear();  // their sessions are being shut down with the worker
  borrowers_.clear();
  for_each_entry([](const Entry& e) {
    if (e.state == Entry::State::idle) {
      e.pc.conn->quit();
    } else {
      e.pc.conn->close();
    }
  });
  busy_.clear();
  keys_.clear();
  last_key_ = nullptr;
  spare_.clear();
  counts_.fill(0);
  report_idle();
}

void UpstreamPool::on_tick(uv_timer_t* t) { static_cast<UpstreamPool*>(t->data)->maintain(); }

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
  if (started_ && (!waiters_.empty() || !borrowers_.empty() || env_.budget().has_waiters()))
    uv_timer_start(&wake_, on_wake, 0, 0);
}

void UpstreamPool::on_wake(uv_timer_t* t) { static_cast<UpstreamPool*>(t->data)->wake_waiters(); }

// In arrival order, per key: the first waiters get the idle connections; those beyond what is
// idle or still coming back are told to stop waiting (they dial, or get 1040 at --pool-max).
void UpstreamPool::wake_waiters() {
  for (size_t i = 0; i < waiters_.size();) {
    const PoolKey key = waiters_[i].first;
    size_t ahead = 0;
    for (size_t j = 0; j < i; ++j) ahead += waiters_[j].first == key ? 1 : 0;
    const size_t now_idle = idle(key);
    if (now_idle <= ahead && now_idle + returning(key) > ahead) {
      ++i;
      continue;
    }
    Waiter* w = waiters_[i].second;
    waiters_.erase(waiters_.begin() + static_cast<ptrdiff_t>(i));
    w->on_pool_wait_over();  // may take an idle connection, or wait again at the end of the queue
  }
  serve_borrowers();  // what is still idle
}

void UpstreamPool::maintain() {
  const TargetConfig& c = env_.config();
  const auto now = Clock::now();
  // spec §7.1: idle connections are closed well inside the server's wait_timeout, and none
  // lives forever (the server may have been reconfigured, or its certificate rotated).
  // A reload may have changed pool.idle-timeout (still cut below the server's wait_timeout)
  // or lowered pool.max (idle connections above it go first).
  idle_timeout_ = idle_limit(c.pool_idle_timeout, wait_timeout_);
  ConnectionBudget& budget = env_.budget();
  ConnectionBudget::AccountLimits by_account;
  for (const auto& [account, max] : c.pool_max_by_account) by_account.emplace(account, at_least_zero(max));
  budget.set_limits(at_least_zero(c.pool_max), at_least_zero(c.pool_max_waiters), std::move(by_account));
  for (auto& [key, k] : keys_) {
    for (auto it = k.idle.begin(); it != k.idle.end();) {
      Entry& e = *it++;  // close_pooled() moves it out of the list
      const bool too_old = now - e.pc.created > c.pool_max_lifetime;
      const bool idle_too_long = now - e.pc.idle_since > idle_timeout_;
      const bool over_max = budget.stats().used > budget.max();
      if (too_old || idle_too_long || over_max) {
        close_pooled(e, too_old         ? PoolClose::max_lifetime
                        : idle_too_long ? PoolClose::idle_timeout
                                        : PoolClose::over_max);
      }
    }
  }
  forget_empty_keys();
  // A reload may have given the target another fixed account: warm up for that one.
  if (c.has_fixed_account() && (!warm_key_ || warm_key_->account != c.db_user))
    warm_key_ = PoolKey{c.db_user, kDefaultWarmCaps};
  dial_warm();
  serve_borrowers();
  report_idle();
}

// --pool-min-idle (this worker's share) ready connections of the latest client's key: the whole
// shortfall is dialled at once (at start, at each tick and right after a checkout), so a
// connection-per-request client finds one ready without waiting for the next tick. Each logs in
// with the latest client's schema and collation (note_demand()), so that the next checkout
// needs no COM_INIT_DB or SET NAMES of its own.
void UpstreamPool::dial_warm() {
  const TargetConfig& c = env_.config();
  if (!started_ || !warm_key_) return;
  const int workers = static_cast<int>(env_.worker_count());
  const size_t min_idle = static_cast<size_t>(per_worker(c.pool_min_idle, workers));
  size_t ready = counts_[static_cast<size_t>(Entry::State::warming)] + idle(*warm_key_);
  if (ready >= min_idle) return;
  auto token = env_.token(warm_key_->account);
  if (!token || !token->usable(Clock::now())) return;
  // A warm-up dial takes only a free slot: never one a waiting client needs, nor an idle one.
  for (; ready < min_idle && env_.budget().try_acquire(warm_key_->account); ++ready) {
    ++open_;
    auto* u = UpstreamConn::create(env_.loop(), {&c, env_.upstream_tls()}, this);
    // on_upstream_greeting() logs in with the profile's schema and collation.
    enter(PooledConn{.conn = u,
                     .key = *warm_key_,
                     .profile = warm_profile_,
                     .created = Clock::now(),
                     .idle_since = Clock::now(),
                     .login_collation = warm_profile_.collation,
                     .last_look = std::nullopt},
          Entry::State::warming);
    u->connect();
  }
}

bool UpstreamPool::try_open(std::string_view account) {
  if (env_.budget().try_acquire(account)) {
    ++open_;
    return true;
  }
  return !env_.budget().has_waiters() && make_room(account);
}

UpstreamPool::Entry* UpstreamPool::oldest_idle() {
  // The oldest idle connection: it has waited longest for a client of its key (each key's list
  // is in the order its connections came to rest).
  Entry* oldest = nullptr;
  for (auto& [key, k] : keys_) {
    if (!k.idle.empty() && (oldest == nullptr || k.idle.front().pc.idle_since < oldest->pc.idle_since))
      oldest = &k.idle.front();
  }
  return oldest;
}

// Its slot stays held, for the caller's own dial.
bool UpstreamPool::make_room(std::string_view account) {
  Entry* oldest = oldest_idle();
  if (oldest == nullptr || !env_.budget().reassign(oldest->pc.key.account, account)) return false;
  close_pooled(*oldest, PoolClose::make_room, true);
  ++open_;
  return true;
}

void UpstreamPool::count_opened(std::string_view account) {
  env_.budget().acquire_unchecked(account);
  ++open_;
}

void UpstreamPool::count_closed(std::string_view account) {
  if (open_ == 0) return;
  --open_;
  env_.budget().release(account);
}

void UpstreamPool::note_demand(const PoolKey& key, const SessionProfile& profile) {
  warm_key_ = key;
  warm_profile_ = profile;
}

bool UpstreamPool::has_idle_for(const PoolKey& key, const SessionProfile& want) {
  const KeyEntries* k = find_key(key);
  return k != nullptr &&
         std::any_of(k->idle.begin(), k->idle.end(), [&](const Entry& e) { return can_fix_up(e.pc.profile, want); });
}

// The longest idle connection of the key with the session's profile, else the first that can be
// fixed up: the first one looked at when the key's clients look alike (the usual case).
std::optional<PooledConn> UpstreamPool::take(const PoolKey& key, const SessionProfile& want) {
  Entry* best = nullptr;
  if (KeyEntries* k = find_key(key)) {
    for (Entry& e : k->idle) {
      if (!can_fix_up(e.pc.profile, want)) continue;
      if (e.pc.profile == want) {
        best = &e;
        break;
      }
      if (best == nullptr) best = &e;
    }
  }
  if (best != nullptr) process_metrics().counter(MetricId::upstream_reuses).inc();
  std::optional<PooledConn> pc = best != nullptr ? std::optional(leave(*best)) : std::nullopt;
  dial_warm();  // a checkout (or a miss) may have left the pool short of --pool-min-idle: now, not at the tick
  return pc;
}

// A logged-in connection ready to serve. The pool's first one reads the server's wait_timeout;
// the first one of the process also reads the collation table.
void UpstreamPool::make_idle(Entry& e) {
  std::vector<InternalCommand> cmds;
  if (!wait_timeout_asked_) {
    wait_timeout_asked_ = true;
    cmds.push_back(make_query("SELECT @@session.wait_timeout", true));
  }
  if (env_.collations().claim_learning()) {
    cmds.push_back(make_query("SET SESSION group_concat_max_len = 1048576"));
    cmds.push_back(
        make_query("SELECT GROUP_CONCAT(ID, ':', CHARACTER_SET_NAME, ':', COLLATION_NAME) "
                   "FROM information_schema.COLLATIONS",
                   true));
    cmds.push_back(make_query("SET SESSION group_concat_max_len = DEFAULT"));
  }
  if (!cmds.empty()) {
    transition(e, Entry::State::learning);
    e.pc.conn->run_commands(cmds);
    return;
  }
  e.pc.idle_since = Clock::now();
  transition(e, Entry::State::idle);
  schedule_wake();
}

// results: [wait_timeout] [SET, collation table, SET back], as make_idle() asked.
void UpstreamPool::learn(Entry& e, const std::vector<InternalResult>& results) {
  if (results.size() != 3) learn_wait_timeout(results.front().column(0));
  if (results.size() >= 3) env_.collations().learn(results[results.size() - 2].column(0).value_or(""));
  if (!std::all_of(results.begin(), results.end(), [](const InternalResult& r) { return r.ok; })) {
    close_pooled(e, PoolClose::unclean);
    return;
  }
  make_idle(e);
}

}  // namespace camproxy::proxy
