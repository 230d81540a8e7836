// Reads the known-answer vectors in tests/vectors/ (verbatim copies of shared/vectors), for the
// unit tests and the micro-benchmarks.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace camproxy::auth::test {

// Parses tests/vectors/<file_name> once; the element stays valid for the process.
// Fails the test (and returns an empty object) when the file cannot be parsed.
simdjson::dom::element load_vectors(std::string_view file_name);

// Field accessors that fail the current test when the field is missing or mistyped.
std::string str(simdjson::dom::element e, std::string_view key);
std::int64_t i64(simdjson::dom::element e, std::string_view key);
std::uint64_t u64(simdjson::dom::element e, std::string_view key);
simdjson::dom::array arr(simdjson::dom::element e, std::string_view key);
bool is_null(simdjson::dom::element e, std::string_view key);

}  // namespace camproxy::auth::test
