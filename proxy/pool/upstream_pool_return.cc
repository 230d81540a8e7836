// Returning a connection to the pool when its client leaves (spec/mysql-protocol.md §5): the
// driver of its ConnectionPrep (COM_RESET_CONNECTION, or COM_CHANGE_USER where the server
// refuses the reset, and restoring what it dropped), and what the pool learns on the way (the
// server's wait_timeout, whether a reset gives back the login collation).
#include <algorithm>
#include <atomic>

#include "proxy/ops/log.h"
#include "proxy/pool/pool_idle_limit.h"
#include "proxy/pool/upstream_pool.h"

namespace camproxy::proxy {
namespace {

// An explicit --pool-idle-timeout above the server's wait_timeout is reported once per process.
std::atomic<bool> g_clamp_reported{false};

}  // namespace

// The next client of this key is bet to speak like the last one: `next_collation` is set in the
// cleanup's pipeline (saves a round trip at the next hand-off). The schema and MULTI_STATEMENTS
// are left as the client left them (a reset keeps both, §5.1; after CHANGE_USER the look reads
// the schema and COM_SET_OPTION restores MULTI_STATEMENTS).
void UpstreamPool::give_back(PooledConn pc, uint8_t next_collation, bool schema_known) {
  pc.conn->set_owner(this);
  pc.carried = {};  // the cleanup ends whatever a shared session left
  ConnectionPrep::Have have{.profile = pc.profile,
                            .login_collation = pc.login_collation,
                            .last_look = pc.last_look,
                            .reset_refused = reset_refused_,
                            .reset_collation = reset_collation_,
                            .schema_known = schema_known,
                            .role_may_be_set = pc.role_may_be_set};
  ConnectionPrep::Want want{.profile = {.schema = std::nullopt,
                                        .collation = next_collation,
                                        .multi_statements = pc.profile.multi_statements,
                                        .ignore_space = false},
                            .replayed_sets = {},
                            .autocommit_off = false};
  Entry& e = enter(std::move(pc), Entry::State::cleaning);
  e.prep.emplace(ConnectionPrep::Purpose::return_to_pool, std::move(have), std::move(want), env_.collations());
  drive(e, e.prep->start());
  env_.connection_returning();
}

// No cleanup: idle at once (after the pool's first look at the server, as any connection), and
// watched for the server closing it like every idle connection.
void UpstreamPool::share(PooledConn pc) {
  pc.conn->set_owner(this);
  pc.conn->start_reading();
  make_idle(enter(std::move(pc), Entry::State::cleaning));
}

// Carries out the cleanup's next step on the connection, and acts on its outcome.
void UpstreamPool::drive(Entry& e, ConnectionPrep::Step step) {
  if (step.refused_reset) note_reset_refused(*step.refused_reset);
  const auto outcome = carry_out(*e.prep, std::move(step), *e.pc.conn, [&] { return env_.token(e.pc.key.account); });
  if (!outcome) return;
  if (outcome->kind == ConnectionPrep::Step::Kind::done) {
    finish_cleaning(e);
  } else {
    cleaning_failed(e);
  }
}

void UpstreamPool::finish_cleaning(Entry& e) {
  note_cleaned(e.pc, *e.prep);
  e.pc.profile = e.prep->profile();
  e.pc.last_look = e.prep->last_look();
  make_idle(e);
}

void UpstreamPool::note_cleaned(const PooledConn& pc, const ConnectionPrep& prep) {
  const PoolCleanup method = prep.cleanup().value_or(PoolCleanup::reset);
  if (prep.look()) learn_from_look(pc, *prep.look(), method == PoolCleanup::reset);
  if (method == PoolCleanup::reset) reset_worked_ = true;
  process_metrics().counter(MetricId::pool_cleanups, method).inc();
}

void UpstreamPool::take_back(Handover h) {
  h.pc.conn->set_owner(this);
  Entry& e = enter(std::move(h.pc), Entry::State::cleaning);
  e.prep.emplace(std::move(h.prep));
}

std::optional<UpstreamPool::Handover> UpstreamPool::take_returning(const PoolKey& key, const SessionProfile& want) {
  if (!started_ || !reset_worked_ || reset_refused_) return std::nullopt;
  if (std::any_of(waiters_.begin(), waiters_.end(), [&](const auto& w) { return w.first == key; })) return std::nullopt;
  // One past --pool-max-lifetime goes back to idle instead, where the next tick retires it: a
  // connection handed from client to client would otherwise never be at rest to be retired.
  const auto too_old = [&](const Entry& e) {
    return std::chrono::steady_clock::now() - e.pc.created > env_.config().pool_max_lifetime;
  };
  for (Entry& e : busy_) {
    if (e.state != Entry::State::cleaning || !(e.pc.key == key) || too_old(e) || !e.prep->hand_over(want)) continue;
    ConnectionPrep prep = std::move(*e.prep);
    PooledConn pc = leave(e);
    process_metrics().counter(MetricId::upstream_reuses).inc();
    dial_warm();  // as after any checkout
    return Handover{std::move(pc), std::move(prep)};
  }
  return std::nullopt;
}

void UpstreamPool::cleaning_failed(Entry& e) {
  using Kind = ConnectionPrep::Failure::Kind;
  const ConnectionPrep::Failure& f = e.prep->failure();
  const uint32_t thread_id = e.pc.conn->thread_id();
  PoolClose reason = PoolClose::unclean;
  switch (f.kind) {
    case Kind::no_token:
      log_info("pool_change_user_failed", {{"thread_id", thread_id}, {"message", f.message}});
      reason = PoolClose::change_user_failed;
      break;
    case Kind::token_rejected:
      // The password rotated after the token was fetched: have it refetched, as a login would.
      env_.token_rejected(e.pc.key.account, e.prep->token_generation());
      reason = PoolClose::change_user_refused;
      break;
    case Kind::change_user_failed: reason = PoolClose::change_user_failed; break;
    case Kind::lost: break;  // on_upstream_failed: the connection is gone
    case Kind::schema_refused:
    case Kind::command_failed:
    case Kind::incomplete:
    case Kind::in_transaction:
      // spec §5.3: back into the pool only when provably clean.
      log_info("pool_cleanup_failed", {{"thread_id", thread_id},
                                       {"method", label_value(e.prep->cleanup().value_or(PoolCleanup::reset))},
                                       {"code", f.code},
                                       {"message", f.message}});
      break;
  }
  close_pooled(e, reason);
}

void UpstreamPool::learn_from_look(const PooledConn& pc, const InternalResult& look, bool after_reset) {
  learn_wait_timeout(look.column(1));
  if (!after_reset || reset_collation_ != ResetCollation::unknown) return;
  const auto login = env_.collations().name(pc.login_collation);
  const auto now = look.column(3);
  if (!login || !now) return;
  reset_collation_ = *now == *login ? ResetCollation::restored : ResetCollation::changed;
  log_debug(
      "pool_reset_collation",
      {{"login_collation", *login}, {"after_reset", *now}, {"restored", reset_collation_ == ResetCollation::restored}});
}

void UpstreamPool::learn_wait_timeout(const std::optional<std::string>& text) {
  const auto wait_timeout = text ? parse_wait_timeout(*text) : std::nullopt;
  if (!wait_timeout || wait_timeout == wait_timeout_) return;
  wait_timeout_ = wait_timeout;
  const TargetConfig& c = env_.config();
  idle_timeout_ = idle_limit(c.pool_idle_timeout, wait_timeout_);
  log_info("pool_idle_timeout", {{"server_wait_timeout_s", static_cast<int64_t>(wait_timeout_->count())},
                                 {"idle_timeout_ms", static_cast<int64_t>(idle_timeout_.count())}});
  if (!c.pool_idle_timeout_auto && idle_timeout_ < c.pool_idle_timeout && !g_clamp_reported.exchange(true)) {
    log_warn("pool_idle_timeout_clamped",
             {{"configured_ms", static_cast<int64_t>(c.pool_idle_timeout.count())},
              {"server_wait_timeout_s", static_cast<int64_t>(wait_timeout_->count())},
              {"idle_timeout_ms", static_cast<int64_t>(idle_timeout_.count())},
              {"message",
               "--pool-idle-timeout is not below the server's wait_timeout; idle connections are closed "
               "earlier"}});
  }
}

// e.g. 1047 unknown command from a server before MariaDB 10.2.4 / MySQL 5.7.3, or a middlebox:
// remembered, so later returns go straight to CHANGE_USER.
void UpstreamPool::note_reset_refused(const InternalResult& err) {
  if (!reset_refused_)
    log_warn("pool_reset_refused", {{"code", err.code}, {"message", err.message}, {"fallback", "COM_CHANGE_USER"}});
  reset_refused_ = true;
}

}  // namespace camproxy::proxy
