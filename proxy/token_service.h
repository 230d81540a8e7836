#pragma once
// The CAM tokens of this process: one per account (the region, instance and credential are
// fixed per process for now). Workers read immutable snapshots from any thread without
// waiting for a fetch; fetches run on the control loop's thread pool, one at a time per account
// (single-flight), and every published snapshot wakes the workers.
#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/cam_client.h"
#include "auth/cam_response.h"
#include "auth/credentials.h"
#include "proxy/config.h"

namespace camproxy::proxy {

using SteadyTime = std::chrono::steady_clock::time_point;

struct TokenState {
  uint64_t generation = 0;                              // grows with every finished fetch
  std::shared_ptr<const auth::SecretString> password;  // null: no token
  SteadyTime expires_at{};
  std::optional<auth::CamError> error;  // the last fetch's failure, if it failed

  bool usable(SteadyTime now) const { return password != nullptr && now < expires_at; }
};

class TokenService {
 public:
  TokenService(uv_loop_t* control_loop, const Config& config, auth::Credential credential,
               std::function<void()> on_published);
  TokenService(const TokenService&) = delete;
  TokenService& operator=(const TokenService&) = delete;
  ~TokenService();

  // Control thread. Fails (with a reason) when the CAM endpoint is unusable.
  bool start(std::string& error);
  // Control thread: stops taking requests; running fetches finish into the void.
  void close();

  // Any thread.
  std::shared_ptr<const TokenState> current(const std::string& account) const;
  // Any thread: fetch a token unless a fetch is running or a snapshot newer than
  // `seen_generation` exists already.
  void request(const std::string& account, uint64_t seen_generation);

 private:
  struct Fetch;
  struct Entry {
    std::shared_ptr<const TokenState> state;
    bool in_flight = false;
    std::unique_ptr<auth::CamClient> client;  // one curl handle per account: fetches may overlap
  };

  static void on_wake(uv_async_t* async);
  static void run_fetch(uv_work_t* req);
  static void after_fetch(uv_work_t* req, int status);
  void start_pending_fetches();
  void publish(const std::string& account, auth::CamResult result);

  uv_loop_t* loop_;
  const Config& config_;
  const auth::Credential credential_;
  std::function<void()> on_published_;
  uv_async_t wake_{};
  bool started_ = false;
  bool closed_ = false;

  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> pending_;
};

}  // namespace camproxy::proxy
