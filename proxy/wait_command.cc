#include "proxy/wait_command.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>

namespace camproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kRetryEvery = std::chrono::milliseconds(200);
constexpr int kIoTimeoutMs = 2000;

// One GET; the HTTP status, or 0 when nothing answered.
int http_status(const std::string& host, const std::string& port, const std::string& path) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return 0;
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int status = 0;
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n";
    char buf[64] = {};
    pollfd p{fd, POLLIN, 0};
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()) &&
        ::poll(&p, 1, kIoTimeoutMs) == 1) {
      const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
      std::string_view head(buf, n > 0 ? static_cast<size_t>(n) : 0);
      if (head.starts_with("HTTP/") && head.size() >= 12) std::from_chars(head.data() + 9, head.data() + 12, status);
    }
  }
  if (fd >= 0) ::close(fd);
  freeaddrinfo(res);
  return status;
}

int usage(const std::string& why) {
  std::fprintf(stderr, "camproxy wait: %s\nUsage: camproxy wait [--admin HOST:PORT] [--path /readyz] [--timeout 30s]\n",
               why.c_str());
  return 2;
}

}  // namespace

int run_wait_command(int argc, const char* const* argv, const char* (*getenv_fn)(const char*)) {
  const char* env_admin = getenv_fn("CAMPROXY_ADMIN");
  std::string admin = env_admin != nullptr && *env_admin != '\0' ? env_admin : "127.0.0.1:9306";
  std::string path = "/readyz";
  long long timeout_s = 30;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return usage("missing value for " + std::string(arg));
    }
    if (arg == "--admin") {
      admin = std::string(value);
    } else if (arg == "--path") {
      if (!value.starts_with("/")) return usage("--path must start with /");
      path = std::string(value);
    } else if (arg == "--timeout") {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), timeout_s);
      std::string_view unit(p, static_cast<size_t>(value.data() + value.size() - p));
      if (ec != std::errc() || timeout_s < 0 || (unit != "s" && !unit.empty()))
        return usage("--timeout takes seconds, e.g. 30s");
    } else {
      return usage("unknown flag " + std::string(arg));
    }
  }
  const auto colon = admin.rfind(':');
  if (colon == std::string::npos) return usage("--admin expects HOST:PORT");
  std::string host = admin.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = admin.substr(colon + 1);
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  int last = 0;
  do {
    last = http_status(host, port, path);
    if (last == 200) return 0;
    std::this_thread::sleep_for(kRetryEvery);
  } while (Clock::now() < deadline);
  std::fprintf(stderr, "camproxy wait: %s%s not ready after %llds (last answer: %s)\n", admin.c_str(), path.c_str(),
               timeout_s, last == 0 ? "none" : std::to_string(last).c_str());
  return 1;
}

}  // namespace camproxy::proxy
