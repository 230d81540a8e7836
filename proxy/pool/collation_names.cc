#include "proxy/pool/collation_names.h"

#include <charconv>

namespace camproxy::proxy {
namespace {

bool is_identifier(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

void CollationNames::learn(std::string_view table) {
  std::lock_guard lock(mu_);
  while (!table.empty()) {
    const auto comma = table.find(',');
    std::string_view entry = table.substr(0, comma);
    table = comma == std::string_view::npos ? std::string_view{} : table.substr(comma + 1);
    const auto c1 = entry.find(':');
    const auto c2 = entry.find(':', c1 == std::string_view::npos ? c1 : c1 + 1);
    if (c1 == std::string_view::npos || c2 == std::string_view::npos) continue;
    unsigned id = 0;
    auto [p, ec] = std::from_chars(entry.data(), entry.data() + c1, id);
    const std::string_view charset = entry.substr(c1 + 1, c2 - c1 - 1);
    const std::string_view collation = entry.substr(c2 + 1);
    // Only ids a handshake can carry, and names that need no quoting beyond '...'.
    if (ec != std::errc() || p != entry.data() + c1 || id == 0 || id > 255 || !is_identifier(charset) ||
        !is_identifier(collation))
      continue;
    entries_[static_cast<uint8_t>(id)] = {
        "SET NAMES '" + std::string(charset) + "' COLLATE '" + std::string(collation) + "'", std::string(collation)};
  }
}

std::optional<std::string> CollationNames::set_names(uint8_t id) const { return field(id, &Entry::set_names); }

std::optional<std::string> CollationNames::name(uint8_t id) const { return field(id, &Entry::name); }

std::optional<std::string> CollationNames::field(uint8_t id, std::string Entry::*member) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.*member;
}

}  // namespace camproxy::proxy
