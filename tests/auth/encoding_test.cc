// Base64 (spec §4.3 step 3) and UTF-8 validation used by the token codec.
#include <gtest/gtest.h>

#include <string>

#include "auth/base64.h"
#include "auth/utf8.h"

namespace camproxy::auth {
namespace {

std::string decoded(std::string_view text) {
  const auto out = decode_base64_any(text);
  return out ? std::string(out->view()) : std::string("<invalid>");
}

TEST(Base64, AcceptsBothAlphabetsPaddedOrNot) {
  EXPECT_EQ(decoded(""), "");
  EXPECT_EQ(decoded("Zg"), "f");
  EXPECT_EQ(decoded("Zg=="), "f");
  EXPECT_EQ(decoded("Zm8"), "fo");
  EXPECT_EQ(decoded("Zm8="), "fo");
  EXPECT_EQ(decoded("Zm9v"), "foo");
  EXPECT_EQ(decoded("-_-_"), "\xfb\xff\xbf");
  EXPECT_EQ(decoded("+/+/"), "\xfb\xff\xbf");
  EXPECT_EQ(decoded("-/+_"), "\xfb\xff\xbf");
}

TEST(Base64, RejectsWhatTheStrictRuleForbids) {
  EXPECT_EQ(decoded("Z"), "<invalid>");       // length 1 mod 4
  EXPECT_EQ(decoded("Zm9vZ"), "<invalid>");   // length 1 mod 4
  EXPECT_EQ(decoded("Zg==="), "<invalid>");   // three '='
  EXPECT_EQ(decoded("Z=g="), "<invalid>");    // '=' inside
  EXPECT_EQ(decoded("Zm 9v"), "<invalid>");   // space
  EXPECT_EQ(decoded("Zm9*"), "<invalid>");    // masked character
  EXPECT_EQ(decoded("Zm9v\n"), "<invalid>");  // newline
}

TEST(Utf8, ValidatesPerRfc3629) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("ascii"));
  EXPECT_TRUE(is_valid_utf8("\xe6\xb5\x8b\xe8\xaf\x95"));  // 测试
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));          // U+1F600
  EXPECT_FALSE(is_valid_utf8("\x70\x77\xff\xfe"));         // auth_token.json password_invalid_utf8
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));                 // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));             // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));         // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe6\xb5"));                 // cut short
  EXPECT_FALSE(is_valid_utf8("\x80"));                     // lone continuation
}

}  // namespace
}  // namespace camproxy::auth
