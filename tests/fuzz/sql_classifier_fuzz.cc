// Fuzz target: the COM_QUERY reader (proxy/session/sql_classifier.h), classify_statements and
// parse_kill, on text any application may send. Input: the query text.
//
// Properties: nothing crashes; a query is either unreplayable with a reason and no replayable
// SET, or replayable with no reason; every replayable SET is a non-empty piece of the input,
// trimmed of blanks and ';', that classified alone is replayable and yields exactly itself; a
// USE'd schema is a piece of the input without a backquote; a parsed KILL names a number the
// input spells (a KILL USER names none).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/session/sql_classifier.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using proxy::KillStatement;

bool blank_or_separator(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0 || c == ';'; }

void check_replayable_set(const std::string& set, std::string_view sql) {
  CAMPROXY_FUZZ_CHECK(!set.empty());
  CAMPROXY_FUZZ_CHECK(sql.find(set) != std::string_view::npos);
  CAMPROXY_FUZZ_CHECK(!blank_or_separator(set.back()));
  CAMPROXY_FUZZ_CHECK(std::isspace(static_cast<unsigned char>(set.front())) == 0);
  const auto alone = proxy::classify_statements(set);  // what a replay on a new connection sends
  CAMPROXY_FUZZ_CHECK(!alone.unreplayable);
  CAMPROXY_FUZZ_CHECK(alone.replayable_sets.size() == 1 && alone.replayable_sets.front() == set);
}

void check_kill(const KillStatement& kill, std::string_view sql) {
  if (kill.target == KillStatement::Target::user) return;
  CAMPROXY_FUZZ_CHECK(sql.find(std::to_string(kill.id)) != std::string_view::npos);
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const auto effects = camproxy::proxy::classify_statements(sql);
  if (effects.unreplayable) {
    CAMPROXY_FUZZ_CHECK(!effects.reason.empty() && effects.replayable_sets.empty());
  } else {
    CAMPROXY_FUZZ_CHECK(effects.reason.empty());
  }
  for (const auto& set : effects.replayable_sets) check_replayable_set(set, sql);
  if (effects.schema) {
    CAMPROXY_FUZZ_CHECK(effects.schema->find('`') == std::string::npos);
    CAMPROXY_FUZZ_CHECK(sql.find(*effects.schema) != std::string_view::npos);
  }
  if (const auto kill = camproxy::proxy::parse_kill(sql)) check_kill(*kill, sql);
  return 0;
}
