#include "proxy/config/config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <string_view>

#include "protocol/auth_plugins.h"

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

// A PEM public key is well under a kilobyte; anything much larger is not one.
constexpr std::streamsize kMaxRsaKeyFile = 16 * 1024;

// Reads and checks --upstream-rsa-key-file into t.upstream_rsa_public_key, so that a wrong file
// stops the start (or the reload) instead of failing logins later.
std::optional<std::string> load_upstream_rsa_key(TargetConfig& t,
                                                 const std::function<std::string(std::string_view flag)>& name) {
  t.upstream_rsa_public_key.clear();
  if (t.upstream_rsa_key_file.empty()) return std::nullopt;
  const std::string what = name("upstream-rsa-key-file") + " '" + t.upstream_rsa_key_file + "'";
  std::ifstream in(t.upstream_rsa_key_file, std::ios::binary);
  if (!in) return "cannot read " + what + ": " + std::strerror(errno);
  std::string pem(static_cast<size_t>(kMaxRsaKeyFile) + 1, '\0');
  in.read(pem.data(), kMaxRsaKeyFile + 1);
  pem.resize(static_cast<size_t>(in.gcount()));
  if (pem.size() > static_cast<size_t>(kMaxRsaKeyFile) || !protocol::is_rsa_public_key(pem))
    return what + " holds no RSA public key in PEM (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)";
  t.upstream_rsa_public_key = std::move(pem);
  return std::nullopt;
}

}  // namespace

std::string_view to_string(PoolMode m) { return m == PoolMode::transaction ? "transaction" : "session"; }

std::string_view to_string(UpstreamTlsMode m) {
  switch (m) {
    case UpstreamTlsMode::disable: return "disable";
    case UpstreamTlsMode::insecure_preferred: return "insecure-preferred";
    case UpstreamTlsMode::insecure_required: return "insecure-required";
    case UpstreamTlsMode::verify_ca: return "verify-ca";
    case UpstreamTlsMode::verify_identity: return "verify-identity";
  }
  return "?";
}

std::string HostPort::to_string() const {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                             : host + ":" + std::to_string(port);
}

std::string ListenAddress::to_string() const { return is_unix ? "unix:" + path : tcp.to_string(); }

std::optional<std::string> TargetConfig::account_for(const std::string& user) const {
  if (pass_through()) return user;
  if (!db_user.empty()) return db_user;
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
  // verify-ca checks no name: with the system CAs any public certificate would pass.
  if (t.upstream_tls == UpstreamTlsMode::verify_ca && t.upstream_ca_file.empty())
    return name("upstream-tls") + " verify-ca needs " + name("upstream-ca-file") +
           " (or use verify-identity, which also checks the name)";
  if (auto e = load_upstream_rsa_key(t, name)) return e;
  if (!t.db_user.empty() && !t.accounts.empty())
    return name("db-user") + " and accounts exclude each other: give one account for every client or a map";
  if (t.db_user.empty() && t.accounts.empty())
    return name("db-user") + " is required: the CAM account every client logs in as, or '" +
           std::string(kPassThroughAccount) + "' for each client's own user name (pass-through; docs/security.md)" +
           ", or an accounts map in a config file";
  if (t.upstream_server_name.empty()) t.upstream_server_name = t.upstream.host;
  return std::nullopt;
}

}  // namespace camproxy::proxy
