// auth/json_text.h's string writer: the one JSON escaper, used by the CAM/STS request bodies
// and by proxy/ops/log.cc's JSON lines.
#include "auth/json_text.h"

#include <gtest/gtest.h>

#include <string>

namespace camproxy::auth {
namespace {

std::string as_json(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(AppendJsonString, QuotesPlainText) { EXPECT_EQ(as_json("abc"), "\"abc\""); }

TEST(AppendJsonString, EscapesQuoteAndBackslash) { EXPECT_EQ(as_json("a\"b\\c"), "\"a\\\"b\\\\c\""); }

TEST(AppendJsonString, EscapesControlCharacters) {
  EXPECT_EQ(as_json("\n\r\t"), "\"\\n\\r\\t\"");
  EXPECT_EQ(as_json(std::string("\x01\x1f\0", 3)), "\"\\u0001\\u001f\\u0000\"");
}

TEST(AppendJsonString, KeepsUtf8AndDelRaw) {
  // The Go SDK's compact form: non-ASCII stays raw UTF-8, DEL is not a control character in JSON.
  EXPECT_EQ(as_json("caf\xc3\xa9\x7f"), "\"caf\xc3\xa9\x7f\"");
}

TEST(AppendJsonString, Appends) {
  std::string out = "x=";
  append_json_string(out, "");
  EXPECT_EQ(out, "x=\"\"");
}

}  // namespace
}  // namespace camproxy::auth
