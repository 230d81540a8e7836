// `camproxy status`'s flags, read like `camproxy wait`'s (subcommand_flags.h).
#include "proxy/config/status_options.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/proxy/fake_getenv.h"

namespace camproxy::proxy {
namespace {

using testing::fake_getenv;
using testing::g_env;

std::optional<StatusSettings> parse(std::vector<std::string> args, std::string& error,
                                    std::map<std::string, std::string> env = {}) {
  g_env = std::move(env);
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_status_flags(static_cast<int>(argv.size()), argv.data(), fake_getenv, error);
}

TEST(StatusOptions, DefaultIsCamproxysAdminTheEnvironmentAndTheFlagOverrideIt) {
  std::string error;
  EXPECT_EQ(parse({}, error)->admin.to_string(), "127.0.0.1:9306");
  EXPECT_EQ(parse({}, error, {{"CAMPROXY_ADMIN", "127.0.0.1:1"}})->admin.to_string(), "127.0.0.1:1");
  EXPECT_EQ(parse({"--admin=127.0.0.1:2"}, error, {{"CAMPROXY_ADMIN", "127.0.0.1:1"}})->admin.to_string(),
            "127.0.0.1:2");
}

TEST(StatusOptions, BadFlagsSayWhy) {
  std::string error;
  EXPECT_FALSE(parse({"--admin", "nowhere"}, error));
  EXPECT_EQ(error, "--admin: expected HOST:PORT, got 'nowhere'");
  EXPECT_FALSE(parse({"--path", "/x"}, error));
  EXPECT_NE(error.find("--path"), std::string::npos) << error;
  EXPECT_EQ(status_usage(), "Usage: camproxy status [--admin 127.0.0.1:9306]\n");
}

}  // namespace
}  // namespace camproxy::proxy
