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

#include "proxy/config/config_values.h"
#include "proxy/config/wait_options.h"

namespace camproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kIoTimeoutMs = 2000;

// One GET; the HTTP status, or 0 when nothing answered.
// `authority` is the Host header (proxy/admin_access.h: a loopback address, IPv6 in brackets).
int http_status(const std::string& host, const std::string& port, const std::string& authority,
                const std::string& path) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return 0;
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int status = 0;
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + authority + "\r\n\r\n";
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
    last = http_status(host, port, admin, path);
    if (last == 200) return 0;
    std::this_thread::sleep_for(kWaitRetryEvery);
  } while (Clock::now() < deadline);
  std::fprintf(stderr, "camproxy wait: %s%s not ready after %s (last answer: %s)\n", admin.c_str(), path.c_str(),
               format_duration(settings->timeout).c_str(), last == 0 ? "none" : std::to_string(last).c_str());
  return 1;
}

}  // namespace camproxy::proxy
