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
  if (!target().fallback_password_file.empty()) {
    if (auto fallback = auth::read_fallback_password(target().fallback_password_file); !fallback) {
      error = "--fallback-password-file: " + fallback.error().message();
      return false;
    }
  }
  if (target().client_tls) {
    client_tls_ = make_client_facing_ctx(target().client_tls_cert, target().client_tls_key, error);
    if (!client_tls_) return false;
  }
  if (target().upstream_tls != UpstreamTlsMode::disable) {
    upstream_tls_ = make_upstream_ctx(target().upstream_tls, target().upstream_ca_file, error);
    if (!upstream_tls_) return false;
  }
  uv_loop_init(&loop_);
  loop_ready_ = true;
  tokens_ = std::make_unique<TokenService>(&loop_, config_, target(), std::move(*provider), [this] {
    for (auto& w : workers_) w->notify_tokens();
  });
  if (!tokens_->start(error)) return false;
  ctx_ = std::make_unique<ProxyContext>(config_, target(), *tokens_, client_tls_.get(), upstream_tls_.get());

  for (const auto& addr : target().listen) {
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
  register_token_gauges();
  trimmer_ = std::make_unique<MemoryTrimmer>(ctx_->open_clients(), ctx_->peak_clients());
  trimmer_->start(&loop_);
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  sigterm_.data = sigint_.data = this;
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  uv_signal_start(&sigint_, on_signal, SIGINT);
  std::signal(SIGPIPE, SIG_IGN);
  // With a fixed account the first token is fetched now, so readiness means "can serve".
  if (!target().db_user.empty()) tokens_->request(target().db_user, 0);
  return true;
}

void App::register_token_gauges() {
  using Clock = std::chrono::steady_clock;
  auto each_token = [this](auto&& emit) {
    const auto now = Clock::now();
    for (const auto& s : tokens_->stats()) emit(s, now);
  };
  gauges_.push_back(process_metrics().register_gauge_callback(MetricId::token_age, [each_token](GaugeSamples& out) {
    each_token([&](const TokenStats& s, Clock::time_point now) {
      if (s.fetched_at) out.add({s.account}, std::chrono::duration<double>(now - *s.fetched_at).count());
    });
  }));
  gauges_.push_back(
      process_metrics().register_gauge_callback(MetricId::token_next_rotation, [each_token](GaugeSamples& out) {
        each_token([&](const TokenStats& s, Clock::time_point now) {
          if (s.expires_at) out.add({s.account}, std::chrono::duration<double>(*s.expires_at - now).count());
        });
      }));
  gauges_.push_back(
      process_metrics().register_gauge_callback(MetricId::token_fallback_in_use, [each_token](GaugeSamples& out) {
        each_token([&](const TokenStats& s, Clock::time_point) { out.add({s.account}, s.fallback_in_use ? 1 : 0); });
      }));
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
  for (const auto& a : target().listen) listen_list += (listen_list.empty() ? "" : ",") + a.to_string();
  log_info("started", {{"version", kVersion},
                       {"listen", listen_list},
                       {"upstream", target().upstream.to_string()},
                       {"instance", target().instance_id},
                       {"region", target().region},
                       {"db_user", target().db_user},
                       {"workers", workers_.size()},
                       {"admin", config_.admin ? config_.admin->to_string() : std::string("off")}});
  uv_run(&loop_, UV_RUN_DEFAULT);
  log_info("stopped");
  return 0;
}

void App::on_signal(uv_signal_t* s, int signum) {
  auto* self = static_cast<App*>(s->data);
  const char* name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
  if (self->draining_) {  // a second signal: the operator wants out now
    log_warn("signal_again_exiting_now", {{"signal", name}});
    std::_Exit(0);
  }
  log_info("signal", {{"signal", name}});
  self->begin_drain(name);
}

// Lifecycle (issue 5): readiness goes false at once; new connections are still accepted for
// --min-sigterm-delay (the application may still be shutting down); then listeners close and
// sessions get up to --max-sigterm-delay to finish their transactions; then exit 0.
void App::begin_drain(std::string_view why) {
  if (draining_ || shutting_down_) return;
  draining_ = true;
  drain_started_ = std::chrono::steady_clock::now();
  log_info("drain_started", {{"reason", why}, {"open_sessions", open_sessions()},
                             {"min_delay_ms", static_cast<int64_t>(config_.min_sigterm_delay.count())},
                             {"max_delay_ms", static_cast<int64_t>(config_.max_sigterm_delay.count())}});
  uv_timer_start(&drain_timer_, on_drain_timer, static_cast<uint64_t>(config_.min_sigterm_delay.count()), 0);
}

void App::stop_listening() {
  if (!listening_) return;
  listening_ = false;
  for (auto& w : workers_) w->drain();
  for (auto& s : sockets_) close_listen_socket(s);
}

void App::on_drain_timer(uv_timer_t* t) {
  auto* self = static_cast<App*>(t->data);
  self->stop_listening();
  const auto waited = std::chrono::steady_clock::now() - self->drain_started_;
  const size_t open = self->open_sessions();
  if (open == 0 || waited >= self->config_.min_sigterm_delay + self->config_.max_sigterm_delay) {
    log_info("drain_done", {{"sessions_left", open}});
    self->shutdown();
    return;
  }
  uv_timer_start(&self->drain_timer_, on_drain_timer, 100, 0);  // poll until the sessions are gone
}

size_t App::open_sessions() const {
  size_t n = 0;
  for (const auto& w : workers_) n += w->session_count();
  return n;
}

void App::shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  listening_ = false;
  for (auto& w : workers_) w->stop();
  for (auto& s : sockets_) close_listen_socket(s);
  if (admin_) admin_->close();
  if (trimmer_) trimmer_->close();
  if (tokens_) tokens_->close();
  gauges_.clear();
  if (loop_ready_ && drain_timer_.data != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  if (loop_ready_) {
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&sigterm_)) != 0 || sigterm_.data != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
    }
  }
}

bool App::ready(std::string& why) const {
  if (draining_) {
    why = "shutting down";
    return false;
  }
  if (!listening_) {
    why = "not listening";
    return false;
  }
  if (target().db_user.empty()) return true;
  auto state = tokens_->current(target().db_user);
  if (state && state->usable(std::chrono::steady_clock::now())) return true;
  why = state && state->error ? "no CAM token: " + state->error->code : "no CAM token yet";
  return false;
}

// Started: listeners open and, with --db-user, a first token in hand; once true, for good
// (a startup probe must not flap when CAM has a bad minute later).
bool App::started(std::string& why) const {
  if (startup_done_) return true;
  if (!ready(why) && !draining_) return false;
  startup_done_ = true;
  return true;
}

AdminResponse App::handle_admin(std::string_view method, std::string_view path) {
  constexpr const char* kText = "text/plain; charset=utf-8";
  if (path == "/quitquitquit") {
    if (method != "POST") return {405, kText, "use POST\n"};
    begin_drain("/quitquitquit");
    return {200, kText, "shutting down\n"};
  }
  if (method != "GET" && method != "HEAD") return {405, kText, "method not allowed\n"};
  if (path == "/metrics") return {200, std::string(kMetricsContentType), process_metrics().render()};
  if (path == "/startup") {
    std::string why;
    if (started(why)) return {200, kText, "started\n"};
    return {503, kText, "not started: " + why + "\n"};
  }
  if (path == "/healthz") return {200, kText, "ok\n"};
  if (path == "/readyz") {
    std::string why;
    if (ready(why)) return {200, "text/plain; charset=utf-8", "ready\n"};
    return {503, "text/plain; charset=utf-8", "not ready: " + why + "\n"};
  }
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

}  // namespace camproxy::proxy
