#include "proxy/app.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "proxy/admin_access.h"
#include "proxy/admin_debug.h"
#include "proxy/config/file_safety.h"
#include "proxy/credential_settings.h"
#include "proxy/fd_limit.h"
#include "proxy/net/uring_probe.h"
#include "proxy/ops/log.h"
#include "proxy/ops/version.h"

namespace camproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kRetirePollMs = 100;

std::string describe_accounts(const TargetConfig& t) {
  if (t.pass_through()) return "pass-through";
  if (!t.db_user.empty()) return t.db_user;
  return "map of " + std::to_string(t.accounts.size()) + " users";
}

}  // namespace

std::string App::join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

App::~App() {
  if (loop_ready_) {
    uv_run(&loop_, UV_RUN_DEFAULT);  // let close callbacks and thread-pool work finish
    uv_loop_close(&loop_);
  }
}

bool App::start_target(const TargetConfig& config, std::vector<ListenSocket>& handed_over, std::string& error) {
  auto provider = make_provider(applied_, error);
  if (!provider) return false;
  auto target = std::make_unique<Target>(&loop_, config_, shared_, config);
  if (!target->start(std::move(provider), handed_over, error)) {
    error = "target " + config.name + ": " + error;
    target->hand_over_sockets(handed_over);  // what it took goes back; what it opened is closed
    target->stop();
    retired_.push_back(std::move(target));
    return false;
  }
  std::string listen;
  for (const auto& a : config.listen) listen += (listen.empty() ? "" : ",") + a.to_string();
  warn_if_upstream_unverified(config);
  log_info("target_started", {{"target", config.name},
                              {"listen", listen},
                              {"upstream", config.upstream.to_string()},
                              {"instance", config.instance_id},
                              {"region", config.region},
                              {"accounts", describe_accounts(config)}});
  targets_.push_back(std::move(target));
  return true;
}

bool App::setup(std::string& error) {
  applied_ = config_;
  if (!make_provider(applied_, error)) return false;  // a bad credential setting fails before anything listens
  if (!choose_data_path(error)) return false;
  uv_loop_init(&loop_);
  loop_ready_ = true;
  shared_.cam_budget.configure(config_.cam_rate_limit, config_.cam_burst);
  std::vector<ListenSocket> opened_by_failed_start;
  for (const auto& t : config_.targets) {
    if (start_target(t, opened_by_failed_start, error)) continue;
    for (auto& s : opened_by_failed_start) close_listen_socket(s);
    return false;
  }
  phase_ = Phase::serving;
  if (config_.admin) {
    admin_ = std::make_unique<AdminServer>(
        &loop_, [this](std::string_view m, std::string_view p) { return handle_admin(m, p); }, "admin",
        admin_access_refusal);
    admin_->set_deferred_handler([this](const AdminRequest& r, AdminReply reply) { return handle_deferred(r, reply); });
    if (!admin_->listen(*config_.admin, error)) return false;
  }
  if (config_.http_address) {
    http_ = std::make_unique<AdminServer>(
        &loop_, read_only_handler([this](std::string_view m, std::string_view p) { return handle_admin(m, p); }),
        "http");
    if (!http_->listen(*config_.http_address, error)) return false;
  }
  register_token_gauges();
  register_target_gauges();
  register_data_path_gauge();
  trimmer_ = std::make_unique<MemoryTrimmer>(shared_.open_clients, shared_.peak_clients);
  trimmer_->start(&loop_);
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  uv_timer_init(&loop_, &retire_timer_);
  retire_timer_.data = this;
  notifier_ = SystemdNotifier(NotifySocket::from_environment(), watchdog_interval_from_environment());
  if (notifier_.enabled()) {
    uv_timer_init(&loop_, &notify_timer_);
    notify_timer_.data = this;
    const auto tick = static_cast<uint64_t>(notifier_.tick_interval().count());
    uv_timer_start(&notify_timer_, on_notify_timer, 0, tick);
  }
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sighup_);
  sigterm_.data = sigint_.data = sighup_.data = this;
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  uv_signal_start(&sigint_, on_signal, SIGINT);
  uv_signal_start(&sighup_, on_sighup, SIGHUP);
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}

// Once, before any worker starts (a reload keeps the data path of the start).
bool App::choose_data_path(std::string& error) {
  if (config_.data_path == DataPath::epoll) return true;
  const std::optional<std::string> why_not = uring_unavailable_reason();
  if (why_not && config_.data_path == DataPath::io_uring) {
    error = "--data-path io_uring: io_uring is not usable here: " + *why_not;
    return false;
  }
  if (why_not) log_info("data_path_epoll", {{"reason", *why_not}});
  shared_.io_uring_data_path = !why_not;
  return true;
}

void App::register_data_path_gauge() {
  gauges_.push_back(process_metrics().register_gauge_callback(MetricId::data_path, [this](GaugeSamples& out) {
    out.add({"io_uring"}, shared_.io_uring_data_path ? 1 : 0);
    out.add({"epoll"}, shared_.io_uring_data_path ? 0 : 1);
  }));
}

void App::register_token_gauges() {
  auto each_token = [this](auto&& emit) {
    const auto now = Clock::now();
    for (const auto& t : targets_)
      for (const auto& s : t->token_stats()) emit(t->name(), s, now);
  };
  using Stats = const TokenStats&;
  gauges_.push_back(process_metrics().register_gauge_callback(MetricId::token_age, [each_token](GaugeSamples& out) {
    each_token([&](const std::string& target, Stats s, Clock::time_point now) {
      if (s.fetched_at) out.add({target, s.account}, std::chrono::duration<double>(now - *s.fetched_at).count());
    });
  }));
  gauges_.push_back(
      process_metrics().register_gauge_callback(MetricId::token_next_rotation, [each_token](GaugeSamples& out) {
        each_token([&](const std::string& target, Stats s, Clock::time_point now) {
          if (s.expires_at) out.add({target, s.account}, std::chrono::duration<double>(*s.expires_at - now).count());
        });
      }));
  gauges_.push_back(
      process_metrics().register_gauge_callback(MetricId::token_fallback_in_use, [each_token](GaugeSamples& out) {
        each_token([&](const std::string& target, Stats s, Clock::time_point) {
          out.add({target, s.account}, s.fallback_in_use ? 1 : 0);
        });
      }));
}

// Per target, so that database connections beside clients show the sharing ratio.
void App::register_target_gauges() {
  auto each_target = [this](auto value) {
    return [this, value](GaugeSamples& out) {
      for (const auto& t : targets_) out.add({t->name()}, value(*t));
    };
  };
  auto& m = process_metrics();
  gauges_.push_back(m.register_gauge_callback(MetricId::target_upstream_connections, each_target([](const Target& t) {
                                                return static_cast<double>(t.budget_stats().used);
                                              })));
  gauges_.push_back(m.register_gauge_callback(MetricId::target_client_connections, each_target([](const Target& t) {
                                                return static_cast<double>(t.open_sessions());
                                              })));
  gauges_.push_back(m.register_gauge_callback(MetricId::pool_borrow_waiting, each_target([](const Target& t) {
                                                return static_cast<double>(t.budget_stats().waiting);
                                              })));
}

int App::run() {
  log_configure(config_.log_level, config_.log_format);
  log_trusted_file_warnings(config_);
  const std::string open_files = raise_open_files_limit();  // before setup() starts the worker threads
  std::string error;
  if (!setup(error)) {
    log_error("startup_failed", {{"error", error}});
    std::fprintf(stderr, "camproxy: %s\n", error.c_str());
    shutdown();
    return 1;
  }
  std::vector<std::string> names;
  for (const auto& t : targets_) names.push_back(t->name());
  log_info("started", {{"version", kVersion},
                       {"config", config_.config_file.empty() ? std::string("flags") : config_.config_file},
                       {"targets", join_names(names)},
                       {"workers_per_target", workers_per_target(config_)},
                       {"data_path", shared_.io_uring_data_path ? "io_uring" : "epoll"},
                       {"admin", config_.admin ? config_.admin->to_string() : std::string("off")},
                       {"http", config_.http_address ? config_.http_address->to_string() : std::string("off")},
                       {"open_files_limit", open_files}});
  uv_run(&loop_, UV_RUN_DEFAULT);
  log_info("stopped");
  return 0;
}

void App::on_signal(uv_signal_t* s, int signum) {
  auto* self = static_cast<App*>(s->data);
  const char* name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
  if (self->phase_ >= Phase::draining) {  // a second signal: the operator wants out now
    log_warn("signal_again_exiting_now", {{"signal", name}});
    std::_Exit(0);
  }
  log_info("signal", {{"signal", name}});
  self->begin_drain(name);
}

void App::on_sighup(uv_signal_t* s, int) {
  log_info("signal", {{"signal", "SIGHUP"}});
  static_cast<App*>(s->data)->reload();
}

// The control loop's tick for systemd: READY=1 the first time /startup would answer 200, the
// summary line as it changes, and the watchdog ping (a stuck control loop stops pinging).
void App::on_notify_timer(uv_timer_t* t) {
  auto* self = static_cast<App*>(t->data);
  const auto now = Clock::now();
  std::string why;
  if (self->phase_ == Phase::serving && self->started(why)) self->notifier_.ready();
  self->notifier_.status(self->status_line(), now);
  self->notifier_.watchdog(now);
}

std::string App::status_line() const {
  std::string why;
  const bool is_ready = ready(why);
  std::string state = is_ready ? "ready" : "not ready (" + why + ")";
  if (phase_ == Phase::draining || phase_ == Phase::finishing) state = "draining";
  std::vector<std::string> names;
  for (const auto& t : targets_) names.push_back(t->name());
  return state + "; targets: " + join_names(names) + "; open sessions: " + std::to_string(open_sessions());
}

void App::retire(std::unique_ptr<Target> target, std::string_view why) {
  log_info("target_draining",
           {{"target", target->name()}, {"reason", why}, {"open_sessions", target->open_sessions()}});
  target->drain();
  retiring_.push_back({std::move(target), Clock::now() + config_.max_sigterm_delay});
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&retire_timer_)) == 0)
    uv_timer_start(&retire_timer_, on_retire_timer, kRetirePollMs, kRetirePollMs);
}

void App::on_retire_timer(uv_timer_t* t) {
  auto* self = static_cast<App*>(t->data);
  const auto now = Clock::now();
  for (auto& r : self->retiring_) {
    const size_t open = r.target->open_sessions();
    if (open != 0 && now < r.deadline) continue;
    log_info("target_stopped", {{"target", r.target->name()}, {"sessions_left", open}});
    r.target->stop();
    self->retired_.push_back(std::move(r.target));
  }
  std::erase_if(self->retiring_, [](const Retiring& r) { return r.target == nullptr; });
  if (self->retiring_.empty()) uv_timer_stop(&self->retire_timer_);
}

// Lifecycle (docs/operations.md): readiness goes false at once; new connections are still accepted for
// --min-sigterm-delay (the application may still be shutting down); then listeners close and
// sessions get up to --max-sigterm-delay to finish their transactions; then exit 0.
void App::begin_drain(std::string_view why) {
  if (phase_ != Phase::serving) return;
  phase_ = Phase::draining;
  drain_started_ = Clock::now();
  notifier_.stopping();
  log_info("drain_started", {{"reason", why},
                             {"open_sessions", open_sessions()},
                             {"min_delay_ms", static_cast<int64_t>(config_.min_sigterm_delay.count())},
                             {"max_delay_ms", static_cast<int64_t>(config_.max_sigterm_delay.count())}});
  uv_timer_start(&drain_timer_, on_drain_timer, static_cast<uint64_t>(config_.min_sigterm_delay.count()), 0);
}

void App::stop_listening() {
  if (phase_ != Phase::draining) return;
  phase_ = Phase::finishing;
  for (auto& t : targets_) t->drain();
}

void App::on_drain_timer(uv_timer_t* t) {
  auto* self = static_cast<App*>(t->data);
  self->stop_listening();
  const auto waited = Clock::now() - self->drain_started_;
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
  for (const auto& t : targets_) n += t->open_sessions();
  for (const auto& r : retiring_) n += r.target->open_sessions();
  return n;
}

void App::shutdown() {
  if (phase_ == Phase::stopped) return;
  phase_ = Phase::stopped;
  for (auto& t : targets_) t->stop();
  for (auto& r : retiring_) r.target->stop();
  if (admin_) admin_->close();
  if (http_) http_->close();
  if (trimmer_) trimmer_->close();
  gauges_.clear();
  if (!loop_ready_) return;
  for (auto* timer : {&drain_timer_, &retire_timer_, &notify_timer_}) {
    if (timer->data != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(timer), nullptr);
  }
  if (sigterm_.data != nullptr) {
    for (auto* s : {&sigterm_, &sigint_, &sighup_}) uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  }
}

bool App::ready(std::string& why) const {
  if (phase_ == Phase::draining || phase_ == Phase::finishing) {
    why = "shutting down";
    return false;
  }
  if (phase_ != Phase::serving) {
    why = "not listening";
    return false;
  }
  return std::all_of(targets_.begin(), targets_.end(), [&why](const auto& t) { return t->ready(why); });
}

// Started: listeners open and, with --db-user, a first token in hand; once true, for good
// (a startup probe must not flap when CAM has a bad minute later).
bool App::started(std::string& why) const {
  if (startup_done_) return true;
  if (!ready(why) && phase_ != Phase::draining && phase_ != Phase::finishing) return false;
  startup_done_ = true;
  return true;
}

AdminResponse App::handle_admin(std::string_view method, std::string_view path) {
  constexpr const char* kText = "text/plain; charset=utf-8";
  constexpr const char* kJson = "application/json";
  if (path == "/quitquitquit") {
    if (method != "POST") return {405, kText, "use POST\n"};
    if (!config_.admin_quitquitquit)
      return {403, kText, "POST /quitquitquit is off: start camproxy with --admin-quitquitquit on\n"};
    begin_drain("/quitquitquit");
    return {200, kText, "shutting down\n"};
  }
  if (path == "/reload") {
    if (method != "POST") return {405, kText, "use POST\n"};
    ReloadOutcome outcome = reload();
    return {outcome.http_status, kJson, outcome.summary + "\n"};
  }
  if (method != "GET" && method != "HEAD") return {405, kText, "method not allowed\n"};
  if (path == "/metrics") return {200, std::string(kMetricsContentType), process_metrics().render()};
  if (path == "/startup") {
    std::string why;
    if (started(why)) return {200, kText, "started\n"};
    return {503, kText, "not started: " + why + "\n"};
  }
  if (path == "/healthz") return {200, kText, "ok\n"};
  if (path == "/debug/targets") return {200, kJson, debug_targets_json(targets_, workers_per_target(config_)) + "\n"};
  if (path == "/debug/tokens")
    return {200, kJson, debug_tokens_json(targets_, Clock::now(), std::chrono::system_clock::now()) + "\n"};
  if (path == "/readyz") {
    std::string why;
    if (ready(why)) return {200, "text/plain; charset=utf-8", "ready\n"};
    return {503, "text/plain; charset=utf-8", "not ready: " + why + "\n"};
  }
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

}  // namespace camproxy::proxy
