// JsonObject, the admin endpoint's one-line JSON answers: field order, escaping, nesting.
#include "proxy/json_object.h"

#include <gtest/gtest.h>

namespace camproxy::proxy {
namespace {

TEST(JsonObject, EmptyIsAnEmptyObject) { EXPECT_EQ(JsonObject().str(), "{}"); }

TEST(JsonObject, FieldsInOrderWithStringsEscaped) {
  const std::string text = JsonObject()
                               .add("outcome", "rejected")
                               .add("error", "line 3: \"x\"\n\\")
                               .add("workers", int64_t{4})
                               .add("fallback", false)
                               .str();
  EXPECT_EQ(text, R"({"outcome":"rejected","error":"line 3: \"x\"\n\\","workers":4,"fallback":false})");
}

TEST(JsonObject, NestsRawValuesAndArrays) {
  const std::string inner = JsonObject().add("name", "a").str();
  EXPECT_EQ(JsonObject().raw("targets", json_array({inner, inner})).raw("none", json_array({})).str(),
            R"({"targets":[{"name":"a"},{"name":"a"}],"none":[]})");
}

}  // namespace
}  // namespace camproxy::proxy
