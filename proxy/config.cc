#include "proxy/config.h"

#include <map>
#include <string_view>

#include "proxy/config_file.h"
#include "proxy/config_options.h"
#include "proxy/listen_policy.h"
#include "proxy/version.h"

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

ParseResult usage_error(std::string msg) {
  ParseResult r;
  r.outcome = ParseOutcome::exit_usage;
  r.message = "camproxy: " + std::move(msg) + " (see camproxy --help)";
  return r;
}

}  // namespace

std::string HostPort::to_string() const {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                             : host + ":" + std::to_string(port);
}

std::string ListenAddress::to_string() const { return is_unix ? "unix:" + path : tcp.to_string(); }

std::optional<std::string> TargetConfig::account_for(const std::string& user) const {
  if (!db_user.empty()) return db_user;
  if (accounts.empty()) return user;
  auto it = accounts.find(user);
  if (it == accounts.end()) return std::nullopt;
  return it->second;
}

namespace {

// The values one option gets from the command line or, failing that, the environment.
struct GivenValues {
  std::vector<std::string> values;
  std::string source;  // "--flag" or "CAMPROXY_FLAG"
};

GivenValues values_for(const OptionSpec& opt, const std::map<std::string_view, std::vector<std::string>>& given,
                       const char* (*getenv_fn)(const char*)) {
  GivenValues g;
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

ParseResult file_errors(const std::string& path, const std::vector<std::string>& errors) {
  ParseResult r;
  r.outcome = ParseOutcome::exit_usage;
  for (const auto& e : errors) r.message += (r.message.empty() ? "" : "\n") + ("camproxy: " + path + ": " + e);
  return r;
}

}  // namespace

// Override rule (docs/config.md): flags and CAMPROXY_* variables win over the file. A
// process-wide one always applies; a per-target one applies to the file's only target and is
// an error when the file has several (it could not say which). A repeatable one (--listen)
// replaces the file's list instead of adding to it.
ParseResult parse_command_line(int argc, const char* const* argv, const char* (*getenv_fn)(const char*)) {
  std::map<std::string_view, std::vector<std::string>> given;  // flag -> values, in order
  bool check_only = false;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return {ParseOutcome::exit_ok, {}, help_text()};
    if (arg == "--version") return {ParseOutcome::exit_ok, {}, std::string("camproxy ") + kVersion + "\n"};
    if (!arg.starts_with("--")) return usage_error("unexpected argument '" + std::string(arg) + "'");
    arg.remove_prefix(2);
    std::string_view value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    const bool is_check = arg == "check-config";  // --config FILE, then print instead of run
    const OptionSpec* opt = find_option_by_flag(is_check ? "config" : arg);
    if (!opt) return usage_error("unknown flag --" + std::string(arg));
    check_only = check_only || is_check;
    if (!has_value) {
      if (i + 1 >= argc)
        return usage_error("--" + std::string(arg) + " needs a value (" + std::string(opt->value_name) + ")");
      value = argv[++i];
    }
    auto& vals = given[opt->flag];
    if (!vals.empty() && !opt->repeatable) return usage_error("--" + std::string(arg) + " given more than once");
    vals.emplace_back(value);
  }

  ParseResult result;
  Config& c = result.config;
  std::vector<int> target_lines;
  const auto file = values_for(*find_option_by_flag("config"), given, getenv_fn);
  if (!file.values.empty()) {
    ConfigFile loaded = load_config_file(file.values.front());
    if (!loaded.errors.empty()) return file_errors(file.values.front(), loaded.errors);
    c = std::move(loaded.config);
    target_lines = std::move(loaded.target_lines);
  } else {
    c.targets.emplace_back();
  }
  for (const auto& opt : option_table()) {
    auto g = values_for(opt, given, getenv_fn);
    if (g.values.empty() || opt.flag == "config") continue;
    if (opt.scope != OptionScope::process && c.targets.size() != 1)
      return usage_error(g.source + " sets a per-target setting, but " + c.config_file + " has " +
                         std::to_string(c.targets.size()) + " targets: set it in the file (targets[N]." +
                         std::string(opt.file_key) + ")");
    TargetConfig& t = c.targets.front();
    if (opt.flag == "listen" && !c.config_file.empty()) t.listen.clear();  // flags replace the file's list
    for (const auto& v : g.values) {
      if (auto err = opt.apply(c, t, v)) return usage_error(g.source + ": " + *err);
    }
  }

  for (size_t i = 0; i < c.targets.size(); ++i) {
    if (c.config_file.empty()) {
      if (auto e = finish_target(c.targets[i], [](std::string_view flag) { return "--" + std::string(flag); }))
        return usage_error(*e);
      continue;
    }
    const std::string prefix = "targets[" + std::to_string(i) + "].";
    auto e = finish_target(c.targets[i], [&prefix](std::string_view flag) {
      return prefix + std::string(find_option_by_flag(flag)->file_key);
    });
    if (e) return file_errors(c.config_file, {*e + " (line " + std::to_string(target_lines.at(i)) + ")"});
  }
  if (auto e = check_targets_apart(c.targets, target_lines)) return file_errors(c.config_file, {*e});
  if (check_only) {
    result.outcome = ParseOutcome::check_ok;
    result.message = describe_config(c);
  }
  return result;
}

std::optional<std::string> finish_target(TargetConfig& t,
                                         const std::function<std::string(std::string_view flag)>& name) {
  if (t.upstream.host.empty()) return name("upstream") + " is required (HOST:PORT of the database)";
  if (t.region.empty()) return name("region") + " is required (e.g. ap-guangzhou)";
  if (t.instance_id.empty()) return name("instance-id") + " is required (e.g. cdb-12dd3d)";
  if (t.listen.empty()) {
    ListenAddress fallback;
    fallback.tcp = HostPort{std::string(kDefaultListenHost), kDefaultListenPort};
    t.listen.push_back(std::move(fallback));
  }
  if (auto e = check_listeners(t.listen, t.local_auth, t.client_tls, name)) return e;
  if (t.client_tls_cert.empty() != t.client_tls_key.empty())
    return name("client-tls-cert") + " and " + name("client-tls-key") + " go together";
  if ((t.upstream_tls == UpstreamTlsMode::verify_ca || t.upstream_tls == UpstreamTlsMode::verify_identity) &&
      t.upstream_ca_file.empty())
    return name("upstream-tls") + " verify-ca/verify-identity needs " + name("upstream-ca-file");
  if (!t.db_user.empty() && !t.accounts.empty())
    return name("db-user") + " and accounts exclude each other: give one account for every client or a map";
  if (t.upstream_server_name.empty()) t.upstream_server_name = t.upstream.host;
  return std::nullopt;
}

}  // namespace camproxy::proxy
