#pragma once
// One running target: its listeners, its TLS contexts, its CAM tokens (its region and
// instance) and its own set of workers, each with a pool for this target's database. Targets
// share only the control loop and ProcessShared (connection ids, the client count).
// Everything here runs on the control thread.
#include <uv.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/credential_provider.h"
#include "proxy/config/config.h"
#include "proxy/net/listen_socket.h"
#include "proxy/net/tls.h"
#include "proxy/proxy_context.h"
#include "proxy/tokens/token_service.h"
#include "proxy/worker.h"

namespace camproxy::proxy {

class Target {
 public:
  Target(uv_loop_t* control_loop, const Config& process, ProcessShared& shared, TargetConfig config);
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;
  ~Target();

  // Listens (taking the sockets in `handed_over` whose address it wants, so that an address
  // kept across a reload is never closed), starts its tokens and workers. On failure `error`
  // says why and stop() undoes what was started.
  bool start(std::unique_ptr<auth::CredentialProvider> credentials, std::vector<ListenSocket>& handed_over,
             std::string& error);
  // Stop accepting; sessions between transactions close now, the others when their
  // transaction ends (SIGTERM's drain, for one target).
  void drain();
  // Workers, listeners and token timers go; sessions still open are closed. The object itself
  // must then live until the control loop ends: a CAM call it started may still complete.
  void stop();
  // Moves its listen sockets to `out` (it will not close them) for a successor to take.
  void hand_over_sockets(std::vector<ListenSocket>& out);
  // Takes from `pool` the sockets of its own listen addresses, with their new settings; the
  // first unix socket whose mode or owner could not be applied is the error.
  std::optional<std::string> take_sockets(std::vector<ListenSocket>& pool);

  // A SIGHUP's settings that apply without a restart (can_apply_live): new logins and the
  // pools' next rounds use them.
  void apply(TargetConfig next);
  // SIGHUP: the users file is read again (its content may change under the same path); a
  // file that no longer loads is logged and the users read before stay.
  void reload_local_users();
  void replace_credentials(std::unique_ptr<auth::CredentialProvider> credentials) {
    tokens_->replace_credentials(std::move(credentials));
  }

  const std::string& name() const { return settings_.name; }
  const TargetConfig& config() const { return ctx_ ? ctx_->config() : settings_; }
  size_t open_sessions() const;
  // Its --pool-max budget: database connections open (all workers) and clients waiting for one.
  ConnectionBudget::Stats budget_stats() const { return ctx_ ? ctx_->budget().stats() : ConnectionBudget::Stats{}; }
  bool ready(std::string& why) const;
  std::vector<TokenStats> token_stats() const { return tokens_ ? tokens_->stats() : std::vector<TokenStats>{}; }
  // The accounts its token service knows, and a forced fetch of one (TokenService::refresh_now).
  std::vector<std::string> token_accounts() const { return tokens_ ? tokens_->accounts() : std::vector<std::string>{}; }
  bool refresh_token(const std::string& account, RefreshDone done) {
    return tokens_ && tokens_->refresh_now(account, std::move(done));
  }
  // Its running workers, and asking each of them for a snapshot (worker_snapshot.h).
  size_t worker_count() const { return workers_.size(); }
  void request_snapshots(const std::shared_ptr<SnapshotBox>& box) {
    for (auto& w : workers_) w->request_snapshot(box);
  }

 private:
  uv_loop_t* loop_;
  const Config& process_;
  ProcessShared& shared_;
  const TargetConfig settings_;  // as started: the token service reads region, instance, fallback
  SslCtxPtr client_tls_;
  SslCtxPtr upstream_tls_;
  std::unique_ptr<TokenService> tokens_;
  std::unique_ptr<ProxyContext> ctx_;
  std::vector<ListenSocket> sockets_;
  std::vector<std::unique_ptr<Worker>> workers_;
  void prefetch_tokens();

  bool listening_ = false;
  bool stopped_ = false;
};

// True when `next` differs from `now` only in what a running target can take live: accounts,
// pool sizes and timeouts, the connect, handshake and reconnect timeouts, --upstream-rsa-key-file.
// Otherwise (listeners, upstream, instance, TLS, fallback file) the target is replaced.
bool can_apply_live(const TargetConfig& now, const TargetConfig& next);

// A warning when the target's --upstream-tls does not authenticate the database (insecure-*,
// disable): logged at start and at each reload, so the risk is never silent.
void warn_if_upstream_unverified(const TargetConfig& c);

// `workers`, or one per core when 0.
int workers_per_target(const Config& process);

}  // namespace camproxy::proxy
