#include "proxy/tokens/token_service.h"

#include "auth/crypto.h"
#include "auth/fallback_password.h"
#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"

namespace camproxy::proxy {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kCredentialCheckMs = 5000;
// A fallback password stands in until CAM answers again (spec §5: the SDKs give it 24 h).
constexpr auto kFallbackLifetime = std::chrono::hours(24);

bool is_token_failure(const auth::CamResult& r) {
  return !r && (r.error().code == "AuthFailure.TokenFailure" || r.error().code == "authfailure.tokenfailure");
}

}  // namespace

struct TokenService::Fetch {
  std::string account;
  auth::CamClient* client;
  std::optional<auth::CamResult> result;
  double seconds = 0;
};

// A proactive/retry timer knows its account.
struct TimerData {
  TokenService* service;
  std::string account;
};

namespace {

void close_account_timer(uv_timer_t* timer) {
  uv_close(reinterpret_cast<uv_handle_t*>(timer), [](uv_handle_t* h) {
    delete static_cast<TimerData*>(h->data);
    delete reinterpret_cast<uv_timer_t*>(h);
  });
}

}  // namespace

TokenService::TokenService(uv_loop_t* control_loop, const Config& process, const TargetConfig& target,
                           CamCallBudget& budget, std::unique_ptr<auth::CredentialProvider> credentials,
                           std::function<void()> on_published)
    : loop_(control_loop),
      process_(process),
      target_(target),
      on_published_(std::move(on_published)),
      provider_(std::move(credentials)),
      budget_(budget) {
  policy_.max_accounts = static_cast<size_t>(process.cam_max_accounts);
  policy_.negative_ttl = process.cam_negative_ttl;
}

TokenService::~TokenService() {
  process_metrics().gauge(MetricId::cam_cached_accounts).sub(static_cast<int64_t>(entries_.size()));
}

bool TokenService::start(std::string& error) {
  auth::CamClientOptions probe;
  probe.endpoint = process_.cam_endpoint;
  probe.ca_file = process_.cam_ca_file;
  probe.timeout = process_.cam_timeout;
  if (auto c = auth::CamClient::create(probe); !c) {
    error = "--cam-endpoint/--cam-ca-file: " + c.error().message();
    return false;
  }
  uv_async_init(loop_, &wake_, on_wake);
  wake_.data = this;
  uv_timer_init(loop_, &credential_check_);
  credential_check_.data = this;
  uv_timer_start(&credential_check_, on_credential_check, kCredentialCheckMs, kCredentialCheckMs);
  uv_timer_init(loop_, &budget_wait_);
  budget_wait_.data = this;
  started_ = true;
  return true;
}

void TokenService::close() {
  {
    std::lock_guard done(done_mu_);
    accepting_done_ = false;
  }
  std::vector<std::pair<std::string, std::vector<std::pair<RefreshDone, bool>>>> waiting;  // by account
  {
    std::lock_guard lock(mu_);
    for (auto& [account, e] : entries_) {
      if (!e.refresh_waiters.empty()) waiting.emplace_back(account, std::move(e.refresh_waiters));
      e.refresh_waiters.clear();
    }
  }
  for (auto& [account, waiters] : waiting) answer_refresh_waiters(std::move(waiters), closing_outcome(account));
  std::lock_guard lock(mu_);
  closed_ = true;
  if (!started_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&credential_check_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&budget_wait_), nullptr);
  for (auto& [account, e] : entries_) {
    if (e.timer == nullptr) continue;
    close_account_timer(e.timer);
    e.timer = nullptr;
  }
}

std::shared_ptr<const TokenState> TokenService::current(const std::string& account) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(account);
  if (it == entries_.end()) return nullptr;
  it->second.use.last_used = Clock::now();
  return it->second.state;
}

TokenService::Entry& TokenService::entry_locked(const std::string& account) {
  auto [it, added] = entries_.try_emplace(account);
  if (added) process_metrics().gauge(MetricId::cam_cached_accounts).add();
  return it->second;
}

bool TokenService::queue_locked(const std::string& account, Entry& e, bool paid) {
  if (closed_ || e.in_flight) return false;
  e.in_flight = true;
  pending_.push_back({account, paid});
  return true;
}

TokenDemand TokenService::request(const std::string& account, uint64_t seen_generation) {
  const auto now = Clock::now();
  {
    std::lock_guard lock(mu_);
    if (closed_) return TokenDemand::rejected;
    auto it = entries_.find(account);
    Entry* e = it == entries_.end() ? nullptr : &it->second;
    if (e != nullptr && ((e->state && e->state->generation > seen_generation) || e->in_flight))
      return TokenDemand::wait;
    const bool configured = e != nullptr && e->use.configured;
    if (e != nullptr && e->state && e->state->stopped &&
        (configured ? !e->demand_limiter.try_acquire(now) : refusal_remembered(e->use, now, policy_)))
      return TokenDemand::rejected;
    // An account configured, or one CAM has issued a token for (a real one, not a name a flood
    // made up), waits for the budget instead (start_pending_fetches): a cached client whose
    // token rotated keeps logging in during a flood.
    const bool paid = !configured && !(e != nullptr && e->stats.fetch_ok > 0);
    if (paid && !budget_.try_take(now, CamCallBudget::kKeptForConfigured)) {
      process_metrics().counter(MetricId::cam_calls_refused).inc();
      return TokenDemand::limited;
    }
    if (e == nullptr) e = &entry_locked(account);
    e->use.last_used = now;
    queue_locked(account, *e, paid);
  }
  uv_async_send(&wake_);
  return TokenDemand::wait;
}

bool TokenService::request_after_rejection(const std::string& account, uint64_t rejected_generation) {
  const auto now = Clock::now();
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    Entry& e = entry_locked(account);
    if (e.state && e.state->generation > rejected_generation) return true;  // already refreshed
    if (e.state && e.state->stopped) return false;
    if (e.in_flight) return true;  // single-flight: a thousand 1045s wait for one fetch
    if (!e.limiter.try_acquire(now)) {
      ++e.stats.reactive_denied;
      return false;
    }
    // The token was CAM's, so the account is real: the refetch waits for the CAM call budget
    // (start_pending_fetches) rather than failing the login.
    ++e.stats.reactive_refetches;
    queue_locked(account, e, false);
  }
  uv_async_send(&wake_);
  return true;
}

void TokenService::keep_fresh(const std::vector<std::string>& accounts) {
  {
    std::lock_guard lock(mu_);
    for (auto& [account, e] : entries_) e.use.configured = false;
    for (const auto& account : accounts) {
      Entry& e = entry_locked(account);
      e.use.configured = true;
      if (!e.state) queue_locked(account, e, false);
    }
  }
  start_pending_fetches();
}

std::vector<TokenStats> TokenService::stats() const {
  std::lock_guard lock(mu_);
  std::vector<TokenStats> out;
  for (const auto& [account, e] : entries_) {
    out.push_back(e.stats);
    out.back().account = account;
  }
  return out;
}

void TokenService::on_wake(uv_async_t* async) {
  auto* self = static_cast<TokenService*>(async->data);
  self->start_pending_fetches();
  self->finish_fetches();
}

void TokenService::on_timer(uv_timer_t* t) {
  auto* data = static_cast<TimerData*>(t->data);
  TokenService* self = data->service;
  {
    std::lock_guard lock(self->mu_);
    auto it = self->entries_.find(data->account);
    if (it == self->entries_.end() || (it->second.state && it->second.state->stopped)) return;
    if (!refresh_in_background(it->second.use, Clock::now(), self->policy_)) {
      log_debug("cam_refresh_skipped_idle", {{"account", data->account}});  // its next login fetches
      return;
    }
    if (!self->queue_locked(data->account, it->second, false)) return;
  }
  self->start_pending_fetches();
}

// A changed credential (rewritten profile file, rotated Secret, new temporary key) lifts the
// stop of accounts that CAM refused: the operator may have fixed what CAM complained about.
// Only the configured ones are fetched at once; the others on their next login.
void TokenService::on_credential_check(uv_timer_t* t) {
  auto* self = static_cast<TokenService*>(t->data);
  bool changed = false;
  {
    std::unique_lock cred(self->credential_mu_, std::try_to_lock);
    if (!cred.owns_lock()) return;  // a fetch is using it; look again next time
    changed = self->adopt_next_provider_locked() || !self->credential_ ||
              self->provider_->needs_refresh(*self->credential_, std::chrono::system_clock::now());
  }
  if (!changed) return;
  bool queued = false;
  {
    std::lock_guard lock(self->mu_);
    for (auto& [account, e] : self->entries_) {
      if (!e.state || !e.state->stopped) continue;
      auto lifted = std::make_shared<TokenState>(*e.state);
      lifted->stopped = false;
      lifted->generation++;
      e.state = lifted;
      e.use.rejected_at.reset();
      if (e.use.configured) queued |= self->queue_locked(account, e, false);
    }
  }
  if (queued) {
    log_info("credential_changed_retrying");
    self->start_pending_fetches();
  }
}

// Control thread. A fetch not paid for yet waits here until the budget has a token; the
// configured accounts' fetches go first on the threads.
void TokenService::start_pending_fetches() {
  const auto now = Clock::now();
  std::vector<std::pair<std::shared_ptr<Fetch>, bool>> ready;  // fetch, urgent
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    std::vector<Pending> waiting;
    for (auto& p : pending_) {
      if (!p.paid && !budget_.try_take(now, 0)) {
        waiting.push_back(std::move(p));
        continue;
      }
      Entry& e = entry_locked(p.account);
      if (!e.client) {
        auth::CamClientOptions opts;
        opts.endpoint = process_.cam_endpoint;
        opts.ca_file = process_.cam_ca_file;
        opts.timeout = process_.cam_timeout;
        auto created = auth::CamClient::create(std::move(opts));
        if (created) e.client = std::move(*created);
      }
      ready.emplace_back(std::make_shared<Fetch>(Fetch{p.account, e.client.get(), std::nullopt}), e.use.configured);
    }
    pending_ = std::move(waiting);
    if (!pending_.empty()) {
      const auto wait = std::chrono::ceil<milliseconds>(budget_.next_allowed(now) - now);
      uv_timer_start(
          &budget_wait_, [](uv_timer_t* t) { static_cast<TokenService*>(t->data)->start_pending_fetches(); },
          static_cast<uint64_t>(std::max<int64_t>(wait.count(), 1)), 0);
    }
  }
  for (auto& [fetch, urgent] : ready) {
    log_debug("cam_fetch_start", {{"account", fetch->account}});
    threads_.post(
        [this, fetch = fetch] {  // a copy: clang 14 cannot capture a structured binding
          run_fetch(*fetch);
          std::lock_guard lock(done_mu_);
          if (!accepting_done_) return;  // closed: the fetch finishes into the void
          done_.push_back(fetch);
          uv_async_send(&wake_);
        },
        urgent);
  }
}

// Control thread: publishes the fetches the threads have finished.
void TokenService::finish_fetches() {
  std::vector<std::shared_ptr<Fetch>> done;
  {
    std::lock_guard lock(done_mu_);
    done.swap(done_);
  }
  for (auto& f : done) publish(f->account, std::move(*f->result), f->seconds);
}

void TokenService::replace_credentials(std::unique_ptr<auth::CredentialProvider> provider) {
  std::lock_guard lock(next_provider_mu_);
  next_provider_ = std::move(provider);
}

// With credential_mu_ held.
bool TokenService::adopt_next_provider_locked() {
  std::lock_guard lock(next_provider_mu_);
  if (!next_provider_) return false;
  provider_ = std::move(next_provider_);
  credential_.reset();
  return true;
}

// A CAM thread. Returns an error result when no credential can be had.
std::optional<auth::CamResult> TokenService::fetch_credential(std::shared_ptr<const auth::Credential>& out,
                                                              bool force) {
  std::lock_guard lock(credential_mu_);
  force = adopt_next_provider_locked() || force;
  if (force || !credential_ || provider_->needs_refresh(*credential_, std::chrono::system_clock::now())) {
    auto fetched = provider_->fetch();
    if (!fetched) {
      const auto& err = fetched.error();
      return auth::CamResult(tl::unexpected(
          auth::CamError{"credentials", err.message, "",
                         err.transient ? auth::ErrorClass::retryable : auth::ErrorClass::user_notification, 0}));
    }
    if (!credential_ || credential_->source != fetched->source)
      log_info("credential_source", {{"source", fetched->source}, {"secret_id", fetched->identity}});
    credential_ = std::move(*fetched);
  }
  out = credential_->credential;
  return std::nullopt;
}

// A CAM thread: the blocking calls, off every event loop.
void TokenService::run_fetch(Fetch& f) {
  const auto t0 = Clock::now();
  std::shared_ptr<const auth::Credential> credential;
  if (f.client == nullptr) {
    f.result = tl::unexpected(auth::CamError{std::string(auth::client_error::kEndpoint),
                                             "the CAM endpoint is not usable", "", auth::ErrorClass::retryable, 0});
  } else if (auto err = fetch_credential(credential, false)) {
    f.result = std::move(*err);
  } else {
    const auth::TokenRequest request{target_.instance_id, target_.region, f.account};
    f.result = f.client->fetch(*credential, request);
    // spec §6.1 [camproxy]: an expired session token is cured by a fresh temporary credential.
    if (is_token_failure(*f.result) && !credential->session_token.empty() && !fetch_credential(credential, true))
      f.result = f.client->fetch(*credential, request);
  }
  f.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
}

std::shared_ptr<TokenState> TokenService::fallback_state(const Entry& e, uint64_t generation, SteadyTime now) {
  if (target_.fallback_password_file.empty()) return nullptr;
  auto password = auth::read_fallback_password(target_.fallback_password_file);
  if (!password) {
    log_error("fallback_password_unusable",
              {{"path", target_.fallback_password_file}, {"error", password.error().message()}});
    return nullptr;
  }
  auto s = std::make_shared<TokenState>();
  s->generation = generation;
  s->password = std::make_shared<const auth::SecretString>(std::move(*password));
  s->expires_at = now + kFallbackLifetime;
  s->from_fallback_file = true;
  (void)e;
  return s;
}

// Control thread: the least recently used accounts beyond --cam-max-accounts go, with their
// timers (account_policy.h); one being fetched stays until its fetch is published.
void TokenService::evict_locked() {
  const auto victims = accounts_to_evict(entries_, policy_, [](const Entry& e) { return e.in_flight; });
  for (const auto& account : victims) {
    auto it = entries_.find(account);
    if (it->second.timer != nullptr) close_account_timer(it->second.timer);
    entries_.erase(it);
    log_debug("cam_account_evicted", {{"account", account}});
  }
  process_metrics().gauge(MetricId::cam_cached_accounts).sub(static_cast<int64_t>(victims.size()));
}

void TokenService::schedule(Entry& e, const std::string& account, milliseconds delay) {
  if (e.timer == nullptr) {
    e.timer = new uv_timer_t;
    uv_timer_init(loop_, e.timer);
    e.timer->data = new TimerData{this, account};
  }
  uv_timer_start(e.timer, on_timer, static_cast<uint64_t>(delay.count()), 0);
}

}  // namespace camproxy::proxy
