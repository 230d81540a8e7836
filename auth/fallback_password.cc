#include "auth/fallback_password.h"

#include <string_view>

#include "auth/small_file.h"

namespace camproxy::auth {
namespace {

tl::unexpected<std::error_code> fail(AuthErr e) { return tl::unexpected(make_error_code(e)); }

AuthErr to_error(FileProblem problem) {
  switch (problem) {
    case FileProblem::not_regular: return AuthErr::fallback_not_regular;
    case FileProblem::world_readable: return AuthErr::fallback_world_readable;
    case FileProblem::too_large: return AuthErr::fallback_too_large;
    case FileProblem::missing:
    case FileProblem::unreadable: break;
  }
  return AuthErr::fallback_unreadable;
}

// Length of the single line without its terminator.
std::size_t line_length(std::string_view text) {
  if (text.ends_with("\r\n")) return text.size() - 2;
  if (text.ends_with('\n') || text.ends_with('\r')) return text.size() - 1;
  return text.size();
}

}  // namespace

Result<SecretString> read_fallback_password(const std::string& path) {
  auto file = read_small_file(path, SmallFileRules{kMaxFallbackPasswordBytes, true});
  if (!file) return fail(to_error(file.error()));
  SecretString password = std::move(file->bytes);
  password.truncate(line_length(password.view()));
  const std::string_view line = password.view();
  if (line.find_first_of("\r\n") != std::string_view::npos) {
    return fail(AuthErr::fallback_multiple_lines);
  }
  if (line.empty()) return fail(AuthErr::fallback_empty);
  if (line.find('\0') != std::string_view::npos) return fail(AuthErr::fallback_nul_byte);
  return password;
}

}  // namespace camproxy::auth
