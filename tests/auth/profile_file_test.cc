// Parsing the credentials profile file (spec/tencentcloud-cam.md §7.2).
#include "auth/profile_file.h"

#include <gtest/gtest.h>

#include <string>

namespace camproxy::auth {
namespace {

TEST(ProfileFile, AcceptedLayouts) {
  const struct {
    const char* name;
    std::string text;
    std::string id, key;
  } rows[] = {
      {"plain", "[default]\nsecret_id = AKIDa\nsecret_key = ka\n", "AKIDa", "ka"},
      {"no spaces, no final newline", "[default]\nsecret_id=AKIDb\nsecret_key=kb", "AKIDb", "kb"},
      {"CRLF and tabs", "[default]\r\n\tsecret_id\t=\tAKIDc \r\nsecret_key = kc\r\n", "AKIDc", "kc"},
      {"comments and blank lines",
       "# top\n\n[default]\n; note\nsecret_id = AKIDd\n\n"
       "# secret_key = not-this\nsecret_key = kd\n",
       "AKIDd", "kd"},
      {"other sections ignored",
       "[prod]\nsecret_id = AKIDprod\nsecret_key = kprod\n[default]\nsecret_id = AKIDe\n"
       "secret_key = ke\n[dev]\nsecret_id = AKIDdev\n",
       "AKIDe", "ke"},
      {"keys before any section ignored",
       "secret_id = AKIDx\n[default]\nsecret_id = AKIDf\n"
       "secret_key = kf\n",
       "AKIDf", "kf"},
      {"split at the first '=' only, no unquoting", "[default]\nsecret_id = AKIDg\nsecret_key = \"a=b==\"\n", "AKIDg",
       "\"a=b==\""},
      {"last value wins", "[default]\nsecret_id = AKIDold\nsecret_id = AKIDh\nsecret_key = kh\n", "AKIDh", "kh"},
      {"keys case-insensitive", "[default]\nSecret_Id = AKIDi\nSECRET_KEY = ki\n", "AKIDi", "ki"},
      {"section name trimmed", "[ default ]\nsecret_id = AKIDj\nsecret_key = kj\n", "AKIDj", "kj"},
      {"UTF-8 BOM", "\xef\xbb\xbf[default]\nsecret_id = AKIDk\nsecret_key = kk\n", "AKIDk", "kk"},
      {"unknown keys ignored", "[default]\nregion = ap-x\nsecret_id = AKIDl\nsecret_key = kl\n", "AKIDl", "kl"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const auto c = parse_profile(row.text);
    ASSERT_TRUE(c.has_value()) << static_cast<int>(c.error().code) << " line " << c.error().line;
    EXPECT_EQ(c->secret_id, row.id);
    EXPECT_EQ(c->secret_key.view(), row.key);
    EXPECT_TRUE(c->session_token.empty());
  }
}

TEST(ProfileFile, RejectedLayoutsNameTheLine) {
  const struct {
    const char* name;
    std::string text;
    AuthErr err;
    std::size_t line;
  } rows[] = {
      {"empty", "", AuthErr::profile_key_missing, 0},
      {"no default section", "[prod]\nsecret_id = a\nsecret_key = b\n", AuthErr::profile_key_missing, 0},
      {"no key", "[default]\nsecret_id = AKID\n", AuthErr::profile_key_missing, 0},
      {"no id", "[default]\nsecret_key = k\n", AuthErr::profile_key_missing, 0},
      {"empty key value", "[default]\nsecret_id = AKID\nsecret_key =\n", AuthErr::profile_key_missing, 0},
      {"line without '='", "[default]\nsecret_id = AKID\nsecret_key k\n", AuthErr::profile_malformed, 3},
      {"unclosed section", "\n[default\nsecret_id = a\n", AuthErr::profile_malformed, 2},
      {"bad line in another section", "[default]\nsecret_id = a\nsecret_key = b\n[x]\njunk\n",
       AuthErr::profile_malformed, 5},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const auto c = parse_profile(row.text);
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().code, row.err);
    EXPECT_EQ(c.error().line, row.line);
  }
}

}  // namespace
}  // namespace camproxy::auth
