// The --config file: its keys, every error path (with key path and line), JSON = YAML, and
// the rule by which flags and CAMPROXY_* variables override it.
#include "proxy/config/config_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "proxy/config/config.h"

namespace camproxy::proxy {
namespace {

const char* kTwoTargetsYaml = R"(# two databases behind one camproxy
workers: 2
log:
  level: debug
  format: text
credentials:
  source: env
cam:
  endpoint: http://127.0.0.1:9999
  timeout: 3s
sigterm:
  min-delay: 1s
  max-delay: 20s
limits:
  max-client-connections: 500
targets:
  - name: orders
    listen: [127.0.0.1:13306, unix:/tmp/orders.sock]
    upstream: 10.0.0.5:3306
    region: ap-guangzhou
    instance-id: cdb-orders
    account: orders_app
    pool:
      min-idle: 0
      max: 10
      idle-timeout: 1m
      max-by-account: {orders_app: 4, "*": 2}
    upstream-tls:
      mode: disable
    client-tls:
      enabled: false
  - name: reports
    listen: 127.0.0.1:13307
    upstream: 10.0.0.6:3306
    region: ap-shanghai
    instance-id: cdb-reports
    accounts:
      app: reports_rw
      bi: reports_ro
    connect-timeout: 2s
)";

const char* kTwoTargetsJson = R"({
  "workers": 2,
  "log": {"level": "debug", "format": "text"},
  "credentials": {"source": "env"},
  "cam": {"endpoint": "http://127.0.0.1:9999", "timeout": "3s"},
  "sigterm": {"min-delay": "1s", "max-delay": "20s"},
  "limits": {"max-client-connections": 500},
  "targets": [
    {"name": "orders", "listen": ["127.0.0.1:13306", "unix:/tmp/orders.sock"], "upstream": "10.0.0.5:3306",
     "region": "ap-guangzhou", "instance-id": "cdb-orders", "account": "orders_app",
     "pool": {"min-idle": 0, "max": 10, "idle-timeout": "1m", "max-by-account": {"orders_app": 4, "*": 2}},
     "upstream-tls": {"mode": "disable"}, "client-tls": {"enabled": false}},
    {"name": "reports", "listen": "127.0.0.1:13307", "upstream": "10.0.0.6:3306",
     "region": "ap-shanghai", "instance-id": "cdb-reports",
     "accounts": {"app": "reports_rw", "bi": "reports_ro"}, "connect-timeout": "2s"}
  ]
})";

std::map<std::string, std::string> g_env;
const char* fake_getenv(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

// Named after the test and the process: ctest runs the tests of this file in parallel.
std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "/" + testing::UnitTest::GetInstance()->current_test_info()->name() +
                           "-" + std::to_string(::getpid()) + "-" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

ParseResult parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  g_env = std::move(env);
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), fake_getenv);
}

ParseResult parse_file(const std::string& text, std::vector<std::string> extra = {},
                       std::map<std::string, std::string> env = {}) {
  std::vector<std::string> args = {"--config", write_file("camproxy_test.yaml", text)};
  args.insert(args.end(), extra.begin(), extra.end());
  return parse(args, std::move(env));
}

TEST(ConfigFile, TwoTargetsWithEveryKindOfKey) {
  auto r = parse_file(kTwoTargetsYaml);
  ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
  const Config& c = r.config;
  EXPECT_EQ(c.workers, 2);
  EXPECT_EQ(c.log_level, LogLevel::debug);
  EXPECT_EQ(c.log_format, LogFormat::text);
  EXPECT_EQ(c.credential_source, "env");
  EXPECT_EQ(c.cam_endpoint, "http://127.0.0.1:9999");
  EXPECT_EQ(c.cam_timeout.count(), 3000);
  EXPECT_EQ(c.min_sigterm_delay.count(), 1000);
  EXPECT_EQ(c.max_sigterm_delay.count(), 20000);
  EXPECT_EQ(c.max_client_connections, 500);
  ASSERT_EQ(c.targets.size(), 2u);
  const TargetConfig& orders = c.targets[0];
  EXPECT_EQ(orders.name, "orders");
  ASSERT_EQ(orders.listen.size(), 2u);
  EXPECT_EQ(orders.listen[1].to_string(), "unix:/tmp/orders.sock");
  EXPECT_EQ(orders.upstream.to_string(), "10.0.0.5:3306");
  EXPECT_EQ(orders.instance_id, "cdb-orders");
  EXPECT_EQ(orders.db_user, "orders_app");
  EXPECT_EQ(orders.pool_min_idle, 0);
  EXPECT_EQ(orders.pool_max, 10);
  EXPECT_EQ(orders.pool_idle_timeout.count(), 60000);
  EXPECT_EQ(orders.pool_max_by_account, (std::map<std::string, int>{{"*", 2}, {"orders_app", 4}}));
  EXPECT_EQ(orders.upstream_tls, UpstreamTlsMode::disable);
  EXPECT_FALSE(orders.client_tls);
  const TargetConfig& reports = c.targets[1];
  EXPECT_EQ(reports.listen.at(0).to_string(), "127.0.0.1:13307");
  EXPECT_EQ(reports.region, "ap-shanghai");
  EXPECT_EQ(reports.connect_timeout.count(), 2000);
  EXPECT_EQ(reports.upstream_server_name, "10.0.0.6");  // derived default
  EXPECT_EQ(reports.pool_max, 200);                     // default
  EXPECT_EQ(reports.accounts.size(), 2u);
}

TEST(ConfigFile, JsonAndYamlGiveTheSameConfig) {
  auto yaml = parse_config_text(kTwoTargetsYaml);
  auto json = parse_config_text(kTwoTargetsJson);
  ASSERT_TRUE(yaml.errors.empty()) << yaml.errors.front();
  ASSERT_TRUE(json.errors.empty()) << json.errors.front();
  EXPECT_EQ(describe_config(yaml.config), describe_config(json.config));
  ASSERT_EQ(json.config.targets.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto& a = yaml.config.targets[i];
    const auto& b = json.config.targets[i];
    EXPECT_EQ(a.accounts, b.accounts);
    EXPECT_EQ(a.pool_max_by_account, b.pool_max_by_account);
    EXPECT_EQ(a.pool_idle_timeout, b.pool_idle_timeout);
    EXPECT_EQ(a.connect_timeout, b.connect_timeout);
    EXPECT_EQ(a.client_tls, b.client_tls);
  }
  EXPECT_EQ(yaml.config.cam_timeout, json.config.cam_timeout);
  EXPECT_EQ(yaml.config.min_sigterm_delay, json.config.min_sigterm_delay);
}

TEST(ConfigFile, AccountMapping) {
  TargetConfig t;
  t.db_user = std::string(kPassThroughAccount);
  EXPECT_EQ(t.account_for("alice"), "alice");
  t.db_user.clear();
  t.accounts = {{"app", "orders_rw"}};
  EXPECT_EQ(t.account_for("app"), "orders_rw");
  EXPECT_EQ(t.account_for("alice"), std::nullopt);  // not in the map: refused
  t.accounts.clear();
  t.db_user = "fixed";
  EXPECT_EQ(t.account_for("anyone"), "fixed");
}

struct FileErrorCase {
  const char* text;
  const char* expected;  // exact error, with key path and line
};

const char* kTarget = "    upstream: db:3306\n    region: r\n    instance-id: i\n";

TEST(ConfigFile, EveryErrorNamesItsKeyPathAndLine) {
  const std::string t = kTarget;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"targets: [\n", "not valid YAML or JSON: end of sequence flow not found (line 2)"},
      {"- a\n- b\n", "expected a map of settings with a 'targets' list, got a list (line 1)"},
      {"workers: 2\n", "targets: required: a list with at least one target (line 1)"},
      {"targets: 3\n", "targets: expected a list with at least one target, got '3' (line 1)"},
      {"targets: []\n", "targets: expected a list with at least one target, got a list (line 1)"},
      {"targets:\n  - just-a-name\n", "targets[0]: expected a map of target settings, got 'just-a-name' (line 2)"},
      {"worker: 2\ntargets:\n  - name: a\n" + t, "worker: unknown key (see docs/config.md) (line 1)"},
      {"targets:\n  - name: a\n    upstraem: db:1\n" + t,
       "targets[0].upstraem: unknown key (see docs/config.md) (line 3)"},
      {"targets:\n  - name: a\n" + t + "    pool:\n      maximum: 3\n",
       "targets[0].pool.maximum: unknown key (see docs/config.md) (line 7)"},
      {"targets:\n  - name: a\n" + t + "  - name: b\n" + t + "    listen: 127.0.0.1:1\n    pool:\n      max: ten\n",
       "targets[1].pool.max: expected a number from 1 to 100000, got 'ten' (line 12)"},
      {"targets:\n  - name: a\n" + t + "    pool: 5\n",
       "targets[0].pool: expected a map of pool.* settings, got '5' (line 6)"},
      {"targets:\n  - name: a\n" + t + "    pool:\n      max-by-account: [x]\n",
       "targets[0].pool.max-by-account: expected a map of CAM account (or '*') to a number of connections, got a "
       "list (line 7)"},
      {"targets:\n  - name: a\n" + t + "    pool:\n      max-by-account: {app: 0}\n",
       "targets[0].pool.max-by-account.app: expected a number from 1 to 100000, got '0' (line 7)"},
      {"targets:\n  - name: a\n" + t + "    pool:\n      max-by-account: {app: 2x}\n",
       "targets[0].pool.max-by-account.app: expected a number from 1 to 100000, got '2x' (line 7)"},
      {"targets:\n  - name: a\n    region: [a, b]\n", "targets[0].region: expected one value, got a list (line 3)"},
      {"admin: {host: x}\ntargets:\n  - name: a\n" + t, "admin: expected a value, got a map (line 1)"},
      {"targets:\n  - name: a\n    region:\n", "targets[0].region: expected a value, got nothing (line 3)"},
      {"targets:\n  - name: a\n    region: x\n    region: y\n", "targets[0].region: given twice (line 4)"},
      {"targets:\n  - name: a b\n",
       "targets[0].name: expected a name of letters, digits, '-', '_' or '.' (at most 64), got 'a b' (line 2)"},
      {"targets:\n  - region: r\n  - name: b\n", "targets[0].name: required when there are several targets (line 2)"},
      {"targets:\n  - name: a\n    accounts: [x]\n",
       "targets[0].accounts: expected a map of client user name to CAM account, got a list (line 3)"},
      {"targets:\n  - name: a\n    accounts:\n      app: \"\"\n",
       "targets[0].accounts.app: expected a CAM account name, got '' (line 4)"},
      {"targets:\n  - name: a\n    listen: []\n", "targets[0].listen: expected at least one value (line 3)"},
      {"targets:\n  - name: a\n    listen:\n      - 127.0.0.1:1\n      - {mode: 600}\n",
       "targets[0].listen[1].address: required in a listen entry written as a map (line 5)"},
      {"targets:\n  - name: a\n    listen:\n      - {address: unix:/tmp/a.sock, colour: blue}\n",
       "targets[0].listen[0].colour: unknown key (see docs/config.md) (line 4)"},
      {"log:\n  level: loud\ntargets:\n  - name: a\n" + t,
       "log.level: expected debug, info, warn or error, got 'loud' (line 2)"},
      {"targets:\n  - name: a\n    client-tls:\n      enabled: maybe\n",
       "targets[0].client-tls.enabled: expected on or off, got 'maybe' (line 4)"},
  };
  for (const auto& [text, expected] : cases) {
    auto f = parse_config_text(text);
    ASSERT_FALSE(f.errors.empty()) << text;
    EXPECT_EQ(f.errors.front(), expected) << text;
  }
}

TEST(ConfigFile, UnixListenerSettingsGoToTheirListenEntryOnly) {
  auto f = parse_config_text(std::string("targets:\n  - name: a\n") + kTarget +
                             "    listen:\n      - 127.0.0.1:1\n"
                             "      - {address: unix:/run/a.sock, mode: 600, owner: app:app, allow-peer-uids: [7, 8]}\n"
                             "      - unix:/run/b.sock\n");
  ASSERT_TRUE(f.errors.empty()) << f.errors.front();
  const auto& l = f.config.targets.at(0).listen;
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[1].path, "/run/a.sock");
  EXPECT_EQ(l[1].unix_mode, 0600u);
  EXPECT_EQ(l[1].unix_owner, "app:app");
  EXPECT_EQ(l[1].allowed_peer_uids, (std::vector<uint32_t>{7, 8}));
  EXPECT_EQ(l[2].unix_mode, 0660u);
  EXPECT_TRUE(l[2].allowed_peer_uids.empty());
  EXPECT_TRUE(l[0].allowed_peer_uids.empty());

  auto tcp_mode = parse_config_text(std::string("targets:\n  - name: a\n") + kTarget +
                                    "    listen: [{address: 127.0.0.1:1, mode: 600}]\n");
  ASSERT_FALSE(tcp_mode.errors.empty());
  EXPECT_EQ(
      tcp_mode.errors.front(),
      "targets[0].listen[0].mode: --unix-socket-mode applies to unix:/path listeners, and none is given (line 6)");
}

TEST(ConfigFile, LocalAuthUsersFileAndHashedUsers) {
  // hashlib: sha1(sha1(b"secret-pw")), sha256(sha256(b"secret-pw")).
  const std::string hashes =
      "*B87675491D86B74664F2EA1D3A7060E82A810802:4870A019BE3AF92239DC9807901128F58CC21D657B1528B1C1DC24CFEA3CE5A7";
  auto f = parse_config_text(std::string("targets:\n  - name: a\n") + kTarget +
                             "    local-auth:\n      users-file: /etc/camproxy/users\n      users:\n        app: \"" +
                             hashes + "\"\n");
  ASSERT_TRUE(f.errors.empty()) << f.errors.front();
  const LocalAuthConfig& auth = f.config.targets.at(0).local_auth;
  EXPECT_EQ(auth.users_file, "/etc/camproxy/users");
  ASSERT_EQ(auth.users.size(), 1u);
  EXPECT_EQ(auth.users[0].name, "app");
  EXPECT_EQ(auth.users[0].credential, hashes);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"    local-auth:\n      users:\n        app: plain:Hunter2-Secret\n",
       "targets[0].local-auth.users.app: expected *<40 hex>:<64 hex> from camproxy hash-password (plain passwords "
       "only in the users file) (line 8)"},
      {"    local-auth:\n      users:\n        app: \"*00\"\n",
       "targets[0].local-auth.users.app: user 'app': expected *<40 hex>:<64 hex> (from camproxy hash-password) or "
       "plain:<password> (line 8)"},
      {"    local-auth:\n      users: []\n",
       "targets[0].local-auth.users: expected a map of user name to password hashes, got a list (line 7)"},
      {"    local-auth:\n      user-file: /x\n",
       "targets[0].local-auth.user-file: unknown key (see docs/config.md) (line 7)"},
  };
  for (const auto& [tail, expected] : bad) {
    auto e = parse_config_text(std::string("targets:\n  - name: a\n") + kTarget + tail);
    ASSERT_FALSE(e.errors.empty()) << tail;
    EXPECT_EQ(e.errors.front(), expected);
    EXPECT_EQ(e.errors.front().find("Hunter2"), std::string::npos);
  }
}

TEST(ConfigFile, AllErrorsAreReportedNotJustTheFirst) {
  auto f = parse_config_text("workers: lots\ntargets:\n  - name: a\n    pool:\n      max: 0\n    regoin: x\n");
  ASSERT_EQ(f.errors.size(), 3u);
  EXPECT_EQ(f.errors[0], "workers: expected a number from 1 to 256, got 'lots' (line 1)");
  EXPECT_EQ(f.errors[1], "targets[0].pool.max: expected a number from 1 to 100000, got '0' (line 5)");
  EXPECT_EQ(f.errors[2], "targets[0].regoin: unknown key (see docs/config.md) (line 6)");
}

TEST(ConfigFile, ChecksAfterTheMergeNameTheTargetAndItsLine) {
  const std::string t = std::string(kTarget) + "    account: app\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"targets:\n  - name: a\n    region: r\n    instance-id: i\n",
       "targets[0].upstream is required (HOST:PORT of the database) (line 2)"},
      {std::string("targets:\n  - name: a\n") + kTarget + "    account: x\n    accounts: {u: y}\n",
       "targets[0].account and accounts exclude each other: give one account for every client or a map (line 2)"},
      {std::string("targets:\n  - name: a\n") + kTarget,
       "targets[0].account is required: the CAM account every client logs in as, or '*' for each client's own user "
       "name (pass-through; docs/security.md), or an accounts map in a config file (line 2)"},
      {std::string("targets:\n  - name: a\n") + t + "    upstream-tls: {mode: verify-ca}\n",
       "targets[0].upstream-tls.mode verify-ca needs targets[0].upstream-tls.ca-file (or use verify-identity, which "
       "also checks the name) (line 2)"},
      {std::string("targets:\n  - name: a\n") + t + "  - name: a\n" + t + "    listen: 127.0.0.1:2\n",
       "targets[1].name: 'a' is already the name of targets[0] (line 7)"},
      {std::string("targets:\n  - name: a\n") + t + "  - name: b\n" + t,
       "targets[1].listen: 127.0.0.1:3306 is already a listener of targets[0] (line 7)"},
      {std::string("targets:\n  - name: a\n") + t + "    listen: [{address: 127.0.0.1:1, allow-peer-uids: 7}]\n",
       "listener 127.0.0.1:1: a peer uid allow-list works on unix sockets only (SO_PEERCRED); a TCP listener would "
       "let any local user in. Listen on unix:/path, or drop the allow-list (line 2)"},
      {std::string("targets:\n  - name: a\n") + t +
           "    listen: [127.0.0.1:1, 10.0.0.1:2]\n"
           "    client-tls: {enabled: off}\n",
       "refusing to listen on non-loopback address '10.0.0.1:2': other machines could use the CAM account; that "
       "needs local authentication and TLS to clients, missing: local authentication "
       "(targets[0].local-auth.users-file) and TLS to clients (targets[0].client-tls.enabled on) (line 2)"},
  };
  for (const auto& [text, expected] : cases) {
    auto r = parse_file(text);
    ASSERT_EQ(r.outcome, ParseOutcome::exit_usage) << text;
    EXPECT_NE(r.message.find(expected), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("camproxy_test.yaml: "), std::string::npos) << r.message;
  }
}

TEST(ConfigFile, UnreadableFileIsAnError) {
  auto r = parse({"--config", "/nonexistent/camproxy.yaml"});
  EXPECT_EQ(r.outcome, ParseOutcome::exit_usage);
  EXPECT_EQ(r.message, "camproxy: /nonexistent/camproxy.yaml: cannot read the config file");
}

const char* kOneTarget =
    "workers: 2\ntargets:\n  - name: only\n    upstream: db:3306\n    region: r\n    instance-id: i\n"
    "    account: app\n    listen: [127.0.0.1:1, 127.0.0.1:2]\n    pool: {max: 10}\n";

TEST(ConfigFile, FlagsAndEnvironmentOverrideTheFileForASingleTarget) {
  auto r = parse_file(kOneTarget, {"--pool-max", "20", "--workers", "3", "--listen", "127.0.0.1:5"},
                      {{"CAMPROXY_REGION", "ap-env"}, {"CAMPROXY_POOL_MAX", "30"}});
  ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
  const TargetConfig& t = r.config.targets.at(0);
  EXPECT_EQ(t.pool_max, 20);      // flag over environment over file
  EXPECT_EQ(t.region, "ap-env");  // environment over file
  EXPECT_EQ(r.config.workers, 3);
  ASSERT_EQ(t.listen.size(), 1u);  // --listen replaces the file's list
  EXPECT_EQ(t.listen[0].to_string(), "127.0.0.1:5");
  EXPECT_EQ(t.instance_id, "i");  // untouched by flags: from the file
}

TEST(ConfigFile, PerTargetFlagWithSeveralTargetsIsAnErrorProcessFlagIsNot) {
  auto bad = parse_file(kTwoTargetsYaml, {"--pool-max", "20"});
  ASSERT_EQ(bad.outcome, ParseOutcome::exit_usage);
  EXPECT_NE(bad.message.find("--pool-max sets a per-target setting, but "), std::string::npos) << bad.message;
  EXPECT_NE(bad.message.find("has 2 targets: set it in the file (targets[N].pool.max)"), std::string::npos)
      << bad.message;
  auto env = parse_file(kTwoTargetsYaml, {}, {{"CAMPROXY_DB_USER", "x"}});
  EXPECT_EQ(env.outcome, ParseOutcome::exit_usage);
  auto ok = parse_file(kTwoTargetsYaml, {"--log-level", "warn"}, {{"CAMPROXY_WORKERS", "4"}});
  ASSERT_EQ(ok.outcome, ParseOutcome::run) << ok.message;
  EXPECT_EQ(ok.config.log_level, LogLevel::warn);
  EXPECT_EQ(ok.config.workers, 4);
}

TEST(ConfigFile, ConfigFromTheEnvironment) {
  const std::string path = write_file("camproxy_env.yaml", kOneTarget);
  auto r = parse({}, {{"CAMPROXY_CONFIG", path}});
  ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
  EXPECT_EQ(r.config.config_file, path);
  EXPECT_EQ(r.config.targets.at(0).name, "only");
}

TEST(ConfigFile, CheckConfigPrintsTargetsAndAccounts) {
  const std::string path = write_file("camproxy_check.yaml", kTwoTargetsYaml);
  auto r = parse({"--check-config", path});
  ASSERT_EQ(r.outcome, ParseOutcome::check_ok) << r.message;
  EXPECT_NE(r.message.find("configuration OK: " + path), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("target orders:\n  listen: 127.0.0.1:13306, unix:/tmp/orders.sock\n"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("accounts: every client as 'orders_app'"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("accounts: app -> reports_rw, bi -> reports_ro (other users refused)"), std::string::npos)
      << r.message;
  auto bad = parse({"--check-config", write_file("camproxy_bad.yaml", "targets: []\n")});
  EXPECT_EQ(bad.outcome, ParseOutcome::exit_usage);
}

TEST(ConfigFile, ListenEntriesAreAddressesOrMaps) {
  auto f = parse_config_text("targets:\n  - listen:\n      - 127.0.0.1:1\n      - {address: \"unix:/tmp/a.sock\"}\n");
  ASSERT_TRUE(f.errors.empty()) << f.errors.front();
  const auto& listen = f.config.targets.at(0).listen;
  ASSERT_EQ(listen.size(), 2u);
  EXPECT_EQ(listen[0].to_string(), "127.0.0.1:1");
  EXPECT_TRUE(listen[1].is_unix);
  EXPECT_EQ(listen[1].path, "/tmp/a.sock");
}

// deploy/examples: both pass --check-config and describe the same process.
TEST(ConfigFile, ExamplesAreValidAndAgree) {
  const std::string dir = std::string(CAMPROXY_TEST_DATA_DIR) + "/../../deploy/examples/";
  std::string described[2];
  int i = 0;
  for (const char* name : {"camproxy.yaml", "camproxy.json"}) {
    auto r = parse({"--check-config", dir + name});
    ASSERT_EQ(r.outcome, ParseOutcome::check_ok) << r.message;
    described[i++] = r.message.substr(r.message.find('\n'));  // without the file name
    EXPECT_NE(r.message.find("target staging:"), std::string::npos) << r.message;
  }
  EXPECT_EQ(described[0], described[1]);
}

TEST(ConfigFile, DurationsTakeHours) {
  auto f = parse_config_text("targets:\n  - pool: {max-lifetime: 2h}\n");
  ASSERT_TRUE(f.errors.empty()) << f.errors.front();
  EXPECT_EQ(f.config.targets.at(0).pool_max_lifetime, std::chrono::hours(2));
}

}  // namespace
}  // namespace camproxy::proxy
