// The option table: every setting of camproxy with its flag, config file key, default, help
// and parser (config_options.h).
#include "proxy/config/config_options.h"

#include <charconv>
#include <cstdio>
#include <map>
#include <type_traits>

#include "proxy/config/config_values.h"
#include "proxy/config/listen_policy.h"

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

DefaultText value(std::string text) { return {std::move(text), true}; }
DefaultText note(std::string_view text) { return {std::string(text), false}; }
std::string on_off(bool on) { return on ? "on" : "off"; }

std::string octal(uint32_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", mode);
  return buf;
}

}  // namespace

// The defaults shown are printed from the fields' initializers (config.h), so each is written
// once; those written as words here are checked against the fields by config_test.cc.
const std::vector<OptionSpec>& option_table() {
  const Config kProcess;
  const TargetConfig kTarget;
  static const std::vector<OptionSpec> table = {
      {"config", "", OptionScope::process, "FILE", note("none"),
       "Config file (YAML or JSON; docs/config.md): several targets, account maps; re-read on SIGHUP. "
       "The flags below override it for a single target.",
       false,
       [](Config& c, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         if (auto e = need_non_empty("config file", v)) return e;
         c.config_file = std::string(v);
         return std::nullopt;
       }},
      {"upstream", "upstream", OptionScope::target, "HOST:PORT", note("(required)"),
       "The TencentDB for MySQL instance to log in to.", false,
       [](Config&, TargetConfig& t, std::string_view v) -> std::optional<std::string> {
         auto hp = parse_host_port(v);
         if (!hp) return "expected HOST:PORT, got '" + std::string(v) + "'";
         t.upstream = *hp;
         return std::nullopt;
       }},
      {"region", "region", OptionScope::target, "REGION", note("(required)"),
       "Region of the instance, e.g. ap-guangzhou (CAM ResourceRegion).", false,
       set_string(&TargetConfig::region, "region")},
      {"instance-id", "instance-id", OptionScope::target, "ID", note("(required)"),
       "Instance id, e.g. cdb-12dd3d (CAM ResourceId).", false, set_string(&TargetConfig::instance_id, "instance id")},
      {"listen", "listen", OptionScope::target, "ADDR",
       value(HostPort{std::string(kDefaultListenHost), kDefaultListenPort}.to_string()),
       "Where applications connect: HOST:PORT or unix:/path. Repeatable; in CAMPROXY_LISTEN separate "
       "several with commas. A non-loopback HOST needs --users-file and --client-tls on.",
       true, apply_listen},
      // Per-listener settings: flags fill every listener of --listen (applied before them); a
      // config file gives them to one listen entry.
      {"unix-socket-mode", "mode", OptionScope::listener, "OCTAL", value(octal(ListenAddress{}.unix_mode)),
       "Permission bits of the unix socket files of --listen.", false, apply_unix_mode},
      {"unix-socket-owner", "owner", OptionScope::listener, "USER[:GROUP]", note("camproxy's own user and group"),
       "Owner of the unix socket files of --listen, by name or number (changing the user needs root or "
       "CAP_CHOWN).",
       false, apply_unix_owner},
      {"allow-peer-uid", "allow-peer-uids", OptionScope::listener, "UID", note("any peer"),
       "Only processes of this uid may connect through the unix sockets (checked with SO_PEERCRED); "
       "others get error 9006. Repeatable. Refused together with a TCP listener.",
       true, apply_peer_uid},
      {"db-user", "account", OptionScope::target, "NAME", note("(required, or an accounts map)"),
       "The CAM-enabled database account every client logs in as (CAM ResourceAccount), or '*' for each "
       "client's own user name (pass-through: any client that reaches camproxy may then use any account the "
       "CAM key may fetch).",
       false, set_string(&TargetConfig::db_user, "db user")},
      {"cam-endpoint", "cam.endpoint", OptionScope::process, "URL", value(kProcess.cam_endpoint),
       "CAM API endpoint. http:// is accepted only for a loopback host (tests, emulators).", false,
       set_string(&Config::cam_endpoint, "cam endpoint")},
      {"cam-ca-file", "cam.ca-file", OptionScope::process, "PATH", note("system CAs"),
       "CA bundle used to verify the CAM endpoint.", false, set_string(&Config::cam_ca_file, "cam ca file")},
      {"cam-timeout", "cam.timeout", OptionScope::process, "DURATION", value(format_duration(kProcess.cam_timeout)),
       "Timeout of one CAM API call.", false, set_duration(&Config::cam_timeout)},
      {"cam-rate-limit", "cam.rate-limit", OptionScope::process, "N", value(std::to_string(kProcess.cam_rate_limit)),
       "Most CAM calls per second, the whole process together (a token bucket with --cam-burst). A login that "
       "needs a call beyond it fails at once with error 1226 instead of waiting; configured accounts' fetches "
       "wait for their turn.",
       false, set_int(&Config::cam_rate_limit, 1, 100)},
      {"cam-burst", "cam.burst", OptionScope::process, "N", value(std::to_string(kProcess.cam_burst)),
       "CAM calls allowed at once above --cam-rate-limit after a quiet spell.", false,
       set_int(&Config::cam_burst, 1, 1000)},
      {"cam-max-accounts", "cam.max-accounts", OptionScope::process, "N",
       value(std::to_string(kProcess.cam_max_accounts)),
       "Most accounts a target keeps a CAM token for besides its configured ones (--db-user '*'); the least "
       "recently used go first.",
       false, set_int(&Config::cam_max_accounts, 1, 1000000)},
      {"cam-negative-ttl", "cam.negative-ttl", OptionScope::process, "DURATION",
       value(format_duration(kProcess.cam_negative_ttl)),
       "How long an account CAM refused (--db-user '*') fails its logins at once, without asking CAM again.", false,
       set_duration(&Config::cam_negative_ttl)},
      {"token-recheck-interval", "cam.token-recheck-interval", OptionScope::process, "DURATION", value("off"),
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
      {"fallback-password-file", "fallback-password-file", OptionScope::target, "PATH", note("none"),
       "Password used when the token has expired and CAM keeps failing with a transient error: one line, "
       "at most 200 bytes, not readable by others.",
       false, set_string(&TargetConfig::fallback_password_file, "fallback password file")},
      {"credential-source", "credentials.source", OptionScope::process, "SOURCE", value(kProcess.credential_source),
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
       note("$TENCENTCLOUD_CREDENTIALS_FILE, ~/.tencentcloud/credentials, /etc/tencentcloud/credentials"),
       "Profile file ([default] secret_id, secret_key); re-read when it changes on disk.", false,
       set_string(&Config::credentials_file, "credentials file")},
      {"metadata-endpoint", "credentials.metadata-endpoint", OptionScope::process, "URL",
       value(kProcess.metadata_endpoint), "CVM metadata service (instance role).", false,
       set_string(&Config::metadata_endpoint, "metadata endpoint")},
      {"sts-endpoint", "credentials.sts-endpoint", OptionScope::process, "URL", value(kProcess.sts_endpoint),
       "STS endpoint for TKE OIDC (AssumeRoleWithWebIdentity).", false,
       set_string(&Config::sts_endpoint, "sts endpoint")},
      {"upstream-tls", "upstream-tls.mode", OptionScope::target, "MODE", value("verify-identity"),
       "TLS to the database: verify-identity (the certificate must be trusted and name the server), verify-ca "
       "(signed by --upstream-ca-file, any name), or, with a warning at start, insecure-required (TLS, "
       "certificate unchecked), insecure-preferred (TLS when offered, unchecked) or disable. 'preferred' and "
       "'required' are old names of the insecure modes.",
       false,
       [](Config&, TargetConfig& t, std::string_view v) -> std::optional<std::string> {
         static const std::map<std::string_view, UpstreamTlsMode> modes = {
             {"disable", UpstreamTlsMode::disable},
             {"insecure-preferred", UpstreamTlsMode::insecure_preferred},
             {"preferred", UpstreamTlsMode::insecure_preferred},
             {"insecure-required", UpstreamTlsMode::insecure_required},
             {"required", UpstreamTlsMode::insecure_required},
             {"verify-ca", UpstreamTlsMode::verify_ca},
             {"verify-identity", UpstreamTlsMode::verify_identity}};
         auto it = modes.find(v);
         if (it == modes.end())
           return "expected verify-identity, verify-ca, insecure-required, insecure-preferred or disable, got '" +
                  std::string(v) + "'";
         t.upstream_tls = it->second;
         return std::nullopt;
       }},
      {"upstream-ca-file", "upstream-tls.ca-file", OptionScope::target, "PATH", note("system CAs"),
       "CA bundle that signs the database's certificate (TencentDB: the CA downloaded from the console); it "
       "replaces the system CAs. Needed by verify-ca.",
       false, set_string(&TargetConfig::upstream_ca_file, "upstream ca file")},
      {"upstream-rsa-key-file", "upstream-tls.rsa-key-file", OptionScope::target, "PATH", note("none"),
       "The database's RSA public key (PEM, as its caching_sha2_password_public_key_path): lets "
       "caching_sha2_password and sha256_password full authentication run without verified TLS. A key the "
       "server sends is never used.",
       false, set_string(&TargetConfig::upstream_rsa_key_file, "upstream rsa key file")},
      {"upstream-server-name", "upstream-tls.server-name", OptionScope::target, "NAME", note("the --upstream host"),
       "Host name the database certificate must match with verify-identity; also sent as SNI.", false,
       set_string(&TargetConfig::upstream_server_name, "upstream server name")},
      {"admin", "admin", OptionScope::process, "ADDR", value(kProcess.admin->to_string()),
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
      {"admin-quitquitquit", "admin-quitquitquit", OptionScope::process, "on|off",
       value(on_off(kProcess.admin_quitquitquit)),
       "Serve POST /quitquitquit on the admin endpoint (a drain like SIGTERM, then exit 0). Each POST needs the "
       "header X-Camproxy-Admin: 1 and a loopback Host.",
       false,
       [](Config& c, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         if (v != "on" && v != "off") return "expected on or off, got '" + std::string(v) + "'";
         c.admin_quitquitquit = v == "on";
         return std::nullopt;
       }},
      {"http-address", "http-address", OptionScope::process, "ADDR", note("off"),
       "Read-only HTTP listener for probes and scrapers (GET /startup, /healthz, /readyz, /metrics), on "
       "any address (the pod IP, 0.0.0.0), or 'off'.",
       false,
       [](Config& c, TargetConfig&, std::string_view v) -> std::
                                                            optional<std::string> {
                                                              if (v == "off") {
                                                                c.http_address.reset();
                                                                return std::nullopt;
                                                              }
                                                              auto hp = parse_host_port(v);
                                                              if (!hp)
                                                                return "expected HOST:PORT or off, got '" +
                                                                       std::string(v) + "'";
                                                              c.http_address = *hp;
                                                              return std::nullopt;
                                                            }},
      {"client-tls", "client-tls.enabled", OptionScope::target, "on|off", value(on_off(kTarget.client_tls)),
       "Offer TLS to applications (MySQL 8 clients use it when offered).", false,
       [](Config&, TargetConfig& t, std::string_view v) -> std::optional<std::string> {
         if (v != "on" && v != "off") return "expected on or off, got '" + std::string(v) + "'";
         t.client_tls = v == "on";
         return std::nullopt;
       }},
      {"users-file", "local-auth.users-file", OptionScope::target, "PATH", note("none (any password is accepted)"),
       "Local authentication: applications must log in with a user and password from this file "
       "(name:hashes lines from camproxy hash-password, or name:plain:password); not readable by others. "
       "Needed for a non-loopback --listen.",
       false,
       [](Config&, TargetConfig& t, std::string_view v) -> std::
                                                            optional<std::string> {
                                                              if (auto e = need_non_empty("users file", v)) return e;
                                                              t.local_auth.users_file = std::string(v);
                                                              return std::nullopt;
                                                            }},
      {"client-tls-cert", "client-tls.cert", OptionScope::target, "PATH", note("self-signed, made at start"),
       "PEM certificate offered to applications.", false,
       set_string(&TargetConfig::client_tls_cert, "client tls cert")},
      {"client-tls-key", "client-tls.key", OptionScope::target, "PATH", note(""),
       "PEM private key of --client-tls-cert.", false, set_string(&TargetConfig::client_tls_key, "client tls key")},
      {"workers", "workers", OptionScope::process, "N", note("number of cores"),
       "Worker event loops that carry client sessions.", false, set_int(&Config::workers, 1, 256)},
      {"data-path", "data-path", OptionScope::process, "PATH", value("auto"),
       "How sockets' bytes move: io_uring (batched submissions; Linux 6.0+, where seccomp allows it), epoll, or "
       "auto (io_uring when usable, else epoll, without an error). A forced io_uring that is not usable stops "
       "the start.",
       false,
       [](Config& c, TargetConfig&, std::string_view v)
           -> std::
               optional<std::string> {
                 static const std::map<std::string_view, DataPath> paths = {
                     {"auto", DataPath::automatic}, {"io_uring", DataPath::io_uring}, {"epoll", DataPath::epoll}};
                 auto it = paths.find(v);
                 if (it == paths.end()) return "expected auto, io_uring or epoll, got '" + std::string(v) + "'";
                 c.data_path = it->second;
                 return std::nullopt;
               }},
      {"max-client-connections", "limits.max-client-connections", OptionScope::process, "N",
       value(std::to_string(kProcess.max_client_connections)),
       "Most application connections at once; beyond it a new one gets error 1040 (Too many connections).", false,
       set_int(&Config::max_client_connections, 1, 1000000)},
      {"max-logins-in-progress", "limits.max-logins-in-progress", OptionScope::process, "N",
       note("a quarter of --max-client-connections"),
       "Most application connections logging in at once (accepted, login not done) per target, shared out among "
       "its workers and counted apart from --max-client-connections: beyond it a worker closes its oldest login in "
       "progress (error 1040), so connections that never log in cannot keep applications out. 0: the default.",
       false, set_int(&Config::max_logins_in_progress, 0, 1000000)},
      {"core-dumps", "core-dumps", OptionScope::process, "on|off", value(on_off(kProcess.core_dumps)),
       "Allow core dumps of camproxy (they would hold tokens and keys): off sets PR_SET_DUMPABLE to 0.", false,
       [](Config& c, TargetConfig&, std::string_view v) -> std::optional<std::string> {
         if (v != "on" && v != "off") return "expected on or off, got '" + std::string(v) + "'";
         c.core_dumps = v == "on";
         return std::nullopt;
       }},
      {"pool-min-idle", "pool.min-idle", OptionScope::target, "N", value(std::to_string(kTarget.pool_min_idle)),
       "Logged-in database connections kept ready for new clients (0 disables the pool's warm-up).", false,
       set_int(&TargetConfig::pool_min_idle, 0, 10000)},
      {"pool-max", "pool.max", OptionScope::target, "N", value(std::to_string(kTarget.pool_max)),
       "Most database connections open at once (in use, idle, being cleaned or warming), all workers of the target "
       "together. At the limit a client that needs a connection waits in a queue (--pool-borrow-timeout).",
       false, set_int(&TargetConfig::pool_max, 1, 100000)},
      {"pool-borrow-timeout", "pool.borrow-timeout", OptionScope::target, "DURATION",
       value(format_duration(kTarget.pool_borrow_timeout)),
       "How long a client waits for a database connection when --pool-max are open and none is idle for it "
       "(first come, first served across the workers); then error 9008.",
       false, set_duration(&TargetConfig::pool_borrow_timeout)},
      {"pool-max-waiters", "pool.max-waiters", OptionScope::target, "N",
       value(std::to_string(kTarget.pool_max_waiters)),
       "Most clients waiting for a database connection at once (--pool-borrow-timeout); beyond it a client gets "
       "error 9008 at once.",
       false, set_int(&TargetConfig::pool_max_waiters, 0, 1000000)},
      {"pool-mode", "pool.mode", OptionScope::target, "MODE", value("session"),
       "session: a client holds its database connection for its whole session. transaction: only from the start "
       "of a command until its session can be shared again (no transaction open, nothing that pins it); the "
       "client's schema, character set and SET statements follow it to the next connection it gets.",
       false,
       [](Config&, TargetConfig& t, std::string_view v) -> std::
                                                            optional<std::string> {
                                                              if (v != "session" && v != "transaction")
                                                                return "expected session or transaction, got '" +
                                                                       std::string(v) + "'";
                                                              t.pool_mode = v == "transaction" ? PoolMode::transaction
                                                                                               : PoolMode::session;
                                                              return std::nullopt;
                                                            }},
      {"pool-idle-timeout", "pool.idle-timeout", OptionScope::target, "DURATION", value("auto"),
       "An idle pooled connection is closed after this long. auto: " + format_duration(kTarget.pool_idle_timeout) +
           ". Either way camproxy reads the server's "
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
      {"pool-max-lifetime", "pool.max-lifetime", OptionScope::target, "DURATION",
       value(format_duration(kTarget.pool_max_lifetime)), "A pooled connection is closed after this long, used or not.",
       false, set_duration(&TargetConfig::pool_max_lifetime)},
      {"reconnect-window", "reconnect-window", OptionScope::target, "DURATION",
       value(format_duration(kTarget.reconnect_window)),
       "How long an idle session whose database connection died keeps trying to get a new one before "
       "its client gets an error.",
       false, set_duration(&TargetConfig::reconnect_window)},
      {"min-sigterm-delay", "sigterm.min-delay", OptionScope::process, "DURATION",
       value(format_duration(kProcess.min_sigterm_delay)),
       "After SIGTERM (or POST /quitquitquit) keep accepting new connections this long, while the "
       "application itself shuts down; /readyz already answers 503.",
       false, set_duration_or_zero(&Config::min_sigterm_delay)},
      {"max-sigterm-delay", "sigterm.max-delay", OptionScope::process, "DURATION",
       value(format_duration(kProcess.max_sigterm_delay)),
       "Then give open sessions up to this long to finish their transactions before exiting; idle "
       "sessions are closed at once.",
       false, set_duration_or_zero(&Config::max_sigterm_delay)},
      {"connect-timeout", "connect-timeout", OptionScope::target, "DURATION",
       value(format_duration(kTarget.connect_timeout)), "Timeout for connecting and logging in to the database.", false,
       set_duration(&TargetConfig::connect_timeout)},
      {"handshake-timeout", "handshake-timeout", OptionScope::target, "DURATION",
       value(format_duration(kTarget.handshake_timeout)),
       "Time an application gets to complete its login, from camproxy's greeting on; a connection "
       "that has not logged in by then gets ERR 1043.",
       false, set_duration(&TargetConfig::handshake_timeout)},
      {"log-level", "log.level", OptionScope::process, "LEVEL", value("info"), "debug, info, warn or error.", false,
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
      {"log-format", "log.format", OptionScope::process, "FORMAT", value("json"), "json or text.", false,
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

const OptionSpec* find_option_by_flag(std::string_view flag) {
  for (const auto& o : option_table())
    if (o.flag == flag) return &o;
  return nullptr;
}

}  // namespace camproxy::proxy
