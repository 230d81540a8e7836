// The option table's defaults: each one the docs show as a value is what the setting holds when
// the option is not given, and the duration text they are printed with parses back.
#include "proxy/config/config_options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/config/config_values.h"

namespace camproxy::proxy {
namespace {

const char* no_env(const char*) { return nullptr; }

Config parsed(std::vector<std::string> args) {
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  ParseResult r = parse_command_line(static_cast<int>(argv.size()), argv.data(), no_env);
  EXPECT_EQ(r.outcome, ParseOutcome::run) << r.message;
  return r.config;
}

// Most defaults are printed from the fields' initializers; the words ("info", "preferred",
// "off", "auto") are written in the table, and this test ties them to the fields.
TEST(ConfigOptions, EveryDefaultValueIsWhatTheSettingHoldsWhenNotGiven) {
  const std::vector<std::string> base = {
      "--upstream", "db.example:3306", "--region", "ap-guangzhou", "--instance-id",
      "cdb-1",      "--db-user",       "app",      "--listen",     "unix:/run/camproxy.sock"};
  int checked = 0;
  for (const auto& o : option_table()) {
    if (!o.default_text.is_value) continue;
    auto args = base;
    if (o.flag == "listen") args.resize(args.size() - 2);  // the default listener, without the unix one
    const Config without = parsed(args);
    args.push_back("--" + std::string(o.flag));
    args.push_back(o.default_text.text);
    if (o.flag == "listen") {
      EXPECT_EQ(parsed(args).targets.at(0).listen, without.targets.at(0).listen) << "--listen " << o.default_text.text;
    } else {
      EXPECT_TRUE(parsed(args) == without) << "--" << o.flag << " " << o.default_text.text << " is not the default";
    }
    ++checked;
  }
  EXPECT_GE(checked, 20);
}

TEST(ConfigOptions, DurationsPrintInTheLargestWholeUnitAndParseBack) {
  using std::chrono::milliseconds;
  const std::pair<milliseconds, std::string> cases[] = {
      {milliseconds(0), "0s"},       {milliseconds(500), "500ms"},   {milliseconds(1500), "1500ms"},
      {milliseconds(10000), "10s"},  {milliseconds(90000), "90s"},   {milliseconds(300000), "5m"},
      {milliseconds(3600000), "1h"}, {milliseconds(5400000), "90m"},
  };
  for (const auto& [d, text] : cases) {
    EXPECT_EQ(format_duration(d), text);
    EXPECT_EQ(parse_duration(text), d) << text;
  }
}

}  // namespace
}  // namespace camproxy::proxy
