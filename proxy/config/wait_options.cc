#include "proxy/config/wait_options.h"

#include "proxy/config/config_values.h"
#include "proxy/config/flag_reader.h"

namespace camproxy::proxy {

std::vector<OptionSpec> wait_option_table(WaitSettings& into) {
  const WaitSettings kDefaults;
  return {
      {"admin",
       "",
       OptionScope::process,
       "ADDR",
       {kDefaults.admin.to_string(), true},
       "The admin endpoint of the camproxy to wait for (its --admin).",
       false,
       [&into](Config&, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         auto hp = parse_host_port(v);
         if (!hp) return "expected HOST:PORT, got '" + std::string(v) + "'";
         into.admin = *hp;
         return std::nullopt;
       }},
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
  const auto table = wait_option_table(settings);
  const auto find = [&table](std::string_view flag) -> const OptionSpec* {
    for (const auto& o : table)
      if (o.flag == flag) return &o;
    return nullptr;
  };
  const FlagRead read = read_flags(argc, argv, find, {});
  if (read.error) {
    error = *read.error;
    return std::nullopt;
  }
  Config unused_config;
  TargetConfig unused_target;
  for (const auto& opt : table) {
    const auto g = given_values(opt, read.given, getenv_fn);
    for (const auto& v : g.values) {
      if (auto e = opt.apply(unused_config, unused_target, v)) {
        error = g.source + ": " + *e;
        return std::nullopt;
      }
    }
  }
  return settings;
}

std::string wait_usage() {
  WaitSettings scratch;
  std::string out = "Usage: camproxy wait";
  for (const auto& o : wait_option_table(scratch))
    out += " [--" + std::string(o.flag) + " " + o.default_text.text + "]";
  return out + "\n";
}

std::string wait_flags_markdown() {
  WaitSettings scratch;
  std::string out =
      "\n## camproxy wait\n\n"
      "`camproxy wait [flags]` asks a running camproxy's admin endpoint for a path until it answers\n"
      "200: for probes, `ExecStartPost` and applications that must start after camproxy. Its flags\n"
      "are read like camproxy's own, so `CAMPROXY_ADMIN` set for camproxy also points `wait` at it.\n\n"
      "| flag | environment | default | meaning |\n|---|---|---|---|\n";
  for (const auto& o : wait_option_table(scratch)) {
    out += "| `--" + std::string(o.flag) + " " + std::string(o.value_name) + "` | `" + env_name(o.flag) + "` | " +
           o.default_text.text + " | " + o.help + " |\n";
  }
  return out;
}

}  // namespace camproxy::proxy
