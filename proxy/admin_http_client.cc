#include "proxy/admin_http_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

namespace camproxy::proxy {
namespace {

constexpr size_t kMaxAnswer = 16 * 1024 * 1024;

// The whole answer (the admin endpoint closes after it: Connection: close), or an error.
bool read_all(int fd, int timeout_ms, std::string& out, std::string& error) {
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready == 0) {
      error = "no answer within " + std::to_string(timeout_ms) + " ms";
      return false;
    }
    const ssize_t n = ready < 0 ? -1 : ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      error = std::string("reading the answer: ") + std::strerror(errno);
      return false;
    }
    if (n == 0) return true;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxAnswer) {
      error = "the answer is larger than 16 MiB";
      return false;
    }
  }
}

}  // namespace

std::optional<AdminHttpAnswer> admin_http_request(const std::string& host, const std::string& port,
                                                  const std::string& method, const std::string& path, int timeout_ms,
                                                  std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    error = gai_strerror(rc);
    return std::nullopt;
  }
  const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::string raw;
  bool ok = fd >= 0;
  if (!ok) error = std::string("socket: ") + std::strerror(errno);
  if (ok && ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    error = std::strerror(errno);
    ok = false;
  }
  freeaddrinfo(res);
  if (ok) {
    // Host: the admin endpoint refuses one that is not a loopback address (admin_access.h); an
    // IPv6 address goes in brackets (RFC 9110 §7.2). Mutating paths also need X-Camproxy-Admin.
    const std::string authority = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
    const std::string request = method + " " + path + " HTTP/1.0\r\nHost: " + authority +
                                (method == "GET" ? "" : "\r\nX-Camproxy-Admin: 1") + "\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
      error = std::string("sending the request: ") + std::strerror(errno);
      ok = false;
    }
  }
  ok = ok && read_all(fd, timeout_ms, raw, error);
  if (fd >= 0) ::close(fd);
  if (!ok) return std::nullopt;
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  AdminHttpAnswer answer;
  const size_t head_end = raw.find("\r\n\r\n");
  if (!raw.starts_with("HTTP/") || raw.size() < 12 || head_end == std::string::npos ||
      std::from_chars(raw.data() + 9, raw.data() + 12, answer.status).ec != std::errc{}) {
    error = "not an HTTP answer";
    return std::nullopt;
  }
  answer.body = raw.substr(head_end + 4);
  return answer;
}

}  // namespace camproxy::proxy
