// Fuzz target: the --config file parser (proxy/config/config_file.h), YAML or JSON an operator wrote
// or a tool generated. Input: the file's bytes.
//
// Properties: no exception escapes and nothing crashes (yaml-cpp's own errors become messages);
// every error is a non-empty message whose "(line N)", if any, names a line of the text (or
// the one after its end, where an unterminated document ends); a file without errors has
// 1 to 256 targets, each with a non-empty name, and names that do not repeat a check finds.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/config/config_file.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

size_t line_count(std::string_view text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1; }

void check_error(const std::string& e, std::string_view text) {
  CAMPROXY_FUZZ_CHECK(!e.empty());
  const auto at = e.rfind("(line ");
  if (at == std::string::npos || e.back() != ')') return;
  const std::string digits = e.substr(at + 6, e.size() - at - 7);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return;  // "(line " inside a quoted value, not a line number
  const unsigned long line = std::stoul(digits);
  CAMPROXY_FUZZ_CHECK(line >= 1 && line <= line_count(text) + 1);
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto file = camproxy::proxy::parse_config_text(text);
  for (const auto& e : file.errors) check_error(e, text);
  if (!file.errors.empty()) return 0;
  const auto& targets = file.config.targets;
  CAMPROXY_FUZZ_CHECK(!targets.empty() && targets.size() <= 256);
  CAMPROXY_FUZZ_CHECK(file.target_lines.size() == targets.size());
  for (const auto& t : targets) CAMPROXY_FUZZ_CHECK(!t.name.empty());
  (void)camproxy::proxy::check_targets_apart(targets, file.target_lines);
  CAMPROXY_FUZZ_CHECK(!camproxy::proxy::describe_config(file.config).empty());
  return 0;
}
