#pragma once
// What the subcommands that talk to a running camproxy (`camproxy wait`, `camproxy status`)
// share: their option tables are read by the flag reader camproxy itself uses (so
// CAMPROXY_ADMIN set for camproxy points them at it too), the --admin row, the usage line and
// the Markdown table of docs/flags.md.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/config/config_options.h"

namespace camproxy::proxy {

// The --admin ADDR row writing into `into` (default: where camproxy's own --admin listens).
OptionSpec admin_flag_row(HostPort& into, std::string help);

// Applies argv and CAMPROXY_<FLAG> to `table`'s rows; the error, with where the bad value
// came from, or nullopt.
std::optional<std::string> apply_subcommand_flags(const std::vector<OptionSpec>& table, int argc,
                                                  const char* const* argv, const char* (*getenv_fn)(const char*));

// "Usage: camproxy NAME [--flag DEFAULT] ...\n"
std::string subcommand_usage(std::string_view name, const std::vector<OptionSpec>& table);
// The flag | environment | default | meaning table.
std::string subcommand_flags_table(const std::vector<OptionSpec>& table);

}  // namespace camproxy::proxy
