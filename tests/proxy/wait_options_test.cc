// `camproxy wait`'s flags, read through the option table machinery camproxy itself uses.
#include "proxy/config/wait_options.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/proxy/fake_getenv.h"

namespace camproxy::proxy {
namespace {

using testing::fake_getenv;
using testing::g_env;

struct Parsed {
  std::optional<WaitSettings> settings;
  std::string error;
};

Parsed parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  g_env = std::move(env);
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  Parsed p;
  p.settings = parse_wait_flags(static_cast<int>(argv.size()), argv.data(), fake_getenv, p.error);
  return p;
}

TEST(WaitOptions, DefaultsAskCamproxysDefaultAdminForReadyz) {
  auto p = parse({});
  ASSERT_TRUE(p.settings) << p.error;
  EXPECT_EQ(p.settings->admin, (HostPort{"127.0.0.1", 9306}));
  EXPECT_EQ(p.settings->admin, *Config{}.admin);
  EXPECT_EQ(p.settings->path, "/readyz");
  EXPECT_EQ(p.settings->timeout, std::chrono::seconds(30));
}

TEST(WaitOptions, FlagsInBothSpellingsAndAnyDuration) {
  auto p = parse({"--admin=[::1]:9400", "--path", "/startup", "--timeout", "1500ms"});
  ASSERT_TRUE(p.settings) << p.error;
  EXPECT_EQ(p.settings->admin, (HostPort{"::1", 9400}));
  EXPECT_EQ(p.settings->path, "/startup");
  EXPECT_EQ(p.settings->timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(parse({"--timeout", "60"}).settings->timeout, std::chrono::seconds(60));  // seconds, as before
  EXPECT_EQ(parse({"--timeout", "0s"}).settings->timeout, std::chrono::seconds(0));   // ask once
}

TEST(WaitOptions, EnvironmentAsForCamproxyTheFlagWins) {
  EXPECT_EQ(parse({}, {{"CAMPROXY_ADMIN", "127.0.0.1:9500"}}).settings->admin.port, 9500);
  EXPECT_EQ(parse({"--admin", "127.0.0.1:9600"}, {{"CAMPROXY_ADMIN", "127.0.0.1:9500"}}).settings->admin.port, 9600);
}

TEST(WaitOptions, BadFlagsSayWhy) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--nope", "x"}, "unknown flag --nope"},
      {{"--timeout"}, "--timeout needs a value (DURATION)"},
      {{"--path", "readyz"}, "--path: expected a path starting with /"},
      {{"--timeout", "soon"}, "--timeout: expected a duration"},
      {{"--admin", "localhost"}, "--admin: expected HOST:PORT"},
      {{"--path", "/a", "--path", "/b"}, "--path given more than once"},
      {{"extra"}, "unexpected argument 'extra'"},
  };
  for (const auto& [args, why] : cases) {
    auto p = parse(args);
    EXPECT_FALSE(p.settings) << why;
    EXPECT_NE(p.error.find(why), std::string::npos) << p.error;
  }
}

TEST(WaitOptions, UsageListsEveryFlagWithItsDefault) {
  EXPECT_EQ(wait_usage(), "Usage: camproxy wait [--admin 127.0.0.1:9306] [--path /readyz] [--timeout 30s]\n");
}

}  // namespace
}  // namespace camproxy::proxy
