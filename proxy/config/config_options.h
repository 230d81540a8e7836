#pragma once
// The option table (config_options.cc) behind both the command line (config.cc) and the config file
// (config_file.cc): one row per setting, with its flag, its key in a config file and the one
// parser of its value. Internal to the config code and its tests.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.h"

namespace camproxy::proxy {

// Process-wide options write into Config, per-target options into a TargetConfig. Per-listener
// options also write into the TargetConfig, into every listener of its listen list: as flags
// they apply to all of --listen; in a file they go in one listen entry written as a map
// ({address: ..., key: value}), applied to that listener alone.
enum class OptionScope { process, target, listener };
using Apply = std::function<std::optional<std::string>(Config&, TargetConfig&, std::string_view)>;

// An option's default as --help and the docs show it: a value its parser accepts, or words for a
// default that is no value ("number of cores", "(required)").
struct DefaultText {
  std::string text;
  bool is_value = false;
};

struct OptionSpec {
  std::string_view flag;      // without the leading "--"
  std::string_view file_key;  // dotted key in a config file (inside a target for target options); empty: none
  OptionScope scope;
  std::string_view value_name;  // empty for switches
  DefaultText default_text;
  std::string help;
  bool repeatable;
  Apply apply;
};

const std::vector<OptionSpec>& option_table();
const OptionSpec* find_option_by_flag(std::string_view flag);
const OptionSpec* find_option_by_file_key(OptionScope scope, std::string_view key);
std::string env_name(std::string_view flag);

// Checks one target after every source was applied and fills its derived defaults. `name`
// spells a setting for the message: "--upstream" on the command line, "targets[0].upstream"
// in a file.
std::optional<std::string> finish_target(TargetConfig& t,
                                         const std::function<std::string(std::string_view flag)>& name);

}  // namespace camproxy::proxy
