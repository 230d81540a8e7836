#pragma once
// The running process: the control loop (signals, CAM tokens, admin endpoint) and the workers.
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/admin_server.h"
#include "proxy/config.h"
#include "proxy/listen_socket.h"
#include "proxy/memory_trim.h"
#include "proxy/metrics.h"
#include "proxy/proxy_context.h"
#include "proxy/tls.h"
#include "proxy/token_service.h"
#include "proxy/worker.h"

namespace camproxy::proxy {

class App {
 public:
  explicit App(Config config) : config_(std::move(config)) {}
  App(const App&) = delete;
  App& operator=(const App&) = delete;
  ~App();

  // Runs until SIGTERM/SIGINT; returns the process exit status.
  int run();

 private:
  const TargetConfig& target() const { return config_.targets.front(); }
  bool setup(std::string& error);
  void begin_drain(std::string_view why);
  void stop_listening();
  void shutdown();
  bool ready(std::string& why) const;
  bool started(std::string& why) const;
  size_t open_sessions() const;
  static void on_drain_timer(uv_timer_t* t);
  AdminResponse handle_admin(std::string_view method, std::string_view path);
  void register_token_gauges();
  static void on_signal(uv_signal_t* s, int signum);

  Config config_;
  uv_loop_t loop_{};
  bool loop_ready_ = false;
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  SslCtxPtr client_tls_;
  SslCtxPtr upstream_tls_;
  std::unique_ptr<TokenService> tokens_;
  std::unique_ptr<ProxyContext> ctx_;
  std::vector<ListenSocket> sockets_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<MemoryTrimmer> trimmer_;
  uv_timer_t drain_timer_{};
  bool listening_ = false;
  bool draining_ = false;
  bool shutting_down_ = false;
  mutable bool startup_done_ = false;
  std::chrono::steady_clock::time_point drain_started_{};
  std::vector<GaugeCallbackRegistration> gauges_;
};

}  // namespace camproxy::proxy
