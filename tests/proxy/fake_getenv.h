#pragma once
// A getenv for the flag readers' tests (they take `const char* (*)(const char*)`): answers from
// g_env, which each test's parse helper sets before it parses.
#include <map>
#include <string>

namespace camproxy::proxy::testing {

inline std::map<std::string, std::string> g_env;

inline const char* fake_getenv(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

}  // namespace camproxy::proxy::testing
