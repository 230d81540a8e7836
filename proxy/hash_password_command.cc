#include "proxy/hash_password_command.h"

#include <string>
#include <string_view>

#include "auth/secret.h"
#include "proxy/config/local_users.h"

namespace camproxy::proxy {
namespace {

constexpr size_t kMaxPasswordBytes = 1024;

int usage(std::FILE* err, const char* why) {
  std::fprintf(err,
               "camproxy hash-password: %s\n"
               "usage: printf '%%s\\n' \"$PASSWORD\" | camproxy hash-password NAME >> users-file\n",
               why);
  return 2;
}

}  // namespace

int run_hash_password_command(int argc, const char* const* argv, std::FILE* in, std::FILE* out, std::FILE* err) {
  if (argc != 1) return usage(err, "expected one user name");
  const std::string_view name = argv[0];
  std::string line;
  for (int ch = std::fgetc(in); ch != EOF && ch != '\n'; ch = std::fgetc(in)) {
    line.push_back(static_cast<char>(ch));
    if (line.size() > kMaxPasswordBytes) {
      auth::cleanse(line);
      return usage(err, "the password is longer than 1024 bytes");
    }
  }
  if (line.ends_with('\r')) line.pop_back();
  auth::SecretString password = auth::SecretString::take(line);
  if (password.empty()) return usage(err, "no password on stdin (one line, not empty)");
  if (password.view().find('\0') != std::string_view::npos) return usage(err, "NUL byte in the password");
  // The check the users file gets: a bad name would make a line camproxy refuses.
  if (auto e = check_user_name(name)) return usage(err, e->c_str());
  std::fprintf(out, "%s\n", users_file_line(name, password.bytes()).c_str());
  return 0;
}

}  // namespace camproxy::proxy
