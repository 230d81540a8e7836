#include "proxy/app.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "auth/credential_provider.h"
#include "proxy/log.h"
#include "proxy/version.h"

namespace camproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kRetirePollMs = 100;

auth::CredentialOptions credential_options(const Config& c) {
  auth::CredentialOptions o;
  o.source = c.credential_source;
  o.profile_file = c.credentials_file;
  o.metadata_endpoint = c.metadata_endpoint;
  o.sts_endpoint = c.sts_endpoint;
  o.ca_file = c.cam_ca_file;
  return o;
}

bool same_credential_settings(const Config& a, const Config& b) {
  const auto x = credential_options(a);
  const auto y = credential_options(b);
  return x.source == y.source && x.profile_file == y.profile_file && x.metadata_endpoint == y.metadata_endpoint &&
         x.sts_endpoint == y.sts_endpoint && x.ca_file == y.ca_file;
}

std::unique_ptr<auth::CredentialProvider> make_provider(const Config& c, std::string& error) {
  auto provider = auth::make_credential_provider(credential_options(c),
                                                 [](const char* name) -> const char* { return std::getenv(name); });
  if (!provider) {
    error = provider.error().message;
    return nullptr;
  }
  return std::move(*provider);
}

// Process-wide settings a running process keeps (docs/config.md "Reload"): the file's keys.
std::string needs_restart(const Config& now, const Config& next) {
  std::string out;
  auto note = [&out](bool differs, std::string_view key) {
    if (differs) out += (out.empty() ? "" : ", ") + std::string(key);
  };
  auto admin = [](const Config& c) { return c.admin ? c.admin->to_string() : std::string("off"); };
  note(admin(now) != admin(next), "admin");
  note(now.workers != next.workers, "workers");
  note(now.log_level != next.log_level, "log.level");
  note(now.log_format != next.log_format, "log.format");
  note(now.cam_endpoint != next.cam_endpoint, "cam.endpoint");
  note(now.cam_ca_file != next.cam_ca_file, "cam.ca-file");
  note(now.cam_timeout != next.cam_timeout, "cam.timeout");
  note(now.token_recheck_interval != next.token_recheck_interval, "cam.token-recheck-interval");
  note(now.max_client_connections != next.max_client_connections, "limits.max-client-connections");
  note(now.core_dumps != next.core_dumps, "core-dumps");
  note(now.min_sigterm_delay != next.min_sigterm_delay, "sigterm.min-delay");
  note(now.max_sigterm_delay != next.max_sigterm_delay, "sigterm.max-delay");
  return out;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

std::string describe_accounts(const TargetConfig& t) {
  if (!t.db_user.empty()) return t.db_user;
  if (!t.accounts.empty()) return "map of " + std::to_string(t.accounts.size()) + " users";
  return "pass-through";
}

}  // namespace

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
  uv_loop_init(&loop_);
  loop_ready_ = true;
  std::vector<ListenSocket> opened_by_failed_start;
  for (const auto& t : config_.targets) {
    if (start_target(t, opened_by_failed_start, error)) continue;
    for (auto& s : opened_by_failed_start) close_listen_socket(s);
    return false;
  }
  listening_ = true;
  if (config_.admin) {
    admin_ = std::make_unique<AdminServer>(
        &loop_, [this](std::string_view m, std::string_view p) { return handle_admin(m, p); });
    if (!admin_->listen(*config_.admin, error)) return false;
  }
  register_token_gauges();
  trimmer_ = std::make_unique<MemoryTrimmer>(shared_.open_clients, shared_.peak_clients);
  trimmer_->start(&loop_);
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  uv_timer_init(&loop_, &retire_timer_);
  retire_timer_.data = this;
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

int App::run() {
  log_configure(config_.log_level, config_.log_format);
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

void App::on_sighup(uv_signal_t* s, int) {
  log_info("signal", {{"signal", "SIGHUP"}});
  static_cast<App*>(s->data)->reload();
}

// What a reload does to the running targets: keep (live changes), or let go (removed or
// replaced); and which configured targets to start (added or replacing).
struct ReloadPlan {
  std::vector<std::unique_ptr<Target>> kept, going;
  std::vector<const TargetConfig*> to_start;
  std::vector<std::string> added, removed, replaced;
};

namespace {

const TargetConfig* find_target(const Config& c, const std::string& name) {
  auto it = std::find_if(c.targets.begin(), c.targets.end(), [&](const TargetConfig& t) { return t.name == name; });
  return it == c.targets.end() ? nullptr : &*it;
}

ReloadPlan plan_reload(std::vector<std::unique_ptr<Target>>& running, const Config& next) {
  ReloadPlan plan;
  for (auto& t : running) {
    const TargetConfig* n = find_target(next, t->name());
    if (n == nullptr) {
      plan.removed.push_back(t->name());
      plan.going.push_back(std::move(t));
    } else if (!can_apply_live(t->config(), *n)) {
      plan.replaced.push_back(t->name());
      plan.going.push_back(std::move(t));
    } else {
      plan.kept.push_back(std::move(t));
    }
  }
  running.clear();
  for (const auto& n : next.targets) {
    if (std::any_of(plan.kept.begin(), plan.kept.end(), [&](const auto& t) { return t->name() == n.name; })) continue;
    plan.to_start.push_back(&n);
    if (std::find(plan.replaced.begin(), plan.replaced.end(), n.name) == plan.replaced.end())
      plan.added.push_back(n.name);
  }
  return plan;
}

}  // namespace

// SIGHUP (issue 5, docs/config.md "Reload"): parse the command line and the file again; a
// configuration that does not parse or validate changes nothing. Otherwise targets whose
// changes can apply live get them, new targets start, removed ones drain like SIGTERM's
// drain, and a target whose listeners, upstream, instance or TLS changed is replaced: the new
// one starts on the same listen sockets (handed over, never closed) and the old one drains.
void App::reload() {
  if (draining_ || shutting_down_) {
    log_warn("reload_ignored", {{"reason", "shutting down"}});
    return;
  }
  if (config_.config_file.empty()) {
    log_warn("reload_ignored", {{"reason", "no --config file: flags and environment are read only at start"}});
    return;
  }
  auto refuse = [this](std::string_view event, std::string_view error) {
    log_error(event, {{"file", config_.config_file}, {"error", error}, {"kept", "running configuration"}});
  };
  std::vector<const char*> argv;
  for (const auto& a : args_) argv.push_back(a.c_str());
  ParseResult parsed = parse_command_line(static_cast<int>(argv.size()), argv.data(),
                                          [](const char* name) -> const char* { return std::getenv(name); });
  if (parsed.outcome != ParseOutcome::run) return refuse("reload_rejected", parsed.message);
  const Config next = std::move(parsed.config);
  std::string error;
  const bool credentials_changed = !same_credential_settings(applied_, next);
  if (credentials_changed && !make_provider(next, error)) return refuse("reload_rejected", error);

  ReloadPlan plan = plan_reload(targets_, next);
  std::vector<ListenSocket> handed_over;
  for (auto& t : plan.going) t->hand_over_sockets(handed_over);
  const Config previous = std::exchange(applied_, next);  // new targets use the new credential settings
  for (const TargetConfig* n : plan.to_start) {
    if (start_target(*n, handed_over, error)) continue;
    applied_ = previous;
    undo_reload(plan, handed_over);
    return refuse("reload_failed", error);
  }
  for (auto& s : handed_over) close_listen_socket(s);  // listeners of removed targets
  for (auto& t : plan.going) retire(std::move(t), "reload");
  std::vector<std::string> updated;
  for (auto& t : plan.kept) {
    const TargetConfig& n = *find_target(next, t->name());
    if (credentials_changed) t->replace_credentials(make_provider(next, error));
    if (!(t->config() == n)) {
      updated.push_back(t->name());
      t->apply(n);
    }
    t->reload_local_users();  // the users file may have changed under the same path
  }
  // Keep the file's order (it is the order of /readyz's checks and of the logs).
  std::vector<std::unique_ptr<Target>> ordered;
  for (const auto& n : next.targets) {
    for (auto* list : {&plan.kept, &targets_}) {
      for (auto& t : *list)
        if (t && t->name() == n.name) ordered.push_back(std::move(t));
    }
  }
  targets_ = std::move(ordered);
  log_info("reload_applied", {{"file", config_.config_file},
                              {"added", join_names(plan.added)},
                              {"removed", join_names(plan.removed)},
                              {"replaced", join_names(plan.replaced)},
                              {"updated", join_names(updated)},
                              {"credentials", credentials_changed ? "new provider" : "unchanged"},
                              {"needs_restart", needs_restart(config_, next)}});
}

// A target of the reload could not start: the ones started for it go, the old ones take their
// sockets back and stay.
void App::undo_reload(ReloadPlan& plan, std::vector<ListenSocket>& handed_over) {
  for (auto& t : targets_) {
    t->hand_over_sockets(handed_over);
    t->stop();
    retired_.push_back(std::move(t));
  }
  targets_ = std::move(plan.kept);
  for (auto& t : plan.going) {
    t->take_sockets(handed_over);
    targets_.push_back(std::move(t));
  }
  for (auto& s : handed_over) close_listen_socket(s);
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

// Lifecycle (issue 5): readiness goes false at once; new connections are still accepted for
// --min-sigterm-delay (the application may still be shutting down); then listeners close and
// sessions get up to --max-sigterm-delay to finish their transactions; then exit 0.
void App::begin_drain(std::string_view why) {
  if (draining_ || shutting_down_) return;
  draining_ = true;
  drain_started_ = Clock::now();
  log_info("drain_started", {{"reason", why},
                             {"open_sessions", open_sessions()},
                             {"min_delay_ms", static_cast<int64_t>(config_.min_sigterm_delay.count())},
                             {"max_delay_ms", static_cast<int64_t>(config_.max_sigterm_delay.count())}});
  uv_timer_start(&drain_timer_, on_drain_timer, static_cast<uint64_t>(config_.min_sigterm_delay.count()), 0);
}

void App::stop_listening() {
  if (!listening_) return;
  listening_ = false;
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
  if (shutting_down_) return;
  shutting_down_ = true;
  listening_ = false;
  for (auto& t : targets_) t->stop();
  for (auto& r : retiring_) r.target->stop();
  if (admin_) admin_->close();
  if (trimmer_) trimmer_->close();
  gauges_.clear();
  if (!loop_ready_) return;
  for (auto* timer : {&drain_timer_, &retire_timer_}) {
    if (timer->data != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(timer), nullptr);
  }
  if (sigterm_.data != nullptr) {
    for (auto* s : {&sigterm_, &sigint_, &sighup_}) uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
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
  return std::all_of(targets_.begin(), targets_.end(), [&why](const auto& t) { return t->ready(why); });
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
