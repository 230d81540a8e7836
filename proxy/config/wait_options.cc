#include "proxy/config/wait_options.h"

#include "proxy/config/config_values.h"
#include "proxy/config/subcommand_flags.h"

namespace camproxy::proxy {

std::vector<OptionSpec> wait_option_table(WaitSettings& into) {
  const WaitSettings kDefaults;
  return {
      admin_flag_row(into.admin, "The admin endpoint of the camproxy to wait for (its --admin)."),
      {"path",
       "",
       OptionScope::process,
       "PATH",
       {kDefaults.path, true},
       "The admin path that must answer 200: /readyz, /startup or /healthz (docs/operations.md).",
       false,
       [&into](Config&, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         if (!v.starts_with("/")) return "expected a path starting with /, got '" + std::string(v) + "'";
         into.path = std::string(v);
         return std::nullopt;
       }},
      {"timeout",
       "",
       OptionScope::process,
       "DURATION",
       {format_duration(kDefaults.timeout), true},
       "How long to keep asking (every " + format_duration(kWaitRetryEvery) +
           "); 0s asks once. Exit 0 on a 200, 1 when it passes, 2 on a bad flag.",
       false,
       [&into](Config&, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         auto d = parse_duration(v);
         if (!d)
           return "expected a duration such as 0s, 500ms, 30s or 2m (at most a year), got '" + std::string(v) + "'";
         into.timeout = *d;
         return std::nullopt;
       }},
  };
}

std::optional<WaitSettings> parse_wait_flags(int argc, const char* const* argv, const char* (*getenv_fn)(const char*),
                                             std::string& error) {
  WaitSettings settings;
  if (auto e = apply_subcommand_flags(wait_option_table(settings), argc, argv, getenv_fn)) {
    error = *e;
    return std::nullopt;
  }
  return settings;
}

std::string wait_usage() {
  WaitSettings scratch;
  return subcommand_usage("wait", wait_option_table(scratch));
}

std::string wait_flags_markdown() {
  WaitSettings scratch;
  return "\n## camproxy wait\n\n"
         "`camproxy wait [flags]` asks a running camproxy's admin endpoint for a path until it answers\n"
         "200: for probes, `ExecStartPost` and applications that must start after camproxy. Its flags\n"
         "are read like camproxy's own, so `CAMPROXY_ADMIN` set for camproxy also points `wait` at it.\n\n" +
         subcommand_flags_table(wait_option_table(scratch));
}

}  // namespace camproxy::proxy
