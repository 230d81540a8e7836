#include "proxy/config.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <string_view>
#include <type_traits>

#include "proxy/config_file.h"
#include "proxy/config_options.h"
#include "proxy/listen_policy.h"
#include "proxy/version.h"

namespace camproxy::proxy {
namespace {

template <class S>
S& pick(Config& c, TargetConfig& t) {
  if constexpr (std::is_same_v<S, Config>) {
    return c;
  } else {
    return t;
  }
}

std::optional<uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

std::optional<HostPort> parse_host_port(std::string_view s) {
  HostPort hp;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {  // [v6]:port
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    hp.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    hp.host = std::string(s.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) return std::nullopt;  // bare IPv6 needs brackets
    port = s.substr(colon + 1);
  }
  auto p = parse_port(port);
  if (!p || hp.host.empty()) return std::nullopt;
  hp.port = *p;
  return hp;
}

// Durations up to a year: longer is a typo, and far longer would overflow the multiplication
// below (found by the config_file fuzz target).
constexpr long long kMaxDurationMs = 366LL * 24 * 3600 * 1000;

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || v < 0) return std::nullopt;
  std::string_view unit(p, static_cast<size_t>(s.data() + s.size() - p));
  long long unit_ms = 0;
  if (unit == "ms")
    unit_ms = 1;
  else if (unit == "s" || unit.empty())
    unit_ms = 1000;
  else if (unit == "m")
    unit_ms = 60000;
  else if (unit == "h")
    unit_ms = 3600000;
  if (unit_ms == 0 || v > kMaxDurationMs / unit_ms) return std::nullopt;
  return std::chrono::milliseconds(v * unit_ms);
}

std::optional<std::string> need_non_empty(std::string_view what, std::string_view v) {
  if (v.empty()) return std::string(what) + " must not be empty";
  return std::nullopt;
}

template <class S>
Apply set_string(std::string S::*field, std::string_view what) {
  return [field, what](Config& c, TargetConfig& t, std::string_view v) -> std::optional<std::string> {
    if (auto e = need_non_empty(what, v)) return e;
    pick<S>(c, t).*field = std::string(v);
    return std::nullopt;
  };
}

template <class S>
Apply set_int(int S::*field, int min, int max) {
  return [field, min, max](Config& c, TargetConfig& t, std::string_view v) -> std::optional<std::string> {
    int n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < min || n > max)
      return "expected a number from " + std::to_string(min) + " to " + std::to_string(max) + ", got '" +
             std::string(v) + "'";
    pick<S>(c, t).*field = n;
    return std::nullopt;
  };
}

template <class S>
Apply set_duration_or_zero(std::chrono::milliseconds S::*field) {
  return [field](Config& c, TargetConfig& t, std::string_view v) -> std::optional<std::string> {
    auto d = parse_duration(v);
    if (!d) return "expected a duration such as 0s, 500ms, 10s or 2m (at most a year), got '" + std::string(v) + "'";
    pick<S>(c, t).*field = *d;
    return std::nullopt;
  };
}

template <class S>
Apply set_duration(std::chrono::milliseconds S::*field) {
  return [field](Config& c, TargetConfig& t, std::string_view v) -> std::optional<std::string> {
    auto d = parse_duration(v);
    if (!d || d->count() == 0)
      return "expected a positive duration such as 500ms, 10s or 2m (at most a year), got '" + std::string(v) + "'";
    pick<S>(c, t).*field = *d;
    return std::nullopt;
  };
}

std::optional<std::string> apply_listen(Config&, TargetConfig& t, std::string_view v) {
  ListenAddress a;
  if (v.starts_with("unix:")) {
    a.is_unix = true;
    a.path = std::string(v.substr(5));
    if (a.path.empty() || a.path.front() != '/') return "expected unix:/absolute/path, got '" + std::string(v) + "'";
  } else {
    auto hp = parse_host_port(v);
    if (!hp) return "expected HOST:PORT or unix:/path, got '" + std::string(v) + "'";
    a.tcp = *hp;  // a non-loopback address is checked with the other settings (listen_policy.h)
  }
  t.listen.push_back(std::move(a));
  return std::nullopt;
}

// The per-listener flags below fill every listener given so far: the option table applies
// --listen first.
std::optional<std::string> for_unix_listeners(TargetConfig& t, std::string_view flag,
                                              const std::function<void(ListenAddress&)>& set) {
  bool any = false;
  for (auto& l : t.listen) {
    if (!l.is_unix) continue;
    set(l);
    any = true;
  }
  if (!any) return std::string(flag) + " applies to unix:/path listeners, and none is given";
  return std::nullopt;
}

std::optional<std::string> apply_unix_mode(Config&, TargetConfig& t, std::string_view v) {
  unsigned mode = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), mode, 8);
  if (ec != std::errc() || p != v.data() + v.size() || v.size() < 3 || mode > 0777)
    return "expected an octal mode such as 0660 or 600, got '" + std::string(v) + "'";
  return for_unix_listeners(t, "--unix-socket-mode", [mode](ListenAddress& l) { l.unix_mode = mode; });
}

std::optional<std::string> apply_unix_owner(Config&, TargetConfig& t, std::string_view v) {
  const auto colon = v.find(':');
  if (v.empty() || colon == 0 || (colon != std::string_view::npos && colon + 1 == v.size()))
    return "expected USER or USER:GROUP (names or numbers), got '" + std::string(v) + "'";
  return for_unix_listeners(t, "--unix-socket-owner", [v](ListenAddress& l) { l.unix_owner = std::string(v); });
}

std::optional<std::string> apply_peer_uid(Config&, TargetConfig& t, std::string_view v) {
  uint32_t uid = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), uid);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty())
    return "expected a numeric uid, got '" + std::string(v) + "'";
  // Every listener, TCP ones too: listen_policy.h refuses an allow-list on a TCP listener
  // instead of silently not applying it.
  if (t.listen.empty()) return "--allow-peer-uid needs a unix:/path listener (--listen)";
  for (auto& l : t.listen) l.allowed_peer_uids.push_back(uid);
  return std::nullopt;
}

}  // namespace

const std::vector<OptionSpec>& option_table() {
  static const std::vector<OptionSpec> table = {
      {"config", "", OptionScope::process, "FILE", "none",
       "Config file (YAML or JSON; docs/config.md): several targets, account maps; re-read on SIGHUP. "
       "The flags below override it for a single target.",
       false,
       [](Config& c, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         if (auto e = need_non_empty("config file", v)) return e;
         c.config_file = std::string(v);
         return std::nullopt;
       }},
      {"upstream", "upstream", OptionScope::target, "HOST:PORT", "(required)",
       "The TencentDB for MySQL instance to log in to.", false,
       [](Config&, TargetConfig& t, std::string_view v) -> std::optional<std::string> {
         auto hp = parse_host_port(v);
         if (!hp) return "expected HOST:PORT, got '" + std::string(v) + "'";
         t.upstream = *hp;
         return std::nullopt;
       }},
      {"region", "region", OptionScope::target, "REGION", "(required)",
       "Region of the instance, e.g. ap-guangzhou (CAM ResourceRegion).", false,
       set_string(&TargetConfig::region, "region")},
      {"instance-id", "instance-id", OptionScope::target, "ID", "(required)",
       "Instance id, e.g. cdb-12dd3d (CAM ResourceId).", false, set_string(&TargetConfig::instance_id, "instance id")},
      {"listen", "listen", OptionScope::target, "ADDR", "127.0.0.1:3306",
       "Where applications connect: HOST:PORT or unix:/path. Repeatable; in CAMPROXY_LISTEN separate "
       "several with commas. A non-loopback HOST needs --users-file and --client-tls on.",
       true, apply_listen},
      // Per-listener settings: flags fill every listener of --listen (applied before them); a
      // config file gives them to one listen entry.
      {"unix-socket-mode", "mode", OptionScope::listener, "OCTAL", "0660",
       "Permission bits of the unix socket files of --listen.", false, apply_unix_mode},
      {"unix-socket-owner", "owner", OptionScope::listener, "USER[:GROUP]", "camproxy's own user and group",
       "Owner of the unix socket files of --listen, by name or number (changing the user needs root or "
       "CAP_CHOWN).",
       false, apply_unix_owner},
      {"allow-peer-uid", "allow-peer-uids", OptionScope::listener, "UID", "any peer",
       "Only processes of this uid may connect through the unix sockets (checked with SO_PEERCRED); "
       "others get error 9006. Repeatable. Refused together with a TCP listener.",
       true, apply_peer_uid},
      {"db-user", "account", OptionScope::target, "NAME", "the client's user name",
       "The CAM-enabled database account to log in as (CAM ResourceAccount).", false,
       set_string(&TargetConfig::db_user, "db user")},
      {"cam-endpoint", "cam.endpoint", OptionScope::process, "URL", "https://cam.tencentcloudapi.com",
       "CAM API endpoint. http:// is accepted only for a loopback host (tests, emulators).", false,
       set_string(&Config::cam_endpoint, "cam endpoint")},
      {"cam-ca-file", "cam.ca-file", OptionScope::process, "PATH", "system CAs",
       "CA bundle used to verify the CAM endpoint.", false, set_string(&Config::cam_ca_file, "cam ca file")},
      {"cam-timeout", "cam.timeout", OptionScope::process, "DURATION", "10s", "Timeout of one CAM API call.", false,
       set_duration(&Config::cam_timeout)},
      {"token-recheck-interval", "cam.token-recheck-interval", OptionScope::process, "DURATION", "off",
       "Also ask CAM at this interval between rotations, to notice a \"Refresh Password\" before a login "
       "does. Minutes, not seconds: each process calls CAM that often.",
       false,
       [](Config& c, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         if (v == "off") {
           c.token_recheck_interval = std::chrono::milliseconds(0);
           return std::nullopt;
         }
         auto d = parse_duration(v);
         if (!d || *d < std::chrono::seconds(1))
           return "expected off or a duration such as 5m, got '" + std::string(v) + "'";
         c.token_recheck_interval = *d;
         return std::nullopt;
       }},
      {"fallback-password-file", "fallback-password-file", OptionScope::target, "PATH", "none",
       "Password used when the token has expired and CAM keeps failing with a transient error: one line, "
       "at most 200 bytes, not readable by others.",
       false, set_string(&TargetConfig::fallback_password_file, "fallback password file")},
      {"credential-source", "credentials.source", OptionScope::process, "SOURCE", "auto",
       "Where the API credential comes from: auto (env, then profile file, then TKE OIDC, then CVM role), env, "
       "profile, tke-oidc or cvm-role.",
       false,
       [](Config& c, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         if (v != "auto" && v != "env" && v != "profile" && v != "tke-oidc" && v != "cvm-role")
           return "expected auto, env, profile, tke-oidc or cvm-role, got '" + std::string(v) + "'";
         c.credential_source = std::string(v);
         return std::nullopt;
       }},
      {"credentials-file", "credentials.file", OptionScope::process, "PATH",
       "$TENCENTCLOUD_CREDENTIALS_FILE, ~/.tencentcloud/credentials, /etc/tencentcloud/credentials",
       "Profile file ([default] secret_id, secret_key); re-read when it changes on disk.", false,
       set_string(&Config::credentials_file, "credentials file")},
      {"metadata-endpoint", "credentials.metadata-endpoint", OptionScope::process, "URL",
       "http://metadata.tencentyun.com", "CVM metadata service (instance role).", false,
       set_string(&Config::metadata_endpoint, "metadata endpoint")},
      {"sts-endpoint", "credentials.sts-endpoint", OptionScope::process, "URL", "https://sts.tencentcloudapi.com",
       "STS endpoint for TKE OIDC (AssumeRoleWithWebIdentity).", false,
       set_string(&Config::sts_endpoint, "sts endpoint")},
      {"upstream-tls", "upstream-tls.mode", OptionScope::target, "MODE", "preferred",
       "TLS to the database: disable, preferred, required, verify-ca or verify-identity.", false,
       [](Config&, TargetConfig& t, std::string_view v) -> std::optional<std::string> {
         static const std::map<std::string_view, UpstreamTlsMode> modes = {
             {"disable", UpstreamTlsMode::disable},
             {"preferred", UpstreamTlsMode::preferred},
             {"required", UpstreamTlsMode::required},
             {"verify-ca", UpstreamTlsMode::verify_ca},
             {"verify-identity", UpstreamTlsMode::verify_identity}};
         auto it = modes.find(v);
         if (it == modes.end())
           return "expected disable, preferred, required, verify-ca or verify-identity, got '" + std::string(v) + "'";
         t.upstream_tls = it->second;
         return std::nullopt;
       }},
      {"upstream-ca-file", "upstream-tls.ca-file", OptionScope::target, "PATH", "system CAs",
       "CA bundle that signs the database's certificate (verify-ca, verify-identity).", false,
       set_string(&TargetConfig::upstream_ca_file, "upstream ca file")},
      {"upstream-server-name", "upstream-tls.server-name", OptionScope::target, "NAME", "the --upstream host",
       "Host name the database certificate must match with verify-identity; also sent as SNI.", false,
       set_string(&TargetConfig::upstream_server_name, "upstream server name")},
      {"admin", "admin", OptionScope::process, "ADDR", "127.0.0.1:9306",
       "Admin HTTP endpoint (/healthz, /readyz) on a loopback address, or 'off'.", false,
       [](Config& c, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         if (v == "off") {
           c.admin.reset();
           return std::nullopt;
         }
         auto hp = parse_host_port(v);
         if (!hp) return "expected HOST:PORT or off, got '" + std::string(v) + "'";
         if (!is_loopback_host(hp->host))
           return "the admin endpoint must listen on a loopback address, got '" + std::string(v) + "'";
         c.admin = *hp;
         return std::nullopt;
       }},
      {"client-tls", "client-tls.enabled", OptionScope::target, "on|off", "on",
       "Offer TLS to applications (MySQL 8 clients use it when offered).", false,
       [](Config&, TargetConfig& t, std::string_view v) -> std::optional<std::string> {
         if (v != "on" && v != "off") return "expected on or off, got '" + std::string(v) + "'";
         t.client_tls = v == "on";
         return std::nullopt;
       }},
      {"users-file", "local-auth.users-file", OptionScope::target, "PATH", "none (any password is accepted)",
       "Local authentication: applications must log in with a user and password from this file "
       "(name:hashes lines from camproxy hash-password, or name:plain:password); not readable by others. "
       "Needed for a non-loopback --listen.",
       false,
       [](Config&, TargetConfig& t, std::string_view v) -> std::optional<std::string> {
         if (auto e = need_non_empty("users file", v)) return e;
         t.local_auth.users_file = std::string(v);
         return std::nullopt;
       }},
      {"client-tls-cert", "client-tls.cert", OptionScope::target, "PATH", "self-signed, made at start",
       "PEM certificate offered to applications.", false,
       set_string(&TargetConfig::client_tls_cert, "client tls cert")},
      {"client-tls-key", "client-tls.key", OptionScope::target, "PATH", "", "PEM private key of --client-tls-cert.",
       false, set_string(&TargetConfig::client_tls_key, "client tls key")},
      {"workers", "workers", OptionScope::process, "N", "number of cores",
       "Worker event loops that carry client sessions.", false, set_int(&Config::workers, 1, 256)},
      {"max-client-connections", "limits.max-client-connections", OptionScope::process, "N", "10000",
       "Most application connections at once; beyond it a new one gets error 1040 (Too many connections).", false,
       set_int(&Config::max_client_connections, 1, 1000000)},
      {"core-dumps", "core-dumps", OptionScope::process, "on|off", "off",
       "Allow core dumps of camproxy (they would hold tokens and keys): off sets PR_SET_DUMPABLE to 0.", false,
       [](Config& c, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         if (v != "on" && v != "off") return "expected on or off, got '" + std::string(v) + "'";
         c.core_dumps = v == "on";
         return std::nullopt;
       }},
      {"pool-min-idle", "pool.min-idle", OptionScope::target, "N", "2",
       "Logged-in database connections kept ready for new clients (0 disables the pool's warm-up).", false,
       set_int(&TargetConfig::pool_min_idle, 0, 10000)},
      {"pool-max", "pool.max", OptionScope::target, "N", "200",
       "Most database connections open at once (in use and idle).", false, set_int(&TargetConfig::pool_max, 1, 100000)},
      {"pool-idle-timeout", "pool.idle-timeout", OptionScope::target, "DURATION", "auto",
       "An idle pooled connection is closed after this long. auto: 5m. Either way camproxy reads the server's "
       "wait_timeout and closes idle connections before the server would (a longer value is clamped, with a "
       "warning).",
       false,
       [](Config&, TargetConfig& t,
          std::string_view v) -> std::
                                  optional<std::string> {
                                    t.pool_idle_timeout_auto = v == "auto";
                                    if (t.pool_idle_timeout_auto) {
                                      t.pool_idle_timeout = TargetConfig{}.pool_idle_timeout;
                                      return std::nullopt;
                                    }
                                    auto d = parse_duration(v);
                                    if (!d || d->count() == 0)
                                      return "expected auto or a positive duration such as 30s or 5m, got '" +
                                             std::string(v) + "'";
                                    t.pool_idle_timeout = *d;
                                    return std::nullopt;
                                  }},
      {"pool-max-lifetime", "pool.max-lifetime", OptionScope::target, "DURATION", "1h",
       "A pooled connection is closed after this long, used or not.", false,
       set_duration(&TargetConfig::pool_max_lifetime)},
      {"reconnect-window", "reconnect-window", OptionScope::target, "DURATION", "30s",
       "How long an idle session whose database connection died keeps trying to get a new one before "
       "its client gets an error.",
       false, set_duration(&TargetConfig::reconnect_window)},
      {"min-sigterm-delay", "sigterm.min-delay", OptionScope::process, "DURATION", "0s",
       "After SIGTERM (or POST /quitquitquit) keep accepting new connections this long, while the "
       "application itself shuts down; /readyz already answers 503.",
       false, set_duration_or_zero(&Config::min_sigterm_delay)},
      {"max-sigterm-delay", "sigterm.max-delay", OptionScope::process, "DURATION", "30s",
       "Then give open sessions up to this long to finish their transactions before exiting; idle "
       "sessions are closed at once.",
       false, set_duration_or_zero(&Config::max_sigterm_delay)},
      {"connect-timeout", "connect-timeout", OptionScope::target, "DURATION", "5s",
       "Timeout for connecting and logging in to the database.", false, set_duration(&TargetConfig::connect_timeout)},
      {"handshake-timeout", "handshake-timeout", OptionScope::target, "DURATION", "10s",
       "Time an application gets to complete its login.", false, set_duration(&TargetConfig::handshake_timeout)},
      {"log-level", "log.level", OptionScope::process, "LEVEL", "info", "debug, info, warn or error.", false,
       [](Config& c, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         static const std::map<std::string_view, LogLevel> levels = {{"debug", LogLevel::debug},
                                                                     {"info", LogLevel::info},
                                                                     {"warn", LogLevel::warn},
                                                                     {"error", LogLevel::error}};
         auto it = levels.find(v);
         if (it == levels.end()) return "expected debug, info, warn or error, got '" + std::string(v) + "'";
         c.log_level = it->second;
         return std::nullopt;
       }},
      {"log-format", "log.format", OptionScope::process, "FORMAT", "json", "json or text.", false,
       [](Config& c, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         if (v != "json" && v != "text") return "expected json or text, got '" + std::string(v) + "'";
         c.log_format = v == "json" ? LogFormat::json : LogFormat::text;
         return std::nullopt;
       }},
  };
  return table;
}

std::string env_name(std::string_view flag) {
  std::string name = "CAMPROXY_";
  for (char ch : flag)
    name.push_back(ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  return name;
}

const OptionSpec* find_option_by_file_key(OptionScope scope, std::string_view key) {
  for (const auto& o : option_table())
    if (o.scope == scope && !o.file_key.empty() && o.file_key == key) return &o;
  return nullptr;
}

namespace {

const OptionSpec* find_option(std::string_view flag) {
  for (const auto& o : option_table())
    if (o.flag == flag) return &o;
  return nullptr;
}

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
    const OptionSpec* opt = find_option(is_check ? "config" : arg);
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
  const auto file = values_for(*find_option("config"), given, getenv_fn);
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
    auto e = finish_target(
        c.targets[i], [&prefix](std::string_view flag) { return prefix + std::string(find_option(flag)->file_key); });
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
    fallback.tcp = HostPort{"127.0.0.1", 3306};
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

std::string help_text() {
  std::string out =
      "camproxy: lets MySQL applications log in to TencentDB for MySQL with CAM authentication.\n\n"
      "Usage: camproxy --upstream HOST:PORT --region REGION --instance-id ID [flags]\n"
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
    out += head + "\n      " + std::string(o.help);
    if (!o.default_text.empty()) out += " Default: " + std::string(o.default_text) + ".";
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
    }
    for (const auto& o : option_table()) {
      if (o.scope != scope || o.file_key.empty()) continue;
      out += "| `" + std::string(o.file_key) + "` | `--" + std::string(o.flag) + "` | " + std::string(o.default_text) +
             " | " + std::string(o.help) + " |\n";
    }
  }
  return out;
}

std::string flags_markdown() {
  std::string out =
      "# camproxy flags\n\n"
      "Generated from the option table in `proxy/config.cc` (a unit test fails when this file\n"
      "and the table differ). Every flag can also be given as an environment variable; the\n"
      "command line wins over the environment. The config file key column is where the setting\n"
      "goes in a `--config` file (docs/config.md): at the top level, or in each entry of `targets`.\n\n"
      "| flag | environment | config file key | default | meaning |\n|---|---|---|---|---|\n";
  for (const auto& o : option_table()) {
    std::string key = o.file_key.empty() ? "" : "`" + std::string(o.file_key) + "`";
    if (o.scope == OptionScope::target) key = "`targets[N]." + std::string(o.file_key) + "`";
    if (o.scope == OptionScope::listener) key = "`targets[N].listen[M]." + std::string(o.file_key) + "`";
    out += "| `--" + std::string(o.flag) + (o.value_name.empty() ? "" : " " + std::string(o.value_name)) + "` | `" +
           env_name(o.flag) + "` | " + key + " | " + std::string(o.default_text) + " | " + std::string(o.help) + " |\n";
  }
  out +=
      "\nCredentials come from `TENCENTCLOUD_SECRET_ID`, `TENCENTCLOUD_SECRET_KEY` and, for\n"
      "temporary credentials, `TENCENTCLOUD_SESSION_TOKEN` (alias `TENCENTCLOUD_TOKEN`).\n\n"
      "`camproxy --check-config FILE` validates a config file together with the flags and\n"
      "environment, prints the targets it would run and exits 0, or prints the errors and exits 2.\n";
  return out;
}

}  // namespace camproxy::proxy
