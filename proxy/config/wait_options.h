#pragma once
// `camproxy wait`'s flags: an option table like camproxy's own (config_options.h), read by the
// same flag reader, with the same value parsers, and listed in docs/flags.md.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/config/config_options.h"

namespace camproxy::proxy {

inline constexpr std::chrono::milliseconds kWaitRetryEvery{200};

struct WaitSettings {
  HostPort admin = *Config{}.admin;  // where camproxy's own --admin listens by default
  std::string path = "/readyz";
  std::chrono::milliseconds timeout{30000};
};

// The rows write into `into` (the Config and TargetConfig they are handed stay untouched).
std::vector<OptionSpec> wait_option_table(WaitSettings& into);

// argv after "wait"; CAMPROXY_<FLAG> as camproxy itself. nullopt and a usage message on error.
std::optional<WaitSettings> parse_wait_flags(int argc, const char* const* argv, const char* (*getenv_fn)(const char*),
                                             std::string& error);

// "Usage: camproxy wait [--admin ADDR] ..." and the Markdown section of docs/flags.md.
std::string wait_usage();
std::string wait_flags_markdown();

}  // namespace camproxy::proxy
