// Returning a connection to the pool when its client leaves (spec/mysql-protocol.md §5): the
// cleanup (COM_RESET_CONNECTION, or COM_CHANGE_USER where the server refuses the reset), restoring
// what it dropped, and what the pool learns on the way (the server's wait_timeout).
#include "proxy/upstream_pool.h"

#include <algorithm>
#include <atomic>

#include "protocol/constants.h"
#include "proxy/log.h"
#include "proxy/pool_idle_limit.h"
#include "proxy/worker.h"

namespace camproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;

// The look at the session after a reset or CHANGE_USER: what it has now, for the connection's
// SessionProfile, the server's wait_timeout (copied from the globals by either command) and the
// collation (to learn whether a reset gives back the login collation).
constexpr std::string_view kSessionStateQuery =
    "SELECT DATABASE(), @@session.wait_timeout, FIND_IN_SET('IGNORE_SPACE', @@session.sql_mode) > 0, "
    "@@session.collation_connection";
// A connection's look is taken again after this long: a reset copies the globals, which an
// operator may have changed (wait_timeout, sql_mode).
constexpr auto kLookInterval = std::chrono::seconds(60);

// An explicit --pool-idle-timeout above the server's wait_timeout is reported once per process.
std::atomic<bool> g_clamp_reported{false};

}  // namespace

void UpstreamPool::give_back(PooledConn pc, uint8_t next_collation, bool schema_known) {
  pc.conn->set_owner(this);
  Cleaning c{std::move(pc), Cleaning::Stage::reset, next_collation};
  if (reset_refused_) {
    change_user(std::move(c));
    return;
  }
  plan_restore(c, schema_known);
  std::vector<InternalCommand> cmds;
  cmds.push_back(make_command(protocol::Command::kResetConnection));
  for (auto& cmd : restore_commands(c)) cmds.push_back(std::move(cmd));
  UpstreamConn* u = c.pc.conn;
  cleaning_.push_back(std::move(c));
  u->run_commands(cmds);
}

// After a reset, no look when nothing is in doubt (upstream_pool.h) and no SET NAMES when the
// reset gives the next client's collation back. After CHANGE_USER, which clears the schema and
// is not known to keep the character set or MULTI_STATEMENTS (§5.2), all of it runs.
void UpstreamPool::plan_restore(Cleaning& c, bool schema_known) const {
  const bool after_reset = c.stage == Cleaning::Stage::reset;
  const bool reset_gives_names =
      after_reset && c.next_collation == c.pc.login_collation && reset_collation_ == ResetCollation::restored;
  c.names = c.next_collation != 0 && !reset_gives_names;
  c.look = !after_reset || !schema_known || reset_collation_ == ResetCollation::unknown || !c.pc.last_look ||
           Clock::now() - c.pc.last_look->at >= kLookInterval;
}

// In this order: the look (first, so it sees the collation the reset left), SET NAMES, and after
// CHANGE_USER the MULTI_STATEMENTS state (a reset keeps it, §5.1).
std::vector<InternalCommand> UpstreamPool::restore_commands(const Cleaning& c) const {
  std::vector<InternalCommand> cmds;
  if (c.look) cmds.push_back(make_query(kSessionStateQuery, true));
  if (c.names) cmds.push_back(make_query(collation_statement(c.next_collation, worker_.ctx().collations())));
  if (c.stage == Cleaning::Stage::restore) cmds.push_back(set_option_command(c.pc.profile.multi_statements));
  return cmds;
}

// spec §5.2: the server refused COM_RESET_CONNECTION; COM_CHANGE_USER to the same account with
// the current token cleans the session as well (and clears the schema).
void UpstreamPool::change_user(Cleaning c) {
  UpstreamConn* u = c.pc.conn;
  auto token = worker_.ctx().tokens().current(c.pc.key.account);
  if (!token || !token->usable(Clock::now())) {
    log_info("pool_change_user_failed", {{"thread_id", u->thread_id()}, {"message", "no usable CAM token"}});
    close_pooled(u, PoolClose::change_user_failed);
    return;
  }
  c.stage = Cleaning::Stage::change_user;
  c.token_generation = token->generation;
  cleaning_.push_back(std::move(c));
  u->change_user(token->password);
}

void UpstreamPool::finish_cleaning(Cleaning c, std::span<const InternalResult> restored, uint16_t status,
                                   PoolCleanup method) {
  UpstreamConn* u = c.pc.conn;
  const size_t expected = (c.look ? 1 : 0) + (c.names ? 1 : 0) + (c.stage == Cleaning::Stage::restore ? 1 : 0);
  const size_t names_at = c.look ? 1 : 0;
  // SET NAMES may fail (the collation is then unknown); everything else must have succeeded.
  const InternalResult* failed = nullptr;
  for (size_t i = 0; i < restored.size() && failed == nullptr; ++i) {
    if (!restored[i].ok && !(c.names && i == names_at)) failed = &restored[i];
  }
  // spec §5.3: back into the pool only when provably clean.
  const bool in_trans = (status & protocol::status::kInTrans) != 0;
  if (restored.size() != expected || failed != nullptr || in_trans) {
    ++stats_.reset_failures;
    const std::string why = failed     ? failed->message
                            : in_trans ? "a transaction is still open"
                                       : "the server answered " + std::to_string(restored.size()) + " of " +
                                             std::to_string(expected) + " commands";
    log_info("pool_cleanup_failed", {{"thread_id", u->thread_id()},
                                     {"method", label_value(method)},
                                     {"code", failed ? failed->code : 0},
                                     {"message", why}});
    close_pooled(u, PoolClose::unclean);
    return;
  }
  if (c.look) apply_look(c, restored.front());
  SessionProfile& profile = c.pc.profile;
  profile.ignore_space = c.pc.last_look->ignore_space;  // set by this cleanup's look or an earlier one
  if (c.names) {
    profile.collation = restored[names_at].ok ? c.next_collation : 0;
  } else {
    const bool given_back = c.stage == Cleaning::Stage::reset && reset_collation_ == ResetCollation::restored;
    profile.collation = given_back ? c.pc.login_collation : 0;
  }
  ++(method == PoolCleanup::reset ? stats_.resets : stats_.change_users);
  process_metrics().counter(MetricId::pool_cleanups, method).inc();
  make_idle(std::move(c.pc));
}

void UpstreamPool::apply_look(Cleaning& c, const InternalResult& state) {
  c.pc.profile.schema = state.column(0);
  c.pc.last_look = PooledConn::Look{state.column(2) == "1", Clock::now()};
  learn_wait_timeout(state.column(1));
  if (c.stage != Cleaning::Stage::reset || reset_collation_ != ResetCollation::unknown) return;
  const auto login = worker_.ctx().collations().name(c.pc.login_collation);
  const auto now = state.column(3);
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
  const TargetConfig& c = worker_.ctx().config();
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

void UpstreamPool::on_cleaning_done(Cleaning c, const std::vector<InternalResult>& results) {
  if (results.empty()) {  // run_commands answers every command; nothing to trust otherwise
    close_pooled(c.pc.conn, PoolClose::unclean);
    return;
  }
  const uint16_t status = results.back().status_flags;
  if (c.stage == Cleaning::Stage::restore) {
    finish_cleaning(std::move(c), results, status, PoolCleanup::change_user);
    return;
  }
  if (!results.front().ok) {
    note_reset_refused(results.front());
    change_user(std::move(c));
    return;
  }
  finish_cleaning(std::move(c), std::span(results).subspan(1), status, PoolCleanup::reset);
}

// CHANGE_USER accepted the token: restore what it dropped.
void UpstreamPool::on_change_user_accepted(Cleaning& c) {
  c.stage = Cleaning::Stage::restore;
  plan_restore(c, false);
  c.pc.conn->run_commands(restore_commands(c));
}

// e.g. 1047 unknown command from a server before MariaDB 10.2.4 / MySQL 5.7.3, or a middlebox:
// remembered, so later returns go straight to CHANGE_USER.
void UpstreamPool::note_reset_refused(const InternalResult& err) {
  if (!reset_refused_)
    log_warn("pool_reset_refused", {{"code", err.code}, {"message", err.message}, {"fallback", "COM_CHANGE_USER"}});
  reset_refused_ = true;
}

PoolClose UpstreamPool::on_cleaning_failed(const Cleaning& c, const UpstreamFailure& f) {
  if (c.stage != Cleaning::Stage::change_user) {
    ++stats_.reset_failures;
    return PoolClose::unclean;
  }
  log_warn(
      "pool_change_user_failed",
      {{"thread_id", c.pc.conn->thread_id()}, {"kind", to_string(f.kind)}, {"code", f.code}, {"message", f.message}});
  if (f.kind != UpstreamFailure::Kind::server_error || f.code != 1045) return PoolClose::change_user_failed;
  // The password rotated after the token was fetched: have it refetched, as a login would.
  worker_.ctx().tokens().request_after_rejection(c.pc.key.account, c.token_generation);
  return PoolClose::change_user_refused;
}

}  // namespace camproxy::proxy
