#include "proxy/config/status_options.h"

#include "proxy/config/subcommand_flags.h"

namespace camproxy::proxy {

std::vector<OptionSpec> status_option_table(StatusSettings& into) {
  return {admin_flag_row(into.admin, "The admin endpoint of the camproxy to show (its --admin).")};
}

std::optional<StatusSettings> parse_status_flags(int argc, const char* const* argv,
                                                 const char* (*getenv_fn)(const char*), std::string& error) {
  StatusSettings settings;
  if (auto e = apply_subcommand_flags(status_option_table(settings), argc, argv, getenv_fn)) {
    error = *e;
    return std::nullopt;
  }
  return settings;
}

std::string status_usage() {
  StatusSettings scratch;
  return subcommand_usage("status", status_option_table(scratch));
}

std::string status_flags_markdown() {
  StatusSettings scratch;
  return "\n## camproxy status\n\n"
         "`camproxy status [flags]` reads `/debug/targets`, `/debug/tokens`, `/debug/pools` and\n"
         "`/debug/sessions` from a running camproxy's admin endpoint and prints them as tables for a\n"
         "person (docs/operations.md \"Introspection\"). Exit 0; 1 when the admin endpoint does not\n"
         "answer (with what failed); 2 on a bad flag.\n\n" +
         subcommand_flags_table(status_option_table(scratch));
}

}  // namespace camproxy::proxy
