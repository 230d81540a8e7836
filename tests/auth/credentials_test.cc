// Credentials from the environment (spec §7.1) and SecretString.
#include "auth/credentials.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace camproxy::auth {
namespace {

using Env = std::map<std::string, std::string>;

Result<Credential> from(const Env& env) {
  return credential_from_env([&env](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(CredentialFromEnv, IdAndKeyWithoutToken) {
  const auto c = from({{"TENCENTCLOUD_SECRET_ID", "AKIDx"}, {"TENCENTCLOUD_SECRET_KEY", "k1"}});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->secret_id, "AKIDx");
  EXPECT_EQ(c->secret_key.view(), "k1");
  EXPECT_TRUE(c->session_token.empty());
}

TEST(CredentialFromEnv, SessionTokenAndItsAlias) {
  const Env base = {{"TENCENTCLOUD_SECRET_ID", "AKIDx"}, {"TENCENTCLOUD_SECRET_KEY", "k1"}};
  Env env = base;
  env["TENCENTCLOUD_TOKEN"] = "alias";
  EXPECT_EQ(from(env)->session_token.view(), "alias");
  env["TENCENTCLOUD_SESSION_TOKEN"] = "primary";
  EXPECT_EQ(from(env)->session_token.view(), "primary");
  env["TENCENTCLOUD_SESSION_TOKEN"] = "";  // empty: falls back to the alias
  EXPECT_EQ(from(env)->session_token.view(), "alias");
}

TEST(CredentialFromEnv, MissingOrEmptyVariableIsNamedNotShown) {
  const struct {
    Env env;
    AuthErr err;
    std::string_view variable;
  } rows[] = {
      {{}, AuthErr::secret_id_missing, "TENCENTCLOUD_SECRET_ID"},
      {{{"TENCENTCLOUD_SECRET_ID", ""}, {"TENCENTCLOUD_SECRET_KEY", "secretvalue"}},
       AuthErr::secret_id_missing,
       "TENCENTCLOUD_SECRET_ID"},
      {{{"TENCENTCLOUD_SECRET_ID", "AKIDvisible"}}, AuthErr::secret_key_missing, "TENCENTCLOUD_SECRET_KEY"},
      {{{"TENCENTCLOUD_SECRET_ID", "AKIDvisible"}, {"TENCENTCLOUD_SECRET_KEY", ""}},
       AuthErr::secret_key_missing,
       "TENCENTCLOUD_SECRET_KEY"},
  };
  for (const auto& row : rows) {
    const auto c = from(row.env);
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error(), make_error_code(row.err));
    const std::string msg = c.error().message();
    EXPECT_NE(msg.find(row.variable), std::string::npos) << msg;
    EXPECT_EQ(msg.find("secretvalue"), std::string::npos);
    EXPECT_EQ(msg.find("AKIDvisible"), std::string::npos);
  }
}

TEST(CredentialFromEnv, ReadsTheProcessEnvironment) {
  ::setenv("TENCENTCLOUD_SECRET_ID", "AKIDprocess", 1);
  ::setenv("TENCENTCLOUD_SECRET_KEY", "kprocess", 1);
  ::unsetenv("TENCENTCLOUD_SESSION_TOKEN");
  ::setenv("TENCENTCLOUD_TOKEN", "tprocess", 1);
  const auto c = credential_from_env();
  ::unsetenv("TENCENTCLOUD_SECRET_ID");
  ::unsetenv("TENCENTCLOUD_SECRET_KEY");
  ::unsetenv("TENCENTCLOUD_TOKEN");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->secret_id, "AKIDprocess");
  EXPECT_EQ(c->secret_key.view(), "kprocess");
  EXPECT_EQ(c->session_token.view(), "tprocess");
  EXPECT_EQ(credential_from_env().error(), make_error_code(AuthErr::secret_id_missing));
}

TEST(SecretString, MoveHandsOverTheBufferAndEmptiesTheSource) {
  SecretString a("hunter2");
  const char* bytes = a.view().data();
  SecretString b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from state is defined
  EXPECT_EQ(a.view(), "");
  EXPECT_EQ(b.view(), "hunter2");
  EXPECT_EQ(b.view().data(), bytes);  // same buffer: no stale copy left behind
  SecretString c;
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.view(), "hunter2");
}

TEST(SecretString, CopyIsExplicitAndIndependent) {
  static_assert(!std::is_copy_constructible_v<SecretString>);
  static_assert(!std::is_copy_assignable_v<SecretString>);
  static_assert(std::is_nothrow_move_constructible_v<SecretString>);
  const SecretString a("abc");
  SecretString b = a.copy();
  EXPECT_EQ(b.view(), "abc");
  EXPECT_NE(b.view().data(), a.view().data());
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(a.view(), "abc");
}

TEST(SecretString, TakeWipesTheSourceString) {
  std::string source = "a-long-secret-that-is-not-in-the-small-string-buffer";
  const char* buffer = source.data();
  const std::size_t size = source.size();
  SecretString s = SecretString::take(source);
  EXPECT_EQ(s.view(), "a-long-secret-that-is-not-in-the-small-string-buffer");
  EXPECT_TRUE(source.empty());
  EXPECT_EQ(source.data(), buffer);  // same allocation, now wiped
  EXPECT_EQ(std::string(buffer, size), std::string(size, '\0'));
}

TEST(SecretString, ZeroedWritableAndTruncate) {
  SecretString s = SecretString::zeroed(4);
  EXPECT_EQ(s.view(), std::string_view("\0\0\0\0", 4));
  auto w = s.writable();
  w[0] = 'a';
  w[1] = 'b';
  w[2] = 'c';
  s.truncate(2);
  EXPECT_EQ(s.view(), "ab");
  s.truncate(10);  // never grows
  EXPECT_EQ(s.view(), "ab");
  EXPECT_TRUE(SecretString::zeroed(0).empty());
}

}  // namespace
}  // namespace camproxy::auth
