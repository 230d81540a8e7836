#pragma once
// camproxy's runtime configuration: process-wide settings and one or more targets, filled from
// flags and CAMPROXY_* variables.
// Every option is declared once in config_options.cc's option table, which also drives --help and
// docs/flags.md (tests/proxy/config_test.cc fails if the docs drift).
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/local_auth_config.h"
#include "proxy/ops/log.h"

namespace camproxy::proxy {

// How camproxy talks TLS to the database. Only the verify modes authenticate the server; the
// others are named for the risk they take (docs/security.md "The token and the database").
enum class UpstreamTlsMode {
  disable,             // no TLS
  insecure_preferred,  // TLS when offered, certificate not checked (was "preferred")
  insecure_required,   // TLS or fail, certificate not checked (was "required")
  verify_ca,           // TLS, certificate signed by --upstream-ca-file
  verify_identity,     // TLS, certificate trusted and naming --upstream-server-name (the default)
};
// True for the modes that authenticate the database (the password may cross only those).
inline bool verifies_server(UpstreamTlsMode m) {
  return m == UpstreamTlsMode::verify_ca || m == UpstreamTlsMode::verify_identity;
}
// The flag value of a mode ("insecure-preferred"); a warning at start names it.
std::string_view to_string(UpstreamTlsMode m);

// How long a client holds a database connection (--pool-mode): its whole session, or from the start
// of a command until its session can be shared again (docs/operations.md "Transaction pooling").
enum class PoolMode { session, transaction };
std::string_view to_string(PoolMode m);

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const;
  bool operator==(const HostPort&) const = default;
};

struct ListenAddress {
  bool is_unix = false;
  std::string path;  // unix sockets
  HostPort tcp;      // TCP
  // Unix sockets only: the socket file's mode and owner ("user[:group]", names or numbers,
  // resolved at start; empty: camproxy's own user and group).
  uint32_t unix_mode = 0660;
  std::string unix_owner;
  // Peers allowed in, checked with SO_PEERCRED at accept (unix sockets only: a TCP listener
  // with an allow-list is refused at start); empty: any peer.
  std::vector<uint32_t> allowed_peer_uids;
  std::string to_string() const;
  bool operator==(const ListenAddress&) const = default;
};

// `--db-user '*'`: each client's user name is its CAM account (pass-through). Only when asked
// for: it lets any client that reaches camproxy log in as any account the CAM key may fetch.
inline constexpr std::string_view kPassThroughAccount = "*";

// Where applications connect when no listener is given.
inline constexpr std::string_view kDefaultListenHost = "127.0.0.1";
inline constexpr uint16_t kDefaultListenPort = 3306;

// One database target: where applications connect, the instance behind it and how to log in.
struct TargetConfig {
  std::string name = "default";
  std::vector<ListenAddress> listen;
  HostPort upstream;
  std::string region;
  std::string instance_id;
  // How a client's user name becomes a CAM account (ResourceAccount): `db_user` for every
  // client, the user name itself when `db_user` is kPassThroughAccount, else `accounts` (a user
  // missing from it is refused). One of them is required (finish_target).
  std::string db_user;
  std::map<std::string, std::string> accounts;
  std::string fallback_password_file;
  UpstreamTlsMode upstream_tls = UpstreamTlsMode::verify_identity;
  std::string upstream_ca_file;
  // The database's RSA public key for caching_sha2/sha256 full authentication without verified
  // TLS: the file, and its PEM read and checked at start and at each reload.
  std::string upstream_rsa_key_file;
  std::string upstream_rsa_public_key;
  std::string upstream_server_name;  // host name checked by verify-identity; default: upstream host
  std::string client_tls_cert;       // PEM; empty: a self-signed certificate is made at start
  std::string client_tls_key;
  bool client_tls = true;
  LocalAuthConfig local_auth;  // off unless users are configured
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds handshake_timeout{5000};
  int pool_min_idle = 2;
  int pool_max = 200;  // the whole target's (all workers together): proxy/pool/connection_budget.h
  // How long a client waits in the borrow queue for a connection at --pool-max, and how many
  // clients may wait at once (beyond it: error 9008 at once).
  std::chrono::milliseconds pool_borrow_timeout{30000};
  int pool_max_waiters = 1000;
  // pool.max-by-account (config file only): CAM account -> most database connections of that
  // account (all workers and pool keys together, within pool_max); "*": every account not named.
  std::map<std::string, int> pool_max_by_account;
  PoolMode pool_mode = PoolMode::session;
  // The most an idle pooled connection is kept; the pool also stays below the server's
  // wait_timeout (upstream_pool.cc). `auto` is the default cap, quietly; an explicit value that
  // the server's wait_timeout cuts short gets a warning.
  std::chrono::milliseconds pool_idle_timeout{300000};
  bool pool_idle_timeout_auto = true;
  std::chrono::milliseconds pool_max_lifetime{3600000};
  std::chrono::milliseconds reconnect_window{30000};

  // nullopt: the map has no entry for `user`.
  std::optional<std::string> account_for(const std::string& user) const;
  bool pass_through() const { return db_user == kPassThroughAccount; }
  // One account for every client (`--db-user NAME`): db_user is that account.
  bool has_fixed_account() const { return !db_user.empty() && !pass_through(); }
  bool operator==(const TargetConfig&) const = default;
};

// The raw-I/O backend of client and database sockets (--data-path; proxy/net/uring_loop.h).
// automatic: io_uring where the kernel allows it, else epoll.
enum class DataPath { automatic, io_uring, epoll };

// Process-wide settings and the targets. Flags and CAMPROXY_* variables fill targets[0].
struct Config {
  std::string config_file;  // empty: flags and CAMPROXY_* variables only
  std::string cam_endpoint = "https://cam.tencentcloudapi.com";
  std::string cam_ca_file;
  std::chrono::milliseconds cam_timeout{10000};
  std::chrono::milliseconds token_recheck_interval{0};  // 0: only around rotations
  // The limits on CAM use (proxy/tokens/cam_call_budget.h, account_policy.h).
  int cam_rate_limit = 5;  // calls per second, the whole process
  int cam_burst = 20;
  int cam_max_accounts = 1000;  // per target
  std::chrono::milliseconds cam_negative_ttl{60000};
  std::string credential_source = "auto";
  std::string credentials_file;
  std::string metadata_endpoint = "http://metadata.tencentyun.com";
  std::string sts_endpoint = "https://sts.tencentcloudapi.com";
  std::optional<HostPort> admin = HostPort{"127.0.0.1", 9306};
  bool admin_quitquitquit = false;       // POST /quitquitquit on the admin endpoint (docs/security.md)
  std::optional<HostPort> http_address;  // the read-only probe and scrape listener; off by default
  int workers = 0;                       // 0: one per core
  DataPath data_path = DataPath::automatic;
  int max_client_connections = 10000;
  int max_logins_in_progress = 0;  // accepted, not logged in yet: a cap of their own; 0: a quarter of the above
  bool core_dumps = false;
  std::chrono::milliseconds min_sigterm_delay{0};
  std::chrono::milliseconds max_sigterm_delay{30000};
  LogLevel log_level = LogLevel::info;
  LogFormat log_format = LogFormat::json;
  std::vector<TargetConfig> targets;
  bool operator==(const Config&) const = default;
};

enum class ParseOutcome { run, exit_ok, exit_usage, check_ok };

struct ParseResult {
  ParseOutcome outcome = ParseOutcome::run;
  Config config;
  std::string message;  // --help/--version text, --check-config's summary, or why exit_usage
};

// argv as given to main (argv[0] skipped); env looked up through `getenv_fn` for testability.
ParseResult parse_command_line(int argc, const char* const* argv, const char* (*getenv_fn)(const char*));

// The flag reference in Markdown (docs/flags.md is exactly this text).
std::string flags_markdown();
std::string help_text();
// The key tables of docs/config.md (the text between its "keys" markers).
std::string config_keys_markdown();

}  // namespace camproxy::proxy
