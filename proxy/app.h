#pragma once
// The running process: the control loop (signals, reloads, the admin endpoint) and the targets,
// each with its own workers.
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/admin_server.h"
#include "proxy/config/config.h"
#include "proxy/memory_trim.h"
#include "proxy/ops/metrics.h"
#include "proxy/proxy_context.h"
#include "proxy/sd_notify.h"
#include "proxy/target.h"

namespace camproxy::proxy {

struct ReloadPlan;

// What a reload did (docs/config.md "Reload"), for POST /reload: the HTTP status (200 applied,
// 409 ignored, 422 rejected: the configuration does not parse or validate, 500 failed: a target
// could not start; in all but 200 nothing changed) and a one-line JSON summary with the fields
// of the reload log line.
struct ReloadOutcome {
  int http_status = 200;
  std::string summary;
};

class App {
 public:
  // `args` are the command line (without argv[0]): a SIGHUP parses them again, with the file.
  App(Config config, std::vector<std::string> args) : config_(std::move(config)), args_(std::move(args)) {}
  App(const App&) = delete;
  App& operator=(const App&) = delete;
  ~App();

  // Runs until SIGTERM/SIGINT; returns the process exit status.
  int run();

 private:
  bool setup(std::string& error);
  bool start_target(const TargetConfig& config, std::vector<ListenSocket>& handed_over, std::string& error);
  ReloadOutcome reload();
  void undo_reload(ReloadPlan& plan, std::vector<ListenSocket>& handed_over);
  std::vector<std::string> keep_targets(ReloadPlan& plan, const Config& next, bool credentials_changed);
  static std::string join_names(const std::vector<std::string>& names);
  void retire(std::unique_ptr<Target> target, std::string_view why);
  void begin_drain(std::string_view why);
  void stop_listening();
  void shutdown();
  bool ready(std::string& why) const;
  bool started(std::string& why) const;
  size_t open_sessions() const;
  static void on_drain_timer(uv_timer_t* t);
  static void on_retire_timer(uv_timer_t* t);
  AdminResponse handle_admin(std::string_view method, std::string_view path);
  // The admin endpoint's answers that wait for workers or CAM (app_introspection.cc).
  bool handle_deferred(const AdminRequest& request, AdminReply reply);
  void answer_from_workers(std::string_view path, AdminReply reply);
  void refresh_tokens(std::string_view query, AdminReply reply);
  void register_token_gauges();
  void register_target_gauges();
  // --data-path: io_uring where asked for (or auto) and usable; false with `error` when forced
  // and not usable.
  bool choose_data_path(std::string& error);
  void register_data_path_gauge();
  static void on_signal(uv_signal_t* s, int signum);
  static void on_sighup(uv_signal_t* s, int signum);
  static void on_notify_timer(uv_timer_t* t);
  std::string status_line() const;

  // Process-wide settings as started: targets read them for the process's life (a reload
  // reports changes to them as "needs restart", except the credential settings).
  const Config config_;
  Config applied_;  // the last configuration applied (targets and credential settings)
  std::vector<std::string> args_;
  ProcessShared shared_;
  uv_loop_t loop_{};
  bool loop_ready_ = false;
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  uv_signal_t sighup_{};
  std::vector<std::unique_ptr<Target>> targets_;
  // Removed or replaced by a reload: draining until their sessions are gone or the
  // --max-sigterm-delay passed, then stopped (kept until exit, see Target::stop).
  struct Retiring {
    std::unique_ptr<Target> target;
    std::chrono::steady_clock::time_point deadline;
  };
  std::vector<Retiring> retiring_;
  std::vector<std::unique_ptr<Target>> retired_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<AdminServer> http_;  // --http-address: the read-only probe and scrape listener
  std::unique_ptr<MemoryTrimmer> trimmer_;
  uv_timer_t drain_timer_{};
  uv_timer_t retire_timer_{};
  // systemd (Type=notify): READY=1, STOPPING=1, STATUS= and WATCHDOG=1 from notify_timer_.
  SystemdNotifier notifier_;
  uv_timer_t notify_timer_{};
  // The process's lifecycle (docs/operations.md "Shutdown"), one way only.
  enum class Phase {
    starting,   // setup() running: listeners being opened, not ready
    serving,    // listeners open; ready when every target is
    draining,   // SIGTERM or /quitquitquit: not ready, listeners still open for --min-sigterm-delay
    finishing,  // listeners closed; sessions finish their transactions (--max-sigterm-delay)
    stopped,    // shutdown() ran: targets stopped, the loop's handles closing
  };
  Phase phase_ = Phase::starting;
  mutable bool startup_done_ = false;  // ready once: /startup answers 200 for good
  std::chrono::steady_clock::time_point drain_started_{};
  std::vector<GaugeCallbackRegistration> gauges_;
};

}  // namespace camproxy::proxy
