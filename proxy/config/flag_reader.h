#pragma once
// Reading an option table's flags from a command line and the environment: shared by camproxy
// itself (config.cc) and `camproxy wait` (wait_options.cc), so both spell flags, values and
// CAMPROXY_* variables the same way.
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config_options.h"

namespace camproxy::proxy {

using FlagValues = std::map<std::string_view, std::vector<std::string>>;  // flag -> values, in order

struct FlagRead {
  FlagValues given;
  std::string_view stop_word;        // one of the stop words, met where a flag was expected
  std::optional<std::string> error;  // why the command line is wrong
};

// Reads `--flag VALUE` and `--flag=VALUE` of the rows `find` knows (it may map another spelling
// onto a row). Stops at a stop word (--help) met where a flag is expected. An unknown flag, a
// missing value, a non-repeatable flag given twice or another word is an error.
FlagRead read_flags(int argc, const char* const* argv, const std::function<const OptionSpec*(std::string_view)>& find,
                    std::initializer_list<std::string_view> stop_words);

// The values one option gets from the command line or, failing that, from CAMPROXY_<FLAG>
// (a repeatable one's variable holds several, separated by commas).
struct OptionValues {
  std::vector<std::string> values;
  std::string source;  // "--flag" or "CAMPROXY_FLAG"
};
OptionValues given_values(const OptionSpec& opt, const FlagValues& given, const char* (*getenv_fn)(const char*));

}  // namespace camproxy::proxy
