#include "proxy/target.h"

#include <algorithm>
#include <thread>

#include "auth/fallback_password.h"
#include "proxy/ops/log.h"

namespace camproxy::proxy {

Target::Target(uv_loop_t* control_loop, const Config& process, ProcessShared& shared, TargetConfig config)
    : loop_(control_loop), process_(process), shared_(shared), settings_(std::move(config)) {}

Target::~Target() {
  stop();
  for (auto& s : sockets_) close_listen_socket(s);
}

bool Target::start(std::unique_ptr<auth::CredentialProvider> credentials, std::vector<ListenSocket>& handed_over,
                   std::string& error) {
  const TargetConfig& c = settings_;
  if (!c.fallback_password_file.empty()) {
    if (auto fallback = auth::read_fallback_password(c.fallback_password_file); !fallback) {
      error = "--fallback-password-file: " + fallback.error().message();
      return false;
    }
  }
  std::shared_ptr<const LocalUsers> local_users;
  if (c.local_auth.enabled()) {
    local_users = LocalUsers::load(c.local_auth, error);
    if (!local_users) return false;
  }
  if (c.client_tls) {
    client_tls_ = make_client_facing_ctx(c.client_tls_cert, c.client_tls_key, error);
    if (!client_tls_) return false;
  }
  if (c.upstream_tls != UpstreamTlsMode::disable) {
    upstream_tls_ = make_upstream_ctx(c.upstream_tls, c.upstream_ca_file, error);
    if (!upstream_tls_) return false;
  }
  tokens_ =
      std::make_unique<TokenService>(loop_, process_, settings_, shared_.cam_budget, std::move(credentials), [this] {
        for (auto& w : workers_) w->notify_tokens();
      });
  if (!tokens_->start(error)) return false;
  ctx_ = std::make_unique<ProxyContext>(process_, shared_, settings_, *tokens_, client_tls_.get(), upstream_tls_.get());
  ctx_->set_local_users(std::move(local_users));

  if (auto e = take_sockets(handed_over)) {
    error = *e;
    return false;
  }
  const int n = workers_per_target(process_);
  for (const auto& addr : c.listen) {
    if (std::any_of(sockets_.begin(), sockets_.end(), [&](const ListenSocket& s) { return s.address == addr; }))
      continue;
    ListenSocket s;
    if (!open_listen_socket(addr, n, s, error)) return false;  // a TCP group: one socket per worker
    sockets_.push_back(s);
  }
  ctx_->set_worker_count(static_cast<size_t>(n));
  std::vector<Worker*> all;
  for (int i = 0; i < n; ++i) all.push_back(workers_.emplace_back(std::make_unique<Worker>(*ctx_, i)).get());
  for (auto& w : workers_) w->set_siblings(all);
  for (auto& w : workers_) {
    if (!w->start(sockets_, n, error)) return false;
  }
  listening_ = true;
  prefetch_tokens();
  return true;
}

void Target::apply(TargetConfig next) {
  ctx_->set_config(std::move(next));
  prefetch_tokens();
}

void Target::reload_local_users() {
  const LocalAuthConfig& auth = ctx_->config().local_auth;
  if (!auth.enabled()) {
    ctx_->set_local_users(nullptr);
    return;
  }
  std::string error;
  auto users = LocalUsers::load(auth, error);
  if (!users) {  // the users logging in now keep working
    log_error("local_users_reload_failed", {{"target", name()}, {"error", error}, {"kept", "the users read before"}});
    return;
  }
  ctx_->set_local_users(std::move(users));
}

// With fixed or mapped accounts the tokens are fetched at once (a no-op for one in hand), so
// that readiness means "can serve" and the first logins do not wait for CAM; they are kept
// fresh whatever logins do.
void Target::prefetch_tokens() {
  const TargetConfig& c = ctx_->config();
  std::vector<std::string> configured;
  if (c.has_fixed_account()) configured.push_back(c.db_user);
  for (const auto& [user, account] : c.accounts) configured.push_back(account);
  tokens_->keep_fresh(configured);
}

void Target::drain() {
  if (!listening_) return;
  listening_ = false;
  for (auto& w : workers_) w->drain();
  for (auto& s : sockets_) close_listen_socket(s);
}

void Target::stop() {
  if (stopped_) return;
  stopped_ = true;
  listening_ = false;
  for (auto& w : workers_) w->stop();
  workers_.clear();
  for (auto& s : sockets_) close_listen_socket(s);
  if (tokens_) tokens_->close();
}

void Target::hand_over_sockets(std::vector<ListenSocket>& out) {
  for (auto& s : sockets_) out.push_back(s);
  sockets_.clear();
}

std::optional<std::string> Target::take_sockets(std::vector<ListenSocket>& pool) {
  std::optional<std::string> error;
  for (const auto& addr : settings_.listen) {
    auto it =
        std::find_if(pool.begin(), pool.end(), [&](const ListenSocket& s) { return same_endpoint(s.address, addr); });
    if (it == pool.end()) continue;
    sockets_.push_back(*it);
    pool.erase(it);
    // A unix socket's mode and owner may have changed with the reload.
    if (std::string e; !adopt_listen_socket(sockets_.back(), addr, e) && !error) error = e;
  }
  return error;
}

size_t Target::open_sessions() const {
  size_t n = 0;
  for (const auto& w : workers_) n += w->session_count();
  return n;
}

bool Target::ready(std::string& why) const {
  if (!listening_) {
    why = "target " + name() + " not listening";
    return false;
  }
  const TargetConfig& c = config();
  if (!c.has_fixed_account()) return true;
  auto state = tokens_->current(c.db_user);
  if (state && state->usable(std::chrono::steady_clock::now())) return true;
  why =
      "target " + name() + ": " + (state && state->error ? "no CAM token: " + state->error->code : "no CAM token yet");
  return false;
}

int workers_per_target(const Config& process) {
  return process.workers > 0 ? process.workers : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}

bool can_apply_live(const TargetConfig& now, const TargetConfig& next) {
  return now.listen == next.listen && now.upstream == next.upstream && now.region == next.region &&
         now.instance_id == next.instance_id && now.fallback_password_file == next.fallback_password_file &&
         now.upstream_tls == next.upstream_tls && now.upstream_ca_file == next.upstream_ca_file &&
         now.upstream_server_name == next.upstream_server_name && now.client_tls == next.client_tls &&
         now.client_tls_cert == next.client_tls_cert && now.client_tls_key == next.client_tls_key;
}

void warn_if_upstream_unverified(const TargetConfig& c) {
  if (verifies_server(c.upstream_tls)) return;
  const bool plain = c.upstream_tls == UpstreamTlsMode::disable;
  log_warn("upstream_tls_unverified",
           {{"target", c.name},
            {"upstream_tls", to_string(c.upstream_tls)},
            {"risk", plain ? "the database hop is not encrypted and the database is not authenticated: anyone on the "
                             "path reads and changes the traffic"
                           : "the database's certificate is not checked: anyone on the path can answer in its place"},
            {"token", "sent only scrambled, never itself (except RSA-encrypted with --upstream-rsa-key-file)"},
            {"fix", "--upstream-tls verify-identity (the default) with --upstream-ca-file"}});
}

}  // namespace camproxy::proxy
