#include "proxy/config/subcommand_flags.h"

#include "proxy/config/config_values.h"
#include "proxy/config/flag_reader.h"

namespace camproxy::proxy {

OptionSpec admin_flag_row(HostPort& into, std::string help) {
  return {"admin",
          "",
          OptionScope::process,
          "ADDR",
          {Config{}.admin->to_string(), true},
          std::move(help),
          false,
          [&into](Config&, TargetConfig&, std::string_view v) -> std::optional<std::string> {
            auto hp = parse_host_port(v);
            if (!hp) return "expected HOST:PORT, got '" + std::string(v) + "'";
            into = *hp;
            return std::nullopt;
          }};
}

std::optional<std::string> apply_subcommand_flags(const std::vector<OptionSpec>& table, int argc,
                                                  const char* const* argv, const char* (*getenv_fn)(const char*)) {
  const auto find = [&table](std::string_view flag) -> const OptionSpec* {
    for (const auto& o : table)
      if (o.flag == flag) return &o;
    return nullptr;
  };
  const FlagRead read = read_flags(argc, argv, find, {});
  if (read.error) return read.error;
  Config unused_config;
  TargetConfig unused_target;
  for (const auto& opt : table) {
    const auto g = given_values(opt, read.given, getenv_fn);
    for (const auto& v : g.values) {
      if (auto e = opt.apply(unused_config, unused_target, v)) return g.source + ": " + *e;
    }
  }
  return std::nullopt;
}

std::string subcommand_usage(std::string_view name, const std::vector<OptionSpec>& table) {
  std::string out = "Usage: camproxy " + std::string(name);
  for (const auto& o : table) out += " [--" + std::string(o.flag) + " " + o.default_text.text + "]";
  return out + "\n";
}

std::string subcommand_flags_table(const std::vector<OptionSpec>& table) {
  std::string out = "| flag | environment | default | meaning |\n|---|---|---|---|\n";
  for (const auto& o : table) {
    out += "| `--" + std::string(o.flag) + " " + std::string(o.value_name) + "` | `" + env_name(o.flag) + "` | " +
           o.default_text.text + " | " + o.help + " |\n";
  }
  return out;
}

}  // namespace camproxy::proxy
