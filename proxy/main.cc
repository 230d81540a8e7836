#include <cstdio>
#include <cstdlib>

#include "proxy/app.h"
#include "proxy/config.h"

int main(int argc, char** argv) {
  using namespace camproxy::proxy;
  ParseResult parsed = parse_command_line(argc - 1, argv + 1, [](const char* name) -> const char* { return std::getenv(name); });
  switch (parsed.outcome) {
    case ParseOutcome::exit_ok:
      std::fputs(parsed.message.c_str(), stdout);
      return 0;
    case ParseOutcome::exit_usage:
      std::fprintf(stderr, "%s\n", parsed.message.c_str());
      return 2;
    case ParseOutcome::run:
      break;
  }
  App app(std::move(parsed.config));
  return app.run();
}
