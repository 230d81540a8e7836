#include <cstdio>
#include <cstdlib>

#include <sys/prctl.h>
#include <uv.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/app.h"
#include "proxy/config/config.h"
#include "proxy/hash_password_command.h"
#include "proxy/ops/metrics.h"
#include "proxy/status_command.h"
#include "proxy/wait_command.h"

int main(int argc, char** argv) {
  using namespace camproxy::proxy;
  auto getenv_fn = [](const char* name) -> const char* { return std::getenv(name); };
  if (argc > 1 && std::string_view(argv[1]) == "wait") return run_wait_command(argc - 2, argv + 2, getenv_fn);
  if (argc > 1 && std::string_view(argv[1]) == "status")
    return run_status_command(argc - 2, argv + 2, getenv_fn, stdout, stderr);
  if (argc > 1 && std::string_view(argv[1]) == "hash-password")
    return run_hash_password_command(argc - 2, argv + 2, stdin, stdout, stderr);
  process_metrics().set_libuv_version(uv_version_string());  // and records the start time
  ParseResult parsed = parse_command_line(argc - 1, argv + 1, getenv_fn);
  switch (parsed.outcome) {
    case ParseOutcome::exit_ok: std::fputs(parsed.message.c_str(), stdout); return 0;
    case ParseOutcome::exit_usage: std::fprintf(stderr, "%s\n", parsed.message.c_str()); return 2;
    case ParseOutcome::check_ok: std::fputs(parsed.message.c_str(), stdout); return 0;
    case ParseOutcome::run: break;
  }
  // Tokens, keys and passwords live in this process's memory: no core dump unless asked.
  if (!parsed.config.core_dumps) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  App app(std::move(parsed.config), std::vector<std::string>(argv + 1, argv + argc));
  return app.run();
}
