// The fallback password file rules (issue 3, spec/tencentcloud-cam.md §5).
#include "auth/fallback_password.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "temp_dir.h"

namespace camproxy::auth {
namespace {

using test::TempDir;

TEST(FallbackPassword, OneLineWithOrWithoutItsTerminator) {
  const TempDir dir;
  const struct {
    std::string content, password;
  } rows[] = {
      {"s3cret", "s3cret"},
      {"s3cret\n", "s3cret"},
      {"s3cret\r\n", "s3cret"},
      {"s3cret\r", "s3cret"},
      {" spaces are kept\t", " spaces are kept\t"},
      {std::string(200, 'p'), std::string(200, 'p')},
      {std::string(199, 'p') + "\n", std::string(199, 'p')},
      {"\xe5\xaf\x86\xe7\xa0\x81", "\xe5\xaf\x86\xe7\xa0\x81"},  // UTF-8 taken as bytes
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.password);
    const auto password = read_fallback_password(dir.write("pw", row.content, 0600));
    ASSERT_TRUE(password.has_value()) << password.error().message();
    EXPECT_EQ(password->view(), row.password);
  }
  // Group-readable is fine (e.g. a Kubernetes Secret with fsGroup); only "others" is not.
  EXPECT_TRUE(read_fallback_password(dir.write("pw", "x", 0640)).has_value());
  EXPECT_TRUE(read_fallback_password(dir.write("pw", "x", 0400)).has_value());
}

TEST(FallbackPassword, EachRefusalNamesItsRuleAndNeverTheContent) {
  const TempDir dir;
  const std::string secret = "Sup3rSecretFallback";
  const struct {
    const char* name;
    std::string content;
    mode_t mode;
    AuthErr err;
  } rows[] = {
      {"world readable", secret, 0644, AuthErr::fallback_world_readable},
      {"world readable only", secret, 0604, AuthErr::fallback_world_readable},
      {"201 bytes", std::string(201, 'p'), 0600, AuthErr::fallback_too_large},
      {"200 bytes and a newline", std::string(200, 'p') + "\n", 0600, AuthErr::fallback_too_large},
      {"empty file", "", 0600, AuthErr::fallback_empty},
      {"only a newline", "\n", 0600, AuthErr::fallback_empty},
      {"only CRLF", "\r\n", 0600, AuthErr::fallback_empty},
      {"two lines", secret + "\nsecond", 0600, AuthErr::fallback_multiple_lines},
      {"two terminated lines", secret + "\nsecond\n", 0600, AuthErr::fallback_multiple_lines},
      {"empty second line", secret + "\n\n", 0600, AuthErr::fallback_multiple_lines},
      {"lone CR inside", "abc\rdef", 0600, AuthErr::fallback_multiple_lines},
      {"NUL byte", std::string("abc\0def", 7), 0600, AuthErr::fallback_nul_byte},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const auto password = read_fallback_password(dir.write("pw", row.content, row.mode));
    ASSERT_FALSE(password.has_value());
    EXPECT_EQ(password.error(), make_error_code(row.err));
    const std::string message = password.error().message();
    EXPECT_NE(message.find("fallback password file"), std::string::npos) << message;
    EXPECT_EQ(message.find(secret), std::string::npos) << message;
  }
}

TEST(FallbackPassword, OnlyRegularFilesThatExist) {
  const TempDir dir;
  EXPECT_EQ(read_fallback_password(dir.file("absent")).error(), make_error_code(AuthErr::fallback_unreadable));
  EXPECT_EQ(read_fallback_password(dir.path()).error(), make_error_code(AuthErr::fallback_not_regular));
  // A FIFO must not block the reader (it is opened non-blocking, then refused).
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(read_fallback_password(fifo).error(), make_error_code(AuthErr::fallback_not_regular));
  EXPECT_EQ(read_fallback_password("/dev/null").error(), make_error_code(AuthErr::fallback_not_regular));
  // A symlink is followed (Kubernetes mounts Secrets through symlinks).
  const std::string target = dir.write("real", "linked\n", 0600);
  ASSERT_EQ(::symlink(target.c_str(), dir.file("link").c_str()), 0);
  const auto linked = read_fallback_password(dir.file("link"));
  ASSERT_TRUE(linked.has_value());
  EXPECT_EQ(linked->view(), "linked");
}

}  // namespace
}  // namespace camproxy::auth
