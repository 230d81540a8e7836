// What the option table generates: --help, docs/flags.md and the key tables of docs/config.md.
#include "proxy/config/config.h"
#include "proxy/config/config_options.h"
#include "proxy/config/status_options.h"
#include "proxy/config/wait_options.h"

namespace camproxy::proxy {

std::string help_text() {
  std::string out =
      "camproxy: lets MySQL applications log in to TencentDB for MySQL with CAM authentication.\n\n"
      "Usage: camproxy --upstream HOST:PORT --region REGION --instance-id ID --db-user NAME|'*' [flags]\n"
      "       camproxy --config FILE [flags]\n"
      "       camproxy --check-config FILE [flags]   (validate, print what would run, exit 0 or 2)\n\n"
      "Applications connect to --listen with any password (or one from --users-file); camproxy logs\n"
      "in to the database with a CAM token fetched with TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY\n"
      "(and TENCENTCLOUD_SESSION_TOKEN for temporary credentials).\n\n"
      "Every flag can also be set as CAMPROXY_<FLAG> (upper case, dashes as underscores);\n"
      "a flag on the command line wins; both win over --config for a single target.\n\nFlags:\n";
  for (const auto& o : option_table()) {
    std::string head = "  --" + std::string(o.flag);
    if (!o.value_name.empty()) head += " " + std::string(o.value_name);
    out += head + "\n      " + o.help;
    if (!o.default_text.text.empty()) out += " Default: " + o.default_text.text + ".";
    out += "\n";
  }
  out +=
      "  --check-config FILE\n      Validate FILE with the flags and environment, print the targets, exit 0 (or 2 with "
      "the errors).\n";
  out += "  --help, --version\n";
  return out;
}

// The key tables of docs/config.md (between its "keys" markers).
std::string config_keys_markdown() {
  std::string out;
  for (OptionScope scope : {OptionScope::process, OptionScope::target, OptionScope::listener}) {
    if (scope == OptionScope::process) out += "Top level (process-wide):\n\n";
    if (scope == OptionScope::target) out += "\nIn each entry of `targets`:\n\n";
    if (scope == OptionScope::listener) out += "\nIn an entry of `listen` written as a map (one listener):\n\n";
    out += "| key | flag | default | meaning |\n|---|---|---|---|\n";
    if (scope == OptionScope::listener)
      out +=
          "| `address` | `--listen` | (required) | HOST:PORT or unix:/path, as a `listen` entry written as text. |\n";
    if (scope == OptionScope::target) {
      out +=
          "| `name` | | `default` (required with several targets) | Letters, digits, `-`, `_`, `.`; "
          "names the target in logs, metrics and reloads. |\n";
      out +=
          "| `accounts` | | | Map of client user name to CAM account; a user not in it is refused "
          "(1045). Excludes `account`. |\n";
      out +=
          "| `pool.max-by-account` | | | Map of CAM account (or `'*'` for every account not named) to the most "
          "database connections of that account, all workers together, within `pool.max`; at its cap an "
          "account's clients wait in the borrow queue, behind no other account's. |\n";
    }
    for (const auto& o : option_table()) {
      if (o.scope != scope || o.file_key.empty()) continue;
      out += "| `" + std::string(o.file_key) + "` | `--" + std::string(o.flag) + "` | " + o.default_text.text + " | " +
             o.help + " |\n";
    }
  }
  return out;
}

std::string flags_markdown() {
  std::string out =
      "# camproxy flags\n\n"
      "Generated from the option table in `proxy/config/config_options.cc` (a unit test fails when this file\n"
      "and the table differ). Every flag can also be given as an environment variable; the\n"
      "command line wins over the environment. The config file key column is where the setting\n"
      "goes in a `--config` file (docs/config.md): at the top level, or in each entry of `targets`.\n\n"
      "| flag | environment | config file key | default | meaning |\n|---|---|---|---|---|\n";
  for (const auto& o : option_table()) {
    std::string key = o.file_key.empty() ? "" : "`" + std::string(o.file_key) + "`";
    if (o.scope == OptionScope::target) key = "`targets[N]." + std::string(o.file_key) + "`";
    if (o.scope == OptionScope::listener) key = "`targets[N].listen[M]." + std::string(o.file_key) + "`";
    out += "| `--" + std::string(o.flag) + (o.value_name.empty() ? "" : " " + std::string(o.value_name)) + "` | `" +
           env_name(o.flag) + "` | " + key + " | " + o.default_text.text + " | " + o.help + " |\n";
  }
  out +=
      "\nCredentials come from `TENCENTCLOUD_SECRET_ID`, `TENCENTCLOUD_SECRET_KEY` and, for\n"
      "temporary credentials, `TENCENTCLOUD_SESSION_TOKEN` (alias `TENCENTCLOUD_TOKEN`).\n\n"
      "`camproxy --check-config FILE` validates a config file together with the flags and\n"
      "environment, prints the targets it would run and exits 0, or prints the errors and exits 2.\n";
  return out + wait_flags_markdown() + status_flags_markdown();
}

}  // namespace camproxy::proxy
