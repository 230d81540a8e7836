#pragma once
// The --config file (YAML, or JSON which is read as YAML): process-wide settings at the top
// level and a list of targets. Keys mirror the option table (config_options.h), so every value
// goes through the same parser as its flag. Unknown keys are errors, and every error names its
// key path and line, e.g. "targets[1].pool.max: expected a number from 1 to 100000, got 'ten'
// (line 14)". The format is described in docs/config.md.
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.h"

namespace camproxy::proxy {

struct ConfigFile {
  Config config;                    // defaults plus the file's settings; targets not yet finished
  std::vector<int> target_lines;    // 1-based line of each target, for later messages
  std::vector<std::string> errors;  // all of them, in file order
};

ConfigFile parse_config_text(std::string_view text);
// Reads `path` (a read error is one of the errors) and records it as config.config_file.
ConfigFile load_config_file(const std::string& path);

// Checks across targets: names and listen addresses must not repeat.
std::optional<std::string> check_targets_apart(const std::vector<TargetConfig>& targets, const std::vector<int>& lines);

// What --check-config prints: process settings, each target's listeners, upstream and accounts.
// File paths, never their contents.
std::string describe_config(const Config& c);

}  // namespace camproxy::proxy
