#pragma once
// The CAM tokens of a target, one per account (region and instance are fixed per target, the
// credential is the process's). Workers read immutable snapshots from any thread without
// waiting; fetches run on the service's own threads (cam_threads.h), at most one per account at
// a time (single-flight), each paid from the process-wide CAM call budget
// (cam_call_budget.h), and every published snapshot wakes the workers. Which accounts are kept
// and refreshed: account_policy.h.
//
// When CAM is called (spec/tencentcloud-cam.md §5, §6):
// - proactively, just after each rotation (auth/refresh_policy.h), with jitter;
// - on demand when a login finds no usable token, or a login was refused with 1045 while
//   using the current token (rate-limited per account); for an account neither configured nor
//   ever issued a token (a new pass-through name) only while the budget has a token to spare,
//   else the login fails at once;
// - after transient failures with exponential backoff, the last token serving until it
//   expires, then the --fallback-password-file if configured;
// - after a user-notification error (AuthFailure.*, DataFlowAuthClose) only when a login asks,
//   rate-limited per account, or at once when the credential changes (a rewritten profile
//   file, a new temporary credential): no retry storm.
#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "auth/cam_client.h"
#include "auth/cam_response.h"
#include "auth/credential_provider.h"
#include "auth/refresh_policy.h"
#include "proxy/config/config.h"
#include "proxy/tokens/account_policy.h"
#include "proxy/tokens/cam_call_budget.h"
#include "proxy/tokens/cam_threads.h"
#include "proxy/tokens/token_source.h"

namespace camproxy::proxy {

// Per-account figures for logs, /metrics and /readyz (never a token or key).
struct TokenStats {
  std::string account;
  uint64_t fetch_ok = 0, fetch_retryable = 0, fetch_rejected = 0;
  uint64_t reactive_refetches = 0, reactive_denied = 0;
  uint64_t fallback_uses = 0;
  bool fallback_in_use = false;
  std::string last_outcome;              // "ok", or the last error code
  std::optional<SteadyTime> fetched_at;  // of the token in use
  std::optional<SteadyTime> expires_at;  // its rotation time, on our clock
  double last_fetch_seconds = 0;
};

// What a forced fetch (POST /refresh-token) came to. Never the token: an error's code and
// class, CAM's request id, how long the call took.
struct RefreshOutcome {
  std::string account;
  bool ok = false;
  std::string code;         // CAM's Error.Code or a client_error code; empty when ok
  std::string error_class;  // "user_notification" or "retryable"; empty when ok
  std::string request_id;   // of CAM's answer, when there was one
  double seconds = 0;
  bool joined = false;  // a fetch was running already: this is its outcome
};
using RefreshDone = std::function<void(const RefreshOutcome&)>;

// The outcome given to a refresh still waiting when the token service closes.
inline RefreshOutcome closing_outcome(const std::string& account) {
  RefreshOutcome out;
  out.account = account;
  out.code = "closing";
  return out;
}

class TokenService final : public TokenSource {
 public:
  TokenService(uv_loop_t* control_loop, const Config& process, const TargetConfig& target, CamCallBudget& budget,
               std::unique_ptr<auth::CredentialProvider> credentials, std::function<void()> on_published);
  TokenService(const TokenService&) = delete;
  TokenService& operator=(const TokenService&) = delete;
  ~TokenService() override;

  // Control thread. Fails (with a reason) when the CAM endpoint is unusable.
  bool start(std::string& error);
  // Control thread: stops taking requests and timers; running fetches finish into the void.
  void close();

  // TokenSource (token_source.h): any thread.
  std::shared_ptr<const TokenState> current(const std::string& account) override;
  TokenDemand request(const std::string& account, uint64_t seen_generation) override;
  bool request_after_rejection(const std::string& account, uint64_t rejected_generation) override;
  // Control thread: the accounts the target's settings name (--db-user NAME, the accounts
  // map), kept and refreshed whatever logins do; fetched now if they have no snapshot yet.
  void keep_fresh(const std::vector<std::string>& accounts);

  std::vector<TokenStats> stats() const;

  // Control thread (token_refresh.cc): fetch `account`'s token now, even for an account CAM
  // stopped (the operator may have fixed what CAM complained about), or join the fetch already
  // running (single-flight). `done` gets the outcome on the control loop; when the service
  // closes first, code "closing". False (and no call) for an account no login or setting has
  // asked for yet.
  bool refresh_now(const std::string& account, RefreshDone done);
  // Control thread: the accounts that have an entry (asked for by a login or a setting).
  std::vector<std::string> accounts() const;

  // Control thread: the next fetch uses `provider` (a SIGHUP changed the credential settings);
  // accounts stopped by CAM try again, as after any credential change.
  void replace_credentials(std::unique_ptr<auth::CredentialProvider> provider);

 private:
  struct Fetch;
  struct Entry {
    std::shared_ptr<const TokenState> state;
    AccountUse use;
    bool in_flight = false;
    std::unique_ptr<auth::CamClient> client;  // one curl handle per account: fetches may overlap
    uv_timer_t* timer = nullptr;              // next proactive refresh or retry
    auth::Backoff backoff;
    auth::RefetchLimiter limiter;         // reactive refetches after 1045
    auth::RefetchLimiter demand_limiter;  // logins retrying a stopped account
    TokenStats stats;
    std::vector<std::pair<RefreshDone, bool>> refresh_waiters;  // POST /refresh-token; bool: joined
  };

  // A fetch waiting for a thread; `paid`: its CAM call is already taken from the budget.
  struct Pending {
    std::string account;
    bool paid = false;
  };

  static void on_wake(uv_async_t* async);
  static void on_timer(uv_timer_t* t);
  static void on_credential_check(uv_timer_t* t);
  void run_fetch(Fetch& f);
  void start_pending_fetches();
  void finish_fetches();
  Entry& entry_locked(const std::string& account);
  void evict_locked();
  // What one fetch's outcome makes of an account (token_publish.cc).
  struct Publication {
    std::shared_ptr<TokenState> next;
    std::optional<std::chrono::milliseconds> delay;  // until the next fetch, if one is due
    bool newly_stopped = false;                      // CAM refused the account just now
    bool fallback_started = false;                   // the fallback file serves from now on
  };
  void publish(const std::string& account, auth::CamResult result, double seconds);
  Publication next_state_locked(Entry& e, auth::CamResult& result, SteadyTime now);
  void log_publication(const std::string& account, const auth::CamResult& result, const Publication& pub) const;
  // Answers the refresh waiters an outcome took from an entry (outside mu_).
  static void answer_refresh_waiters(std::vector<std::pair<RefreshDone, bool>> waiters, RefreshOutcome outcome);
  void schedule(Entry& e, const std::string& account, std::chrono::milliseconds delay);
  bool queue_locked(const std::string& account, Entry& e, bool paid);
  bool adopt_next_provider_locked();
  std::optional<auth::CamResult> fetch_credential(std::shared_ptr<const auth::Credential>& out, bool force);
  std::shared_ptr<TokenState> fallback_state(const Entry& e, uint64_t generation, SteadyTime now);

  uv_loop_t* loop_;
  const Config& process_;
  const TargetConfig& target_;
  std::function<void()> on_published_;
  uv_async_t wake_{};
  uv_timer_t credential_check_{};
  uv_timer_t budget_wait_{};  // pending fetches wait for the CAM call budget
  bool started_ = false;
  bool closed_ = false;

  // The credential: fetched and refreshed on the thread pool, checked for changes on the loop.
  std::mutex credential_mu_;
  std::unique_ptr<auth::CredentialProvider> provider_;
  std::optional<auth::CredentialSnapshot> credential_;
  std::string credential_fingerprint_;  // identity + key hash: tells a changed credential
  std::mutex next_provider_mu_;         // never held while fetching: a reload does not wait for CAM
  std::unique_ptr<auth::CredentialProvider> next_provider_;

  CamCallBudget& budget_;
  AccountPolicy policy_;

  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::vector<Pending> pending_;
  std::mt19937_64 rng_{std::random_device{}()};

  // Fetches done on the CAM threads, for the control loop to publish (woken through wake_).
  std::mutex done_mu_;
  bool accepting_done_ = true;  // false once wake_ is closed
  std::vector<std::shared_ptr<Fetch>> done_;
  static constexpr size_t kCamThreads = 4;
  CamThreads threads_{kCamThreads};  // last: joined before the members its jobs use go
};

}  // namespace camproxy::proxy
