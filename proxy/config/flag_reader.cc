#include "proxy/config/flag_reader.h"

#include <algorithm>

namespace camproxy::proxy {
namespace {

std::vector<std::string_view> split_commas(std::string_view v) {
  std::vector<std::string_view> parts;
  while (true) {
    auto comma = v.find(',');
    parts.push_back(v.substr(0, comma));
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return parts;
}

}  // namespace

FlagRead read_flags(int argc, const char* const* argv, const std::function<const OptionSpec*(std::string_view)>& find,
                    std::initializer_list<std::string_view> stop_words) {
  FlagRead r;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (std::find(stop_words.begin(), stop_words.end(), arg) != stop_words.end()) {
      r.stop_word = arg;
      return r;
    }
    if (!arg.starts_with("--")) {
      r.error = "unexpected argument '" + std::string(arg) + "'";
      return r;
    }
    arg.remove_prefix(2);
    std::string_view value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    const OptionSpec* opt = find(arg);
    if (!opt) {
      r.error = "unknown flag --" + std::string(arg);
      return r;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        r.error = "--" + std::string(arg) + " needs a value (" + std::string(opt->value_name) + ")";
        return r;
      }
      value = argv[++i];
    }
    auto& vals = r.given[opt->flag];
    if (!vals.empty() && !opt->repeatable) {
      r.error = "--" + std::string(arg) + " given more than once";
      return r;
    }
    vals.emplace_back(value);
  }
  return r;
}

OptionValues given_values(const OptionSpec& opt, const FlagValues& given, const char* (*getenv_fn)(const char*)) {
  OptionValues g;
  if (auto it = given.find(opt.flag); it != given.end()) {
    g.values = it->second;
    g.source = "--" + std::string(opt.flag);
  } else if (const char* env = getenv_fn(env_name(opt.flag).c_str()); env != nullptr && *env != '\0') {
    g.source = env_name(opt.flag);
    if (opt.repeatable) {
      for (auto part : split_commas(env)) g.values.emplace_back(part);
    } else {
      g.values.emplace_back(env);
    }
  }
  return g;
}

}  // namespace camproxy::proxy
