#include "proxy/status_command.h"

#include <string>

#include "proxy/admin_http_client.h"
#include "proxy/config/status_options.h"
#include "proxy/status_report.h"

namespace camproxy::proxy {
namespace {

// Pools and sessions wait up to 1 s for the workers; the rest answers at once.
constexpr int kTimeoutMs = 5000;

}  // namespace

int run_status_command(int argc, const char* const* argv, const char* (*getenv_fn)(const char*), std::FILE* out,
                       std::FILE* err) {
  std::string error;
  const auto settings = parse_status_flags(argc, argv, getenv_fn, error);
  if (!settings) {
    std::fprintf(err, "camproxy status: %s\n%s", error.c_str(), status_usage().c_str());
    return 2;
  }
  const std::string admin = settings->admin.to_string();
  const std::string port = std::to_string(settings->admin.port);
  StatusAnswers answers;
  for (auto [path, body] :
       {std::pair{"/debug/targets", &answers.targets}, std::pair{"/debug/tokens", &answers.tokens},
        std::pair{"/debug/pools", &answers.pools}, std::pair{"/debug/sessions", &answers.sessions}}) {
    auto answer = admin_http_request(settings->admin.host, port, "GET", path, kTimeoutMs, error);
    if (!answer) {
      std::fprintf(err, "camproxy status: cannot reach the admin endpoint at %s (%s): %s\n", admin.c_str(), path,
                   error.c_str());
      return 1;
    }
    if (answer->status != 200) {
      std::fprintf(err, "camproxy status: %s%s answered %d: %s\n", admin.c_str(), path, answer->status,
                   answer->body.c_str());
      return 1;
    }
    *body = std::move(answer->body);
  }
  std::string text;
  if (!render_status(answers, text, error)) {
    std::fprintf(err, "camproxy status: %s at %s\n", error.c_str(), admin.c_str());
    return 1;
  }
  std::fputs(text.c_str(), out);
  return 0;
}

}  // namespace camproxy::proxy
