#include "proxy/wait_command.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "proxy/admin_http_client.h"
#include "proxy/config/config_values.h"
#include "proxy/config/wait_options.h"

namespace camproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kIoTimeoutMs = 2000;

// One GET; the HTTP status, or 0 when nothing answered.
int http_status(const std::string& host, const std::string& port, const std::string& path) {
  std::string error;
  auto answer = admin_http_request(host, port, "GET", path, kIoTimeoutMs, error);
  return answer ? answer->status : 0;
}

int usage(const std::string& why) {
  std::fprintf(stderr, "camproxy wait: %s\n%s", why.c_str(), wait_usage().c_str());
  return 2;
}

}  // namespace

int run_wait_command(int argc, const char* const* argv, const char* (*getenv_fn)(const char*)) {
  std::string error;
  const auto settings = parse_wait_flags(argc, argv, getenv_fn, error);
  if (!settings) return usage(error);
  const std::string admin = settings->admin.to_string();
  const std::string& host = settings->admin.host;
  const std::string port = std::to_string(settings->admin.port);
  const std::string& path = settings->path;
  const auto deadline = Clock::now() + settings->timeout;
  int last = 0;
  do {
    last = http_status(host, port, path);
    if (last == 200) return 0;
    std::this_thread::sleep_for(kWaitRetryEvery);
  } while (Clock::now() < deadline);
  std::fprintf(stderr, "camproxy wait: %s%s not ready after %s (last answer: %s)\n", admin.c_str(), path.c_str(),
               format_duration(settings->timeout).c_str(), last == 0 ? "none" : std::to_string(last).c_str());
  return 1;
}

}  // namespace camproxy::proxy
