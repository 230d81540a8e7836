#include "proxy/admin_request.h"

#include <algorithm>
#include <cctype>

namespace camproxy::proxy {
namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 9110 §5.5: optional whitespace (space, tab) around a field value is not part of it.
std::string_view trim(std::string_view v) {
  const auto first = v.find_first_not_of(" \t");
  if (first == std::string_view::npos) return v.substr(v.size());  // empty, still a view into the head
  return v.substr(first, v.find_last_not_of(" \t") - first + 1);
}

// Sets `slot` once; false when the header already came.
bool set_once(std::optional<std::string_view>& slot, std::string_view value) {
  if (slot) return false;
  slot = value;
  return true;
}

}  // namespace

std::optional<AdminRequest> parse_admin_request(std::string_view head) {
  const auto line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return std::nullopt;
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return std::nullopt;
  AdminRequest request;
  request.method = line.substr(0, sp1);
  request.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (auto q = request.path.find('?'); q != std::string_view::npos) {
    request.query = request.path.substr(q + 1);
    request.path = request.path.substr(0, q);
  }

  std::string_view rest = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
  while (!rest.empty()) {
    const auto end = rest.find("\r\n");
    const std::string_view field = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 2);
    if (field.empty()) break;  // the blank line that ends the head
    const auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    const std::string_view name = field.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
    const std::string_view value = trim(field.substr(colon + 1));
    if (same_name(name, "Host") && !set_once(request.host, value)) return std::nullopt;
    if (same_name(name, "Origin") && !set_once(request.origin, value)) return std::nullopt;
    if (same_name(name, "X-Camproxy-Admin")) request.admin_header = true;
  }
  return request;
}

}  // namespace camproxy::proxy
