#include "tests/vector_file.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>

namespace camproxy::auth::test {

simdjson::dom::element load_vectors(std::string_view file_name) {
  // One parser per file: a dom::parser owns the one document it parsed last.
  static std::map<std::string, std::unique_ptr<simdjson::dom::parser>, std::less<>> parsers;
  static std::map<std::string, simdjson::dom::element, std::less<>> docs;
  if (const auto it = docs.find(file_name); it != docs.end()) return it->second;

  const std::string path = std::string(CAMPROXY_VECTORS_DIR) + "/" + std::string(file_name);
  auto parser = std::make_unique<simdjson::dom::parser>();
  simdjson::dom::element doc;
  const auto rc = parser->load(path).get(doc);
  EXPECT_EQ(rc, simdjson::SUCCESS) << path << ": " << simdjson::error_message(rc);
  if (rc != simdjson::SUCCESS) return {};
  parsers.emplace(std::string(file_name), std::move(parser));
  docs.emplace(std::string(file_name), doc);
  return doc;
}

std::string str(simdjson::dom::element e, std::string_view key) {
  std::string_view v;
  EXPECT_EQ(e[key].get(v), simdjson::SUCCESS) << "string field " << key;
  return std::string(v);
}

std::int64_t i64(simdjson::dom::element e, std::string_view key) {
  std::int64_t v = 0;
  EXPECT_EQ(e[key].get(v), simdjson::SUCCESS) << "int64 field " << key;
  return v;
}

std::uint64_t u64(simdjson::dom::element e, std::string_view key) {
  std::uint64_t v = 0;
  EXPECT_EQ(e[key].get(v), simdjson::SUCCESS) << "uint64 field " << key;
  return v;
}

simdjson::dom::array arr(simdjson::dom::element e, std::string_view key) {
  simdjson::dom::array v;
  EXPECT_EQ(e[key].get(v), simdjson::SUCCESS) << "array field " << key;
  return v;
}

bool is_null(simdjson::dom::element e, std::string_view key) {
  simdjson::dom::element v;
  return e[key].get(v) != simdjson::SUCCESS || v.is_null();
}

}  // namespace camproxy::auth::test
