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

// After a reset or CHANGE_USER: what the session has now, for the connection's SessionProfile,
// and the server's wait_timeout (copied from the globals by either command).
constexpr std::string_view kSessionStateQuery =
    "SELECT DATABASE(), @@session.wait_timeout, FIND_IN_SET('IGNORE_SPACE', @@session.sql_mode) > 0";

// An explicit --pool-idle-timeout above the server's wait_timeout is reported once per process.
std::atomic<bool> g_clamp_reported{false};

}  // namespace

void UpstreamPool::give_back(PooledConn pc, uint8_t next_collation) {
  pc.conn->set_owner(this);
  Cleaning c{std::move(pc), Cleaning::Stage::reset, next_collation};
  if (reset_refused_) {
    change_user(std::move(c));
    return;
  }
  std::vector<InternalCommand> cmds;
  cmds.push_back(make_command(protocol::Command::kResetConnection));
  for (auto& cmd : restore_commands(c)) cmds.push_back(std::move(cmd));
  UpstreamConn* u = c.pc.conn;
  cleaning_.push_back(std::move(c));
  u->run_commands(cmds);
}

// What a reset or CHANGE_USER dropped: the character set of the next client (betting it speaks
// like the last one); after CHANGE_USER also the MULTI_STATEMENTS state, which the reset keeps
// (§5.1) but CHANGE_USER is not documented to. Then a look at the session's state.
std::vector<InternalCommand> UpstreamPool::restore_commands(const Cleaning& c) const {
  std::vector<InternalCommand> cmds;
  if (c.next_collation != 0) cmds.push_back(make_query(collation_statement(c.next_collation, worker_.ctx().collations())));
  if (c.stage == Cleaning::Stage::restore) cmds.push_back(set_option_command(c.pc.profile.multi_statements));
  cmds.push_back(make_query(kSessionStateQuery, true));
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

void UpstreamPool::finish_cleaning(Cleaning c, const std::vector<InternalResult>& restored, PoolCleanup method) {
  UpstreamConn* u = c.pc.conn;
  const InternalResult& state = restored.back();
  const size_t names = c.next_collation != 0 ? 1 : 0;  // SET NAMES may fail: the collation is then unknown
  const bool all_ok = std::all_of(restored.begin() + names, restored.end(), [](const InternalResult& r) { return r.ok; });
  // spec §5.3: back into the pool only when provably clean.
  if (!all_ok || (state.status_flags & protocol::status::kInTrans) != 0) {
    ++stats_.reset_failures;
    log_info("pool_cleanup_failed",
             {{"thread_id", u->thread_id()}, {"method", label_value(method)}, {"code", state.code}, {"message", state.message}});
    close_pooled(u, PoolClose::unclean);
    return;
  }
  SessionProfile& profile = c.pc.profile;
  profile.collation = names != 0 && restored.front().ok ? c.next_collation : 0;
  profile.schema = state.column(0);
  profile.ignore_space = state.column(2) == "1";
  learn_wait_timeout(state.column(1));
  ++(method == PoolCleanup::reset ? stats_.resets : stats_.change_users);
  process_metrics().counter(MetricId::pool_cleanups, method).inc();
  make_idle(std::move(c.pc));
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
              {"message", "--pool-idle-timeout is not below the server's wait_timeout; idle connections are closed "
                          "earlier"}});
  }
}

void UpstreamPool::on_cleaning_done(Cleaning c, const std::vector<InternalResult>& results) {
  if (c.stage == Cleaning::Stage::restore) {
    finish_cleaning(std::move(c), results, PoolCleanup::change_user);
    return;
  }
  if (!results.front().ok) {
    note_reset_refused(results.front());
    change_user(std::move(c));
    return;
  }
  finish_cleaning(std::move(c), std::vector<InternalResult>(results.begin() + 1, results.end()), PoolCleanup::reset);
}


// CHANGE_USER accepted the token: restore what it dropped.
void UpstreamPool::on_change_user_accepted(Cleaning& c) {
  c.stage = Cleaning::Stage::restore;
  c.pc.conn->run_commands(restore_commands(c));
}

// e.g. 1047 unknown command from a server before MariaDB 10.2.4 / MySQL 5.7.3, or a middlebox:
// remembered, so later returns go straight to CHANGE_USER.
void UpstreamPool::note_reset_refused(const InternalResult& err) {
  if (!reset_refused_) log_warn("pool_reset_refused", {{"code", err.code}, {"message", err.message}, {"fallback", "COM_CHANGE_USER"}});
  reset_refused_ = true;
}

PoolClose UpstreamPool::on_cleaning_failed(const Cleaning& c, const UpstreamFailure& f) {
  if (c.stage != Cleaning::Stage::change_user) {
    ++stats_.reset_failures;
    return PoolClose::unclean;
  }
  log_warn("pool_change_user_failed", {{"thread_id", c.pc.conn->thread_id()}, {"kind", to_string(f.kind)},
                                       {"code", f.code}, {"message", f.message}});
  if (f.kind != UpstreamFailure::Kind::server_error || f.code != 1045) return PoolClose::change_user_failed;
  // The password rotated after the token was fetched: have it refetched, as a login would.
  worker_.ctx().tokens().request_after_rejection(c.pc.key.account, c.token_generation);
  return PoolClose::change_user_refused;
}

}  // namespace camproxy::proxy
