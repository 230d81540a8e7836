// Command line and environment parsing: tables of input -> Config or exit reason.
#include "proxy/config/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/proxy/fake_getenv.h"

namespace camproxy::proxy {
namespace {

using testing::fake_getenv;
using testing::g_env;

ParseResult parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  g_env = std::move(env);
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), fake_getenv);
}

const std::vector<std::string> kRequired = {"--upstream",    "db.example:3306", "--region",  "ap-guangzhou",
                                            "--instance-id", "cdb-1",           "--db-user", "camtest"};

std::vector<std::string> with_required(std::vector<std::string> extra) {
  auto args = kRequired;
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(Config, DefaultsForTheRequiredFlags) {
  auto r = parse(kRequired);
  ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
  const TargetConfig& c = r.config.targets.at(0);
  EXPECT_EQ(c.upstream.host, "db.example");
  EXPECT_EQ(c.upstream.port, 3306);
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].to_string(), "127.0.0.1:3306");
  EXPECT_EQ(r.config.cam_endpoint, "https://cam.tencentcloudapi.com");
  // Issue 17: the database is authenticated unless the operator says otherwise (system CAs).
  EXPECT_EQ(c.upstream_tls, UpstreamTlsMode::verify_identity);
  EXPECT_TRUE(c.upstream_ca_file.empty());
  EXPECT_TRUE(c.upstream_rsa_public_key.empty());
  ASSERT_TRUE(r.config.admin.has_value());
  EXPECT_EQ(r.config.admin->to_string(), "127.0.0.1:9306");
  EXPECT_EQ(c.upstream_server_name, "db.example");
  EXPECT_EQ(c.db_user, "camtest");
  EXPECT_TRUE(c.has_fixed_account());
}

// Pass-through (the client's user name is the CAM account) only when asked for: without
// --db-user or an accounts map there is no safe account to choose.
TEST(Config, DbUserIsRequiredAndStarMeansPassThrough) {
  const std::vector<std::string> without = {"--upstream", "db:3306", "--region", "r", "--instance-id", "i"};
  auto missing = parse(without);
  EXPECT_EQ(missing.outcome, ParseOutcome::exit_usage);
  EXPECT_NE(missing.message.find("--db-user is required"), std::string::npos) << missing.message;
  EXPECT_NE(missing.message.find("'*'"), std::string::npos) << missing.message;

  auto args = without;
  args.insert(args.end(), {"--db-user", "*"});
  auto star = parse(args);
  ASSERT_EQ(star.outcome, ParseOutcome::run) << star.message;
  const TargetConfig& t = star.config.targets.at(0);
  EXPECT_TRUE(t.pass_through());
  EXPECT_FALSE(t.has_fixed_account());
  EXPECT_EQ(t.account_for("alice"), "alice");

  auto env = parse(without, {{"CAMPROXY_DB_USER", "*"}});
  ASSERT_EQ(env.outcome, ParseOutcome::run) << env.message;
  EXPECT_TRUE(env.config.targets.at(0).pass_through());
}

TEST(Config, FlagsAndEqualsForm) {
  auto r = parse({"--upstream",
                  "db.example:3306",
                  "--region",
                  "ap-guangzhou",
                  "--instance-id",
                  "cdb-1",
                  "--listen",
                  "127.0.0.1:13306",
                  "--listen=unix:/tmp/x.sock",
                  "--db-user=camtest",
                  "--upstream-tls",
                  "verify-identity",
                  "--upstream-ca-file",
                  "/ca.pem",
                  "--connect-timeout",
                  "1500ms",
                  "--admin",
                  "off",
                  "--workers",
                  "3"});
  ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
  const TargetConfig& c = r.config.targets.at(0);
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[1].to_string(), "unix:/tmp/x.sock");
  EXPECT_TRUE(c.listen[1].is_unix);
  EXPECT_EQ(c.db_user, "camtest");
  EXPECT_EQ(c.upstream_tls, UpstreamTlsMode::verify_identity);
  EXPECT_EQ(c.connect_timeout.count(), 1500);
  EXPECT_FALSE(r.config.admin.has_value());
  EXPECT_EQ(r.config.workers, 3);
}

// The modes that do not authenticate the database say so in their names; the old names stay
// as aliases (camproxy warns at start whichever is used: target.cc).
TEST(Config, UpstreamTlsModeNames) {
  const std::pair<const char*, UpstreamTlsMode> rows[] = {
      {"disable", UpstreamTlsMode::disable},
      {"insecure-preferred", UpstreamTlsMode::insecure_preferred},
      {"preferred", UpstreamTlsMode::insecure_preferred},
      {"insecure-required", UpstreamTlsMode::insecure_required},
      {"required", UpstreamTlsMode::insecure_required},
      {"verify-identity", UpstreamTlsMode::verify_identity},
  };
  for (const auto& [name, mode] : rows) {
    auto r = parse(with_required({"--upstream-tls", name}));
    ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
    EXPECT_EQ(r.config.targets.at(0).upstream_tls, mode) << name;
    EXPECT_EQ(verifies_server(mode), mode == UpstreamTlsMode::verify_identity) << name;
  }
  EXPECT_EQ(to_string(UpstreamTlsMode::insecure_required), "insecure-required");
}

TEST(Config, UpstreamRsaKeyFileIsReadAndChecked) {
  const std::string path = ::testing::TempDir() + "/camproxy-rsa-key.pem";
  // A 2048-bit RSA public key (the private half was not kept).
  const std::string pem =
      "-----BEGIN PUBLIC KEY-----\n"
      "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzjsBccgOKC/7QONbDdvF\n"
      "pPSk6Q99Mf7+EwH5/VnM9lDKFfo4YGGljYeQyOZ9QvZoM5ZipVQXFMRyjBIhwvWy\n"
      "irdeuNNAWaV+3osGc/iwFF8ONs/M/8xtoqQtqz0FjzOO3jiINLGrF8KsdQGM/dED\n"
      "AamauHOrmBhWO1GE6KBhhDSeVutzP497kyYRFfTUXbX1FreJ6T5FgIuIXoWD9vx9\n"
      "6QhIQYRcswbfwhl3ZsBlfU3cEg0zb5w7bkGfs2qfNVWTMHJWfJtzjUK5B+TufOU4\n"
      "4x9Rax9MjDBUb5MKt2hUlGNIBKWuhjIzDuMavK/anE/1W9LPnTBc69Fh378zYg0Q\n"
      "NQIDAQAB\n"
      "-----END PUBLIC KEY-----\n";
  std::ofstream(path) << pem;
  auto r = parse(with_required({"--upstream-tls", "disable", "--upstream-rsa-key-file", path}));
  ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
  EXPECT_EQ(r.config.targets.at(0).upstream_rsa_public_key, pem);
  std::remove(path.c_str());
}

TEST(Config, EnvironmentFillsUnsetFlagsAndFlagsWin) {
  auto r = parse({"--region", "ap-shanghai"}, {{"CAMPROXY_UPSTREAM", "10.0.0.1:3306"},
                                               {"CAMPROXY_REGION", "ap-guangzhou"},
                                               {"CAMPROXY_INSTANCE_ID", "cdb-env"},
                                               {"CAMPROXY_LISTEN", "127.0.0.1:1,unix:/run/m.sock"},
                                               {"CAMPROXY_DB_USER", "envuser"}});
  ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
  EXPECT_EQ(r.config.targets.at(0).region, "ap-shanghai");
  EXPECT_EQ(r.config.targets.at(0).instance_id, "cdb-env");
  EXPECT_EQ(r.config.targets.at(0).db_user, "envuser");
  ASSERT_EQ(r.config.targets.at(0).listen.size(), 2u);
  EXPECT_EQ(r.config.targets.at(0).listen[0].to_string(), "127.0.0.1:1");
}

TEST(Config, IPv6LoopbackListen) {
  auto r = parse(with_required({"--listen", "[::1]:3306"}));
  ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
  EXPECT_EQ(r.config.targets.at(0).listen[0].tcp.host, "::1");
}

TEST(Config, PoolIdleTimeoutIsAutoOrADuration) {
  auto by_default = parse(kRequired);
  ASSERT_EQ(by_default.outcome, ParseOutcome::run) << by_default.message;
  EXPECT_TRUE(by_default.config.targets.at(0).pool_idle_timeout_auto);
  EXPECT_EQ(by_default.config.targets.at(0).pool_idle_timeout, std::chrono::minutes(5));
  auto explicit_value = parse(with_required({"--pool-idle-timeout", "90s"}));
  ASSERT_EQ(explicit_value.outcome, ParseOutcome::run) << explicit_value.message;
  EXPECT_FALSE(explicit_value.config.targets.at(0).pool_idle_timeout_auto);
  EXPECT_EQ(explicit_value.config.targets.at(0).pool_idle_timeout, std::chrono::seconds(90));
  auto named_auto = parse(with_required({"--pool-idle-timeout=auto"}));
  ASSERT_EQ(named_auto.outcome, ParseOutcome::run) << named_auto.message;
  EXPECT_TRUE(named_auto.config.targets.at(0).pool_idle_timeout_auto);
}

TEST(Config, UnixSocketModeOwnerAndPeerUidsFillEveryUnixListener) {
  auto r = parse(with_required({"--listen", "unix:/run/a.sock", "--listen", "unix:/run/b.sock", "--unix-socket-mode",
                                "600", "--unix-socket-owner", "app:1234", "--allow-peer-uid", "1000"}),
                 {{"CAMPROXY_ALLOW_PEER_UID", "7,8"}});
  ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
  ASSERT_EQ(r.config.targets[0].listen.size(), 2u);
  for (const auto& l : r.config.targets[0].listen) {
    EXPECT_EQ(l.unix_mode, 0600u);
    EXPECT_EQ(l.unix_owner, "app:1234");
    EXPECT_EQ(l.allowed_peer_uids, std::vector<uint32_t>{1000});  // the flag wins over the variable
  }
  auto env = parse(with_required({"--listen", "unix:/run/a.sock"}), {{"CAMPROXY_ALLOW_PEER_UID", "7,8"}});
  ASSERT_EQ(env.outcome, ParseOutcome::run) << env.message;
  EXPECT_EQ(env.config.targets[0].listen[0].allowed_peer_uids, (std::vector<uint32_t>{7, 8}));
  EXPECT_EQ(env.config.targets[0].listen[0].unix_mode, 0660u);
  EXPECT_TRUE(env.config.targets[0].listen[0].unix_owner.empty());
  EXPECT_FALSE(env.config.targets[0].local_auth.enabled());
}

TEST(Config, NonLoopbackListenWithLocalAuthAndClientTls) {
  auto r = parse(with_required({"--listen", "0.0.0.0:3306", "--users-file", "/etc/camproxy/users"}));
  ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
  EXPECT_TRUE(r.config.targets[0].local_auth.enabled());
  EXPECT_EQ(r.config.targets[0].local_auth.users_file, "/etc/camproxy/users");
  EXPECT_EQ(r.config.targets[0].listen[0].tcp.host, "0.0.0.0");
}

struct BadCase {
  std::vector<std::string> args;
  std::string expect_in_message;
};

TEST(Config, BadInputExitsWithUsageAndOneLineReason) {
  const std::vector<BadCase> cases = {
      {{}, "--upstream is required"},
      {{"--upstream", "db:1"}, "--region is required"},
      {with_required({"--bogus"}), "unknown flag --bogus"},
      {with_required({"--listen", "0.0.0.0:3306"}), "refusing to listen on non-loopback"},
      {with_required({"--listen", "10.1.2.3:3306"}), "missing: local authentication (--users-file) (see"},
      {with_required({"--listen", "10.1.2.3:3306", "--client-tls", "off"}),
       "missing: local authentication (--users-file) and TLS to clients (--client-tls on)"},
      {with_required({"--listen", "10.1.2.3:3306", "--users-file", "/u", "--client-tls", "off"}),
       "missing: TLS to clients (--client-tls on)"},
      {with_required({"--listen", "127.0.0.1:1", "--listen", "unix:/a", "--allow-peer-uid", "5"}),
       "listener 127.0.0.1:1: a peer uid allow-list works on unix sockets only"},
      {with_required({"--allow-peer-uid", "5"}), "--allow-peer-uid needs a unix:/path listener"},
      {with_required({"--listen", "unix:/a", "--allow-peer-uid", "me"}), "expected a numeric uid"},
      {with_required({"--unix-socket-mode", "600"}), "--unix-socket-mode applies to unix:/path listeners"},
      {with_required({"--listen", "unix:/a", "--unix-socket-mode", "999"}), "expected an octal mode"},
      {with_required({"--listen", "unix:/a", "--unix-socket-mode", "60"}), "expected an octal mode"},
      {with_required({"--listen", "unix:/a", "--unix-socket-owner", ":grp"}), "expected USER or USER:GROUP"},
      {with_required({"--listen", "unix:/a", "--unix-socket-owner", "app:"}), "expected USER or USER:GROUP"},
      {with_required({"--listen", "127.0.0.1:1", "--unix-socket-owner", "app"}), "applies to unix:/path"},
      {with_required({"--listen", "unix:relative"}), "unix:/absolute/path"},
      {with_required({"--upstream-tls", "sometimes"}), "expected verify-identity, verify-ca, insecure-required"},
      {with_required({"--upstream-tls", "verify-ca"}), "verify-ca needs --upstream-ca-file"},
      {with_required({"--upstream-rsa-key-file", "/nonexistent/key.pem"}),
       "cannot read --upstream-rsa-key-file '/nonexistent/key.pem': No such file"},
      {with_required({"--upstream-rsa-key-file", "/etc/hostname"}), "holds no RSA public key in PEM"},
      {with_required({"--connect-timeout", "soon"}), "positive duration"},
      {with_required({"--connect-timeout", "367d"}), "positive duration"},
      {with_required({"--max-sigterm-delay", "9000h"}), "at most a year"},
      // 5124095576030431004 s would overflow the milliseconds (tests/fuzz, config_file).
      {with_required({"--min-sigterm-delay", "5124095576030431004s"}), "at most a year"},
      {with_required({"--workers", "0"}), "from 1 to 256"},
      {with_required({"--pool-idle-timeout", "0s"}), "expected auto or a positive duration"},
      {with_required({"--admin", "192.168.1.1:9306"}), "loopback"},
      {with_required({"--db-user"}), "needs a value"},
      {with_required({"--region", "x"}), "given more than once"},
      {{"--upstream", "nohostport", "--region", "r", "--instance-id", "i"}, "expected HOST:PORT"},
      {with_required({"--client-tls-cert", "/c.pem"}), "go together"},
      {with_required({"stray"}), "unexpected argument"},
  };
  for (const auto& c : cases) {
    auto r = parse(c.args);
    EXPECT_EQ(r.outcome, ParseOutcome::exit_usage) << c.expect_in_message;
    EXPECT_NE(r.message.find(c.expect_in_message), std::string::npos) << r.message;
    EXPECT_EQ(r.message.find('\n'), std::string::npos) << "one line: " << r.message;
  }
}

TEST(Config, HelpAndVersion) {
  auto h = parse({"--help"});
  EXPECT_EQ(h.outcome, ParseOutcome::exit_ok);
  for (const char* flag : {"--upstream", "--region", "--instance-id", "--listen", "--db-user", "--cam-endpoint",
                           "--cam-ca-file", "--upstream-tls", "--upstream-ca-file", "--admin"}) {
    EXPECT_NE(h.message.find(flag), std::string::npos) << flag;
  }
  EXPECT_EQ(parse({"--version"}).outcome, ParseOutcome::exit_ok);
}

// docs/flags.md is generated from the option table; regenerate with
// CAMPROXY_UPDATE_DOCS=1 ./camproxy_proxy_tests --gtest_filter=Config.FlagsDocIsCurrent
TEST(Config, FlagsDocIsCurrent) {
  const std::string path = std::string(CAMPROXY_TEST_DATA_DIR) + "/../../docs/flags.md";
  if (std::getenv("CAMPROXY_UPDATE_DOCS") != nullptr) std::ofstream(path) << flags_markdown();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), flags_markdown()) << "docs/flags.md is stale: regenerate it (see the comment above)";
}

// docs/config.md's key tables come from the same table (between the markers); regenerate with
// CAMPROXY_UPDATE_DOCS=1 ./camproxy_proxy_tests --gtest_filter=Config.FlagsDocInConfigMd
TEST(Config, FlagsDocInConfigMd) {
  const std::string path = std::string(CAMPROXY_TEST_DATA_DIR) + "/../../docs/config.md";
  const std::string begin = "<!-- keys:begin (generated from proxy/config/config_options.cc) -->\n";
  const std::string end = "<!-- keys:end -->\n";
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  std::string doc = text.str();
  const auto b = doc.find(begin);
  const auto e = doc.find(end);
  ASSERT_TRUE(b != std::string::npos && e != std::string::npos && b < e) << "markers missing in docs/config.md";
  const std::string fresh = doc.substr(0, b + begin.size()) + config_keys_markdown() + doc.substr(e);
  if (std::getenv("CAMPROXY_UPDATE_DOCS") != nullptr) {
    std::ofstream(path) << fresh;
    doc = fresh;
  }
  EXPECT_EQ(doc, fresh) << "docs/config.md's key tables are stale: regenerate them (see the comment above)";
}

}  // namespace
}  // namespace camproxy::proxy
