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
  uv_work_t req{};
  TokenService* service;
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

TokenService::TokenService(uv_loop_t* control_loop, const Config& process, const TargetConfig& target,
                           std::unique_ptr<auth::CredentialProvider> credentials, std::function<void()> on_published)
    : loop_(control_loop),
      process_(process),
      target_(target),
      on_published_(std::move(on_published)),
      provider_(std::move(credentials)) {}

TokenService::~TokenService() = default;

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
  started_ = true;
  return true;
}

void TokenService::close() {
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
  for (auto& [account, e] : entries_) {
    if (e.timer == nullptr) continue;
    uv_close(reinterpret_cast<uv_handle_t*>(e.timer), [](uv_handle_t* h) {
      delete static_cast<TimerData*>(h->data);
      delete reinterpret_cast<uv_timer_t*>(h);
    });
    e.timer = nullptr;
  }
}

std::shared_ptr<const TokenState> TokenService::current(const std::string& account) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(account);
  return it == entries_.end() ? nullptr : it->second.state;
}

bool TokenService::queue_locked(const std::string& account, Entry& e) {
  if (closed_ || e.in_flight) return false;
  e.in_flight = true;
  pending_.push_back(account);
  return true;
}

bool TokenService::request(const std::string& account, uint64_t seen_generation) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    Entry& e = entries_[account];
    if ((e.state && e.state->generation > seen_generation) || e.in_flight) return true;
    if (e.state && e.state->stopped && !e.demand_limiter.try_acquire(Clock::now())) return false;
    queue_locked(account, e);
  }
  uv_async_send(&wake_);
  return true;
}

bool TokenService::request_after_rejection(const std::string& account, uint64_t rejected_generation) {
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_[account];
    if (e.state && e.state->generation > rejected_generation) return true;  // already refreshed
    if (e.state && e.state->stopped) return false;
    if (e.in_flight) return true;  // single-flight: a thousand 1045s wait for one fetch
    if (!e.limiter.try_acquire(Clock::now())) {
      ++e.stats.reactive_denied;
      return false;
    }
    ++e.stats.reactive_refetches;
    if (!queue_locked(account, e)) return e.in_flight;
  }
  uv_async_send(&wake_);
  return true;
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

void TokenService::on_wake(uv_async_t* async) { static_cast<TokenService*>(async->data)->start_pending_fetches(); }

void TokenService::on_timer(uv_timer_t* t) {
  auto* data = static_cast<TimerData*>(t->data);
  TokenService* self = data->service;
  {
    std::lock_guard lock(self->mu_);
    auto it = self->entries_.find(data->account);
    if (it == self->entries_.end() || (it->second.state && it->second.state->stopped) ||
        !self->queue_locked(data->account, it->second))
      return;
  }
  self->start_pending_fetches();
}

// A changed credential (rewritten profile file, rotated Secret, new temporary key) lifts the
// stop of accounts that CAM refused: the operator may have fixed what CAM complained about.
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
      queued |= self->queue_locked(account, e);
    }
  }
  if (queued) {
    log_info("credential_changed_retrying");
    self->start_pending_fetches();
  }
}

void TokenService::start_pending_fetches() {
  std::vector<std::string> accounts;
  {
    std::lock_guard lock(mu_);
    accounts.swap(pending_);
  }
  for (auto& account : accounts) {
    auth::CamClient* client = nullptr;
    {
      std::lock_guard lock(mu_);
      Entry& e = entries_[account];
      if (!e.client) {
        auth::CamClientOptions opts;
        opts.endpoint = process_.cam_endpoint;
        opts.ca_file = process_.cam_ca_file;
        opts.timeout = process_.cam_timeout;
        auto created = auth::CamClient::create(std::move(opts));
        if (created) e.client = std::move(*created);
      }
      client = e.client.get();
    }
    auto* fetch = new Fetch{{}, this, account, client, std::nullopt};
    fetch->req.data = fetch;
    log_debug("cam_fetch_start", {{"account", account}});
    uv_queue_work(loop_, &fetch->req, run_fetch, after_fetch);
  }
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

// Thread pool. Returns an error result when no credential can be had.
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

// Thread pool: the blocking calls, off every event loop.
void TokenService::run_fetch(uv_work_t* req) {
  auto* f = static_cast<Fetch*>(req->data);
  TokenService* self = f->service;
  const auto t0 = Clock::now();
  std::shared_ptr<const auth::Credential> credential;
  if (f->client == nullptr) {
    f->result = tl::unexpected(auth::CamError{std::string(auth::client_error::kEndpoint),
                                              "the CAM endpoint is not usable", "", auth::ErrorClass::retryable, 0});
  } else if (auto err = self->fetch_credential(credential, false)) {
    f->result = std::move(*err);
  } else {
    const auth::TokenRequest request{self->target_.instance_id, self->target_.region, f->account};
    f->result = f->client->fetch(*credential, request);
    // spec §6.1 [camproxy]: an expired session token is cured by a fresh temporary credential.
    if (is_token_failure(*f->result) && !credential->session_token.empty() && !self->fetch_credential(credential, true))
      f->result = f->client->fetch(*credential, request);
  }
  f->seconds = std::chrono::duration<double>(Clock::now() - t0).count();
}

void TokenService::after_fetch(uv_work_t* req, int) {
  std::unique_ptr<Fetch> f(static_cast<Fetch*>(req->data));
  f->service->publish(f->account, std::move(*f->result), f->seconds);
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

void TokenService::schedule(Entry& e, const std::string& account, milliseconds delay) {
  if (e.timer == nullptr) {
    e.timer = new uv_timer_t;
    uv_timer_init(loop_, e.timer);
    e.timer->data = new TimerData{this, account};
  }
  uv_timer_start(e.timer, on_timer, static_cast<uint64_t>(delay.count()), 0);
}

}  // namespace camproxy::proxy
