#include "proxy/config/config.h"

#include <map>
#include <string_view>

#include "proxy/config/config_file.h"
#include "proxy/config/config_options.h"
#include "proxy/config/file_safety.h"
#include "proxy/config/flag_reader.h"
#include "proxy/config/listen_policy.h"
#include "proxy/ops/version.h"

namespace camproxy::proxy {
namespace {

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
  bool check_only = false;
  const auto find = [&check_only](std::string_view flag) {
    const bool is_check = flag == "check-config";  // --config FILE, then print instead of run
    check_only = check_only || is_check;
    return find_option_by_flag(is_check ? "config" : flag);
  };
  const FlagRead read = read_flags(argc, argv, find, {"--help", "-h", "--version"});
  if (read.error) return usage_error(*read.error);
  if (read.stop_word == "--version") return {ParseOutcome::exit_ok, {}, std::string("camproxy ") + kVersion + "\n"};
  if (!read.stop_word.empty()) return {ParseOutcome::exit_ok, {}, help_text()};
  const FlagValues& given = read.given;

  ParseResult result;
  Config& c = result.config;
  std::vector<int> target_lines;
  const auto file = given_values(*find_option_by_flag("config"), given, getenv_fn);
  if (!file.values.empty()) {
    ConfigFile loaded = load_config_file(file.values.front());
    if (!loaded.errors.empty()) return file_errors(file.values.front(), loaded.errors);
    c = std::move(loaded.config);
    target_lines = std::move(loaded.target_lines);
  } else {
    c.targets.emplace_back();
  }
  for (const auto& opt : option_table()) {
    auto g = given_values(opt, given, getenv_fn);
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
  if (const FileCheck files = check_trusted_files(c); !files.refusals.empty()) {
    result.outcome = ParseOutcome::exit_usage;
    for (const auto& r : files.refusals)
      result.message += std::string(result.message.empty() ? "" : "\n") + "camproxy: " + r;
    return result;
  }
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
