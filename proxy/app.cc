#include "proxy/app.h"

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <thread>

#include "auth/credential_provider.h"
#include "auth/fallback_password.h"
#include "proxy/log.h"
#include "proxy/version.h"

namespace camproxy::proxy {

App::~App() {
  for (auto& s : sockets_) close_listen_socket(s);
  if (loop_ready_) {
    uv_run(&loop_, UV_RUN_DEFAULT);  // let close callbacks and thread-pool work finish
    uv_loop_close(&loop_);
  }
}

bool App::setup(std::string& error) {
  auth::CredentialOptions cred_opts;
  cred_opts.source = config_.credential_source;
  cred_opts.profile_file = config_.credentials_file;
  cred_opts.metadata_endpoint = config_.metadata_endpoint;
  cred_opts.sts_endpoint = config_.sts_endpoint;
  cred_opts.ca_file = config_.cam_ca_file;
  auto provider = auth::make_credential_provider(cred_opts, [](const char* name) -> const char* { return std::getenv(name); });
  if (!provider) {
    error = provider.error().message;
    return false;
  }
  if (!config_.fallback_password_file.empty()) {
    if (auto fallback = auth::read_fallback_password(config_.fallback_password_file); !fallback) {
      error = "--fallback-password-file: " + fallback.error().message();
      return false;
    }
  }
  if (config_.client_tls) {
    client_tls_ = make_client_facing_ctx(config_.client_tls_cert, config_.client_tls_key, error);
    if (!client_tls_) return false;
  }
  if (config_.upstream_tls != UpstreamTlsMode::disable) {
    upstream_tls_ = make_upstream_ctx(config_.upstream_tls, config_.upstream_ca_file, error);
    if (!upstream_tls_) return false;
  }
  uv_loop_init(&loop_);
  loop_ready_ = true;
  tokens_ = std::make_unique<TokenService>(&loop_, config_, std::move(*provider), [this] {
    for (auto& w : workers_) w->notify_tokens();
  });
  if (!tokens_->start(error)) return false;
  ctx_ = std::make_unique<ProxyContext>(config_, *tokens_, client_tls_.get(), upstream_tls_.get());

  for (const auto& addr : config_.listen) {
    ListenSocket s;
    if (!open_listen_socket(addr, s, error)) return false;
    sockets_.push_back(s);
  }
  const int n = config_.workers > 0 ? config_.workers : std::max(1U, std::thread::hardware_concurrency());
  ctx_->set_worker_count(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(*ctx_, i));
    if (!workers_.back()->start(sockets_, error)) return false;
  }
  listening_ = true;
  if (config_.admin) {
    admin_ = std::make_unique<AdminServer>(&loop_, [this](std::string_view m, std::string_view p) {
      return handle_admin(m, p);
    });
    if (!admin_->listen(*config_.admin, error)) return false;
  }
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  sigterm_.data = sigint_.data = this;
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  uv_signal_start(&sigint_, on_signal, SIGINT);
  std::signal(SIGPIPE, SIG_IGN);
  // With a fixed account the first token is fetched now, so readiness means "can serve".
  if (!config_.db_user.empty()) tokens_->request(config_.db_user, 0);
  return true;
}

int App::run() {
  log_configure(config_.log_level, config_.log_format);
  std::string error;
  if (!setup(error)) {
    log_error("startup_failed", {{"error", error}});
    std::fprintf(stderr, "camproxy: %s\n", error.c_str());
    shutdown();
    return 1;
  }
  std::string listen_list;
  for (const auto& a : config_.listen) listen_list += (listen_list.empty() ? "" : ",") + a.to_string();
  log_info("started", {{"version", kVersion},
                       {"listen", listen_list},
                       {"upstream", config_.upstream.to_string()},
                       {"instance", config_.instance_id},
                       {"region", config_.region},
                       {"db_user", config_.db_user},
                       {"workers", workers_.size()},
                       {"admin", config_.admin ? config_.admin->to_string() : std::string("off")}});
  uv_run(&loop_, UV_RUN_DEFAULT);
  log_info("stopped");
  return 0;
}

void App::on_signal(uv_signal_t* s, int signum) {
  auto* self = static_cast<App*>(s->data);
  log_info("signal", {{"signal", signum == SIGTERM ? "SIGTERM" : "SIGINT"}});
  self->shutdown();
}

void App::shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  listening_ = false;
  for (auto& w : workers_) w->stop();
  for (auto& s : sockets_) close_listen_socket(s);
  if (admin_) admin_->close();
  if (tokens_) tokens_->close();
  if (loop_ready_) {
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&sigterm_)) != 0 || sigterm_.data != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
    }
  }
}

bool App::ready(std::string& why) const {
  if (!listening_) {
    why = "not listening";
    return false;
  }
  if (config_.db_user.empty()) return true;
  auto state = tokens_->current(config_.db_user);
  if (state && state->usable(std::chrono::steady_clock::now())) return true;
  why = state && state->error ? "no CAM token: " + state->error->code : "no CAM token yet";
  return false;
}

AdminResponse App::handle_admin(std::string_view method, std::string_view path) const {
  if (method != "GET" && method != "HEAD") return {405, "text/plain; charset=utf-8", "method not allowed\n"};
  if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
  if (path == "/readyz") {
    std::string why;
    if (ready(why)) return {200, "text/plain; charset=utf-8", "ready\n"};
    return {503, "text/plain; charset=utf-8", "not ready: " + why + "\n"};
  }
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

}  // namespace camproxy::proxy
