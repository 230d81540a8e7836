// TokenService publishing a fetch's outcome (token_service.h): the next snapshot of the account,
// when to fetch again, and the log lines and metrics that say what happened.
#include <random>

#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"
#include "proxy/tokens/token_service.h"

namespace camproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

CamOutcome outcome_of(const auth::CamResult& r) {
  if (r) return CamOutcome::success;
  const auth::CamError& e = r.error();
  if (e.error_class == auth::ErrorClass::user_notification) return CamOutcome::rejected;
  if (e.code == auth::client_error::kTimeout) return CamOutcome::timeout;
  if (e.code == auth::client_error::kNetwork || e.code == auth::client_error::kTls || e.code == "credentials")
    return CamOutcome::network;
  if (e.code == auth::client_error::kHttpStatus || e.code == auth::client_error::kInvalidJson ||
      e.code == auth::client_error::kNoCredentials || e.code == auth::client_error::kTokenDecode)
    return CamOutcome::bad_answer;
  return CamOutcome::api_error;
}

// What an operator must do after a user-notification error (spec §6, docs/troubleshooting.md).
std::string_view operator_hint(std::string_view code) {
  if (code.starts_with("AuthFailure.SignatureExpire")) return "synchronise the host clock (NTP)";
  if (code.starts_with("AuthFailure.SecretIdNotFound") || code.starts_with("AuthFailure.InvalidSecretId"))
    return "check TENCENTCLOUD_SECRET_ID / the credential source: the key does not exist or was disabled";
  if (code.starts_with("AuthFailure.SignatureFailure")) return "the SecretKey does not belong to the SecretId";
  if (code.starts_with("AuthFailure.TokenFailure")) return "the session token is wrong or expired";
  if (code.starts_with("AuthFailure.UnauthorizedOperation"))
    return "grant cam:BuildDataFlowAuthToken on this instance/account in the CAM policy";
  if (code == "ResourceNotFound.DataFlowAuthClose") return "enable CAM authentication for the account in the console";
  return "fix the credentials or flags; camproxy tries again when the credential changes";
}

}  // namespace

void TokenService::publish(const std::string& account, auth::CamResult result, double seconds) {
  process_metrics().counter(MetricId::cam_requests, outcome_of(result)).inc();
  process_metrics()
      .histogram(MetricId::cam_request_duration)
      .observe(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(seconds)));
  Publication pub;
  std::vector<std::pair<RefreshDone, bool>> waiters;
  RefreshOutcome outcome;
  outcome.account = account;
  outcome.ok = result.has_value();
  outcome.seconds = seconds;
  if (!result) {
    outcome.code = result.error().code;
    outcome.error_class = std::string(auth::to_string(result.error().error_class));
    outcome.request_id = result.error().request_id;
  }
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    const auto now = Clock::now();
    Entry& e = entry_locked(account);
    e.in_flight = false;
    e.stats.last_fetch_seconds = seconds;
    waiters.swap(e.refresh_waiters);
    pub = next_state_locked(e, result, now);
    e.state = pub.next;
    if (pub.next->stopped) {
      e.use.rejected_at = now;  // the negative cache (account_policy.h)
    } else {
      e.use.rejected_at.reset();
    }
    // Retries and refreshes of an account no login uses any more are skipped when due (on_timer).
    if (pub.delay) schedule(e, account, *pub.delay);
    evict_locked();
  }
  log_publication(account, result, pub);
  on_published_();
  answer_refresh_waiters(std::move(waiters), std::move(outcome));
}

// The account's next snapshot after `result`: a new token; CAM's refusal (the account stops);
// or, on a transient failure, the still-valid token, else the fallback file, else nothing.
TokenService::Publication TokenService::next_state_locked(Entry& e, auth::CamResult& result, SteadyTime now) {
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const uint64_t generation = e.state ? e.state->generation + 1 : 1;
  Publication pub;
  if (result) {
    pub.next = std::make_shared<TokenState>();
    pub.next->generation = generation;
    pub.next->password = std::make_shared<const auth::SecretString>(std::move(result->password));
    pub.next->expires_at = now + milliseconds(result->lifetime_ms);
    e.backoff.reset();
    ++e.stats.fetch_ok;
    e.stats.last_outcome = "ok";
    e.stats.fetched_at = now;
    e.stats.expires_at = pub.next->expires_at;
    e.stats.fallback_in_use = false;
    pub.delay = auth::proactive_refresh_delay(result->lifetime_ms, uniform(rng_));
    if (process_.token_recheck_interval.count() > 0) pub.delay = std::min(*pub.delay, process_.token_recheck_interval);
    return pub;
  }
  if (result.error().error_class == auth::ErrorClass::user_notification) {
    pub.next = std::make_shared<TokenState>();
    pub.next->generation = generation;
    pub.next->stopped = true;
    pub.next->error = result.error();
    pub.newly_stopped = !(e.state && e.state->stopped);
    ++e.stats.fetch_rejected;
    e.stats.last_outcome = result.error().code;
    e.stats.fallback_in_use = false;
    return pub;
  }
  // Transient: a still-valid token keeps serving; after it, the fallback file.
  if (e.state && e.state->usable(now)) {
    pub.next = std::make_shared<TokenState>(*e.state);
    pub.next->generation = generation;
  } else if ((pub.next = fallback_state(e, generation, now))) {
    pub.fallback_started = !e.stats.fallback_in_use;
    e.stats.fallback_in_use = true;
    ++e.stats.fallback_uses;
  } else {
    pub.next = std::make_shared<TokenState>();
    pub.next->generation = generation;
  }
  pub.next->error = result.error();
  ++e.stats.fetch_retryable;
  e.stats.last_outcome = result.error().code;
  pub.delay = e.backoff.next(uniform(rng_));
  return pub;
}

void TokenService::log_publication(const std::string& account, const auth::CamResult& result,
                                   const Publication& pub) const {
  if (result) {
    log_info("cam_token_fetched", {{"account", account},
                                   {"lifetime_ms", static_cast<int64_t>(result->lifetime_ms)},
                                   {"next_fetch_ms", static_cast<int64_t>(pub.delay->count())},
                                   {"request_id", result->request_id},
                                   {"rotation_status", result->rotation_status}});
    if (result->rotation_status == "failed")
      log_warn("cam_rotation_failed", {{"account", account}, {"message", result->rotation_message}});
    return;
  }
  const auth::CamError& err = result.error();
  log_warn("cam_token_failed", {{"account", account},
                                {"code", err.code},
                                {"message", err.message},
                                {"request_id", err.request_id},
                                {"class", auth::to_string(err.error_class)},
                                {"http_status", err.http_status},
                                {"retry_in_ms", pub.delay ? static_cast<int64_t>(pub.delay->count()) : int64_t{-1}}});
  if (pub.newly_stopped)
    log_error("cam_token_stopped", {{"account", account}, {"code", err.code}, {"action", operator_hint(err.code)}});
  if (pub.fallback_started)
    log_warn("fallback_password_in_use", {{"account", account}, {"path", target_.fallback_password_file}});
}

}  // namespace camproxy::proxy
