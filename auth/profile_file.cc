#include "auth/profile_file.h"

#include <cstdint>

namespace camproxy::auth {
namespace {

constexpr std::string_view kSection = "default";
constexpr std::string_view kUtf8Bom = "\xef\xbb\xbf";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char c = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (c != lower[i]) return false;
  }
  return true;
}

// The line without its CRs, trimmed. The copy is a secret (it may hold the key).
SecretString clean_line(std::string_view raw) {
  SecretString line = SecretString::zeroed(raw.size());
  std::size_t n = 0;
  for (const char c : raw) {
    if (c != '\r') line.writable()[n++] = static_cast<std::uint8_t>(c);
  }
  line.truncate(n);
  const std::string_view trimmed = trim(line.view());
  return trimmed.size() == line.size() ? std::move(line) : SecretString(trimmed);
}

}  // namespace

tl::expected<Credential, ProfileSyntaxError> parse_profile(std::string_view text) {
  if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  bool in_default = false;  // keys before the first [section] belong to none
  std::string secret_id;
  SecretString secret_key;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto end = text.find('\n');
    const SecretString line = clean_line(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    const std::string_view l = line.view();
    if (l.empty() || l.front() == '#' || l.front() == ';') continue;
    if (l.front() == '[') {
      if (l.back() != ']') return tl::unexpected(ProfileSyntaxError{AuthErr::profile_malformed, line_no});
      in_default = trim(l.substr(1, l.size() - 2)) == kSection;
      continue;
    }
    const auto eq = l.find('=');
    if (eq == std::string_view::npos) {
      return tl::unexpected(ProfileSyntaxError{AuthErr::profile_malformed, line_no});
    }
    if (!in_default) continue;
    const std::string_view key = trim(l.substr(0, eq));
    const std::string_view value = trim(l.substr(eq + 1));
    if (iequals(key, "secret_id")) {
      secret_id.assign(value);
    } else if (iequals(key, "secret_key")) {
      secret_key = SecretString(value);
    }
  }
  if (secret_id.empty() || secret_key.empty()) {
    return tl::unexpected(ProfileSyntaxError{AuthErr::profile_key_missing, 0});
  }
  return Credential{std::move(secret_id), std::move(secret_key), {}};
}

}  // namespace camproxy::auth
