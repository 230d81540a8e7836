#pragma once
// `camproxy status`'s flags (subcommand_flags.h), listed in docs/flags.md and the man page.
#include <optional>
#include <string>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/config/config_options.h"

namespace camproxy::proxy {

struct StatusSettings {
  HostPort admin = *Config{}.admin;  // where camproxy's own --admin listens by default
};

std::vector<OptionSpec> status_option_table(StatusSettings& into);

// argv after "status"; CAMPROXY_<FLAG> as camproxy itself. nullopt and the error otherwise.
std::optional<StatusSettings> parse_status_flags(int argc, const char* const* argv,
                                                 const char* (*getenv_fn)(const char*), std::string& error);

// "Usage: camproxy status [--admin ADDR]" and the Markdown section of docs/flags.md.
std::string status_usage();
std::string status_flags_markdown();

}  // namespace camproxy::proxy
