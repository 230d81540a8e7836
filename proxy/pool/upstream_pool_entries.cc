// The pool's entries and their states (upstream_pool.h), and the connection events that move
// them: only enter(), transition() and leave() add, move and remove an entry.
#include <algorithm>

#include "protocol/constants.h"
#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"
#include "proxy/ops/version.h"
#include "proxy/pool/upstream_pool.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;

}  // namespace

std::string_view to_string(UpstreamPool::Entry::State s) {
  using State = UpstreamPool::Entry::State;
  switch (s) {
    case State::warming: return "warming";
    case State::learning: return "learning";
    case State::idle: return "idle";
    case State::cleaning: return "cleaning";
  }
  return "?";
}

size_t PoolKeyHash::operator()(const PoolKey& k) const {
  return std::hash<std::string>{}(k.account) ^ (static_cast<size_t>(k.caps) << 1) ^
         (static_cast<size_t>(k.mariadb_caps) << 33);
}

UpstreamPool::Entry& UpstreamPool::enter(PooledConn pc, Entry::State state) {
  if (spare_.empty()) spare_.emplace_back();
  const auto node = spare_.begin();
  Entry& e = *node;
  e.keyed = &keyed(pc.key);
  e.pc = std::move(pc);
  e.state = state;
  e.self = node;
  std::list<Entry>& to = list_of(e);
  to.splice(to.end(), spare_, node);
  count_entry(e, 1);
  report_idle();
  return e;
}

void UpstreamPool::transition(Entry& e, Entry::State to) {
  log_debug("pool_entry", {{"thread_id", e.pc.conn->thread_id()}, {"from", to_string(e.state)}, {"to", to_string(to)}});
  std::list<Entry>& from = list_of(e);
  count_entry(e, -1);
  e.state = to;
  count_entry(e, 1);
  std::list<Entry>& into = list_of(e);
  if (&into != &from) into.splice(into.end(), from, e.self);
  if (to != Entry::State::cleaning) e.prep.reset();
  report_idle();
}

PooledConn UpstreamPool::leave(Entry& e) {
  count_entry(e, -1);
  PooledConn pc = std::move(e.pc);
  e.prep.reset();
  spare_.splice(spare_.end(), list_of(e), e.self);
  report_idle();
  return pc;
}

std::list<UpstreamPool::Entry>& UpstreamPool::list_of(const Entry& e) {
  return e.state == Entry::State::idle ? e.keyed->idle : busy_;
}

void UpstreamPool::count_entry(const Entry& e, int delta) {
  counts_[static_cast<size_t>(e.state)] += static_cast<size_t>(delta);
  if (e.state != Entry::State::idle) e.keyed->returning += static_cast<size_t>(delta);
}

UpstreamPool::KeyEntries* UpstreamPool::find_key(const PoolKey& key) {
  if (last_key_ != nullptr && last_key_->first == key) return &last_key_->second;
  const auto it = keys_.find(key);
  if (it == keys_.end()) return nullptr;
  last_key_ = &*it;
  return &last_key_->second;
}

UpstreamPool::KeyEntries& UpstreamPool::keyed(const PoolKey& key) {
  if (KeyEntries* k = find_key(key)) return *k;
  last_key_ = &*keys_.try_emplace(key).first;
  return last_key_->second;
}

// Not on a command's path: the events of idle connections are failures, the others' are a
// return's cleanup, a warm-up's login and learning.
UpstreamPool::Entry* UpstreamPool::find(const UpstreamConn& u) {
  for (Entry& e : busy_) {
    if (e.pc.conn == &u) return &e;
  }
  for (auto& [key, k] : keys_) {
    for (Entry& e : k.idle) {
      if (e.pc.conn == &u) return &e;
    }
  }
  return nullptr;
}

size_t UpstreamPool::idle(const PoolKey& key) {
  const KeyEntries* k = find_key(key);
  return k == nullptr ? 0 : k->idle.size();
}

size_t UpstreamPool::returning(const PoolKey& key) {
  const KeyEntries* k = find_key(key);
  return k == nullptr ? 0 : k->returning;
}

void UpstreamPool::forget_empty_keys() {
  last_key_ = nullptr;
  std::erase_if(keys_, [](const auto& k) { return k.second.idle.empty() && k.second.returning == 0; });
}

// The idle gauge is process-wide: each worker's pool adds the change of its own count.
void UpstreamPool::report_idle() {
  const size_t now_idle = counts_[static_cast<size_t>(Entry::State::idle)];
  if (now_idle == idle_reported_) return;
  process_metrics()
      .gauge(MetricId::upstream_connections_idle)
      .add(static_cast<int64_t>(now_idle) - static_cast<int64_t>(idle_reported_));
  idle_reported_ = now_idle;
}

// A connection the pool held is closed for `reason`: counted, and logged out politely when it
// is at rest (a plain close would count as an aborted client on the server).
void UpstreamPool::close_pooled(Entry& e, PoolClose reason, bool slot_passed) {
  UpstreamConn* u = e.pc.conn;
  process_metrics().counter(MetricId::pool_closes, reason).inc();
  log_debug("pool_connection_closed",
            {{"thread_id", u->thread_id()}, {"reason", label_value(reason)}, {"state", to_string(e.state)}});
  const PooledConn pc = leave(e);
  u->quit();
  drop(u, pc.key.account, slot_passed);  // its close() is a no-op now
}

void UpstreamPool::drop(UpstreamConn* u, std::string_view account, bool slot_passed) {
  u->close();
  if (!slot_passed) {
    count_closed(account);
  } else if (open_ > 0) {
    --open_;
  }
  schedule_wake();  // a connection a session waited for may have been this one
}

void UpstreamPool::on_upstream_greeting(UpstreamConn& u) {
  Entry* e = find(u);
  if (e == nullptr || e->state != Entry::State::warming) return;
  auto token = env_.token(e->pc.key.account);
  if (!token || !token->password) {
    on_upstream_failed(u, {UpstreamFailure::Kind::connect, 0, {}, "no CAM token"});
    return;
  }
  PooledConn& pc = e->pc;
  // Before any client (or for one that sent 0), the greeting's collation: the server's default,
  // which the login would get anyway, recorded so that a client speaking it matches.
  if (pc.profile.collation == 0) pc.profile.collation = pc.login_collation = u.greeting().collation;
  UpstreamLogin login;
  login.user = pc.key.account;
  login.password = token->password;
  login.capabilities = pc.key.caps | (pc.profile.multi_statements ? cap::kMultiStatements : 0) |
                       (pc.profile.ignore_space ? cap::kIgnoreSpace : 0);
  login.collation = pc.profile.collation;
  login.mariadb_capabilities = pc.key.mariadb_caps;
  login.database = pc.profile.schema;
  login.max_packet_size = 64 * 1024 * 1024;
  login.attrs.emplace_back("_client_name", "camproxy");
  login.attrs.emplace_back("_client_version", kVersion);
  u.login(std::move(login));
}

void UpstreamPool::on_upstream_ready(UpstreamConn& u, std::span<const uint8_t>) {
  Entry* e = find(u);
  if (e == nullptr) return;
  if (e->state == Entry::State::cleaning) {
    drive(*e, e->prep->on_ready());  // CHANGE_USER accepted the token
  } else if (e->state == Entry::State::warming) {
    e->pc.created = std::chrono::steady_clock::now();
    make_idle(*e);
  }
}

void UpstreamPool::on_upstream_commands_done(UpstreamConn& u, const std::vector<InternalResult>& results) {
  Entry* e = find(u);
  if (e == nullptr) return;
  if (e->state == Entry::State::learning) {
    learn(*e, results);
  } else if (e->state == Entry::State::cleaning) {
    drive(*e, e->prep->on_commands_done(results));
  }
}

void UpstreamPool::on_upstream_failed(UpstreamConn& u, const UpstreamFailure& f) {
  Entry* e = find(u);
  if (e == nullptr) return;
  switch (e->state) {
    case Entry::State::warming:
      if (f.kind == UpstreamFailure::Kind::server_error && f.code == 1045 && warm_key_) {
        // The password rotated under the token: have it refetched (rate-limited per account).
        if (auto token = env_.token(warm_key_->account)) env_.token_rejected(warm_key_->account, token->generation);
      }
      if (f.kind == UpstreamFailure::Kind::server_error && (f.code == 1044 || f.code == 1049) && e->pc.profile.schema &&
          warm_profile_.schema == e->pc.profile.schema) {
        // The learnt schema is gone (1049) or not allowed (1044): warm without one until a
        // client shows another, rather than fail every tick.
        warm_profile_.schema.reset();
      }
      log_warn("pool_dial_failed", {{"kind", to_string(f.kind)}, {"code", f.code}, {"message", f.message}});
      drop(&u, leave(*e).key.account);
      return;
    case Entry::State::idle:
      // The server closed it (wait_timeout, KILL, restart): never handed out.
      log_info("pool_connection_lost", {{"thread_id", u.thread_id()}, {"reason", f.message}});
      close_pooled(*e, PoolClose::lost);
      return;
    case Entry::State::learning: close_pooled(*e, PoolClose::unclean); return;
    case Entry::State::cleaning:
      if (e->prep->state() == ConnectionPrep::State::changing_user) {
        log_warn("pool_change_user_failed",
                 {{"thread_id", u.thread_id()}, {"kind", to_string(f.kind)}, {"code", f.code}, {"message", f.message}});
      }
      drive(*e, e->prep->on_failed(f));
      return;
  }
}

void UpstreamPool::on_upstream_data(UpstreamConn& u, std::span<const uint8_t>) {
  // spec §7.1: unsolicited bytes on an idle connection (MySQL 8.0.24+ sends 4031 before its
  // wait_timeout close) mean it is dead.
  on_upstream_failed(u, {UpstreamFailure::Kind::closed, 0, {}, "unsolicited bytes from the server"});
}

void UpstreamPool::on_upstream_drained(UpstreamConn&) {}

PoolSnapshot UpstreamPool::snapshot(std::chrono::steady_clock::time_point now) const {
  PoolSnapshot out;
  out.open = open_;
  auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };
  for_each_entry([&](const Entry& e) {
    PoolKeySnapshot& k = out.key(e.pc.key.account, e.pc.key.caps, e.pc.key.mariadb_caps);
    switch (e.state) {
      case Entry::State::warming: ++k.warming; break;
      case Entry::State::learning: ++k.learning; break;
      case Entry::State::idle: ++k.idle; break;
      case Entry::State::cleaning: ++k.cleaning; break;
    }
    k.entries.push_back({.state = std::string(to_string(e.state)),
                         .thread_id = e.pc.conn->thread_id(),
                         .age_seconds = seconds(now - e.pc.created),
                         .idle_seconds = e.state == Entry::State::idle ? seconds(now - e.pc.idle_since) : 0,
                         .schema = e.pc.profile.schema});
  });
  for (const auto& [key, waiter] : waiters_) ++out.key(key.account, key.caps, key.mariadb_caps).waiting;
  for (const Borrower& b : borrowers_) ++out.key(b.key.account, b.key.caps, b.key.mariadb_caps).borrowing;
  const ConnectionBudget::Stats budget = env_.budget().stats();
  out.target_open = budget.used;
  out.target_max = env_.budget().max();
  out.target_borrowing = budget.waiting;
  return out;
}

}  // namespace camproxy::proxy
