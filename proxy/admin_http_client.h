#pragma once
// One blocking HTTP/1.0 request to a camproxy admin endpoint, for the subcommands that run
// beside a camproxy (`camproxy wait`, `camproxy status`); never used inside the proxy's loops.
#include <optional>
#include <string>

namespace camproxy::proxy {

struct AdminHttpAnswer {
  int status = 0;
  std::string body;
};

// METHOD `path` on host:port; the answer, or nullopt with `error` saying what failed (no such
// host, connection refused, no answer within `timeout_ms`, not HTTP). Bodies above 16 MiB are
// an error.
std::optional<AdminHttpAnswer> admin_http_request(const std::string& host, const std::string& port,
                                                  const std::string& method, const std::string& path, int timeout_ms,
                                                  std::string& error);

}  // namespace camproxy::proxy
