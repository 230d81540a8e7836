#include "proxy/admin_access.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "proxy/config/listen_policy.h"

namespace camproxy::proxy {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// RFC 6454 §7: "scheme://host[:port]" for http and https; "null" and anything else is not loopback.
bool is_loopback_origin(std::string_view origin) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (origin.starts_with(scheme)) return is_loopback_authority(origin.substr(scheme.size()));
  }
  return false;
}

AdminResponse forbidden(std::string why) { return {403, "text/plain; charset=utf-8", why + "\n"}; }

// Quoted for the answer: printable ASCII only, at most 100 characters.
std::string shown(std::string_view v) {
  std::string out;
  for (char c : v.substr(0, 100)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return "'" + out + "'";
}

}  // namespace

bool is_loopback_authority(std::string_view authority) {
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return false;
      port = after.substr(1);
      if (!all_digits(port)) return false;
    }
    return host.find(':') != std::string_view::npos && is_loopback_host(host);
  }
  if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (!all_digits(port)) return false;
  }
  std::string lower(host);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return is_loopback_host(lower);
}

std::optional<AdminResponse> admin_access_refusal(const AdminRequest& request) {
  if (request.host && !is_loopback_authority(*request.host))
    return forbidden("Host " + shown(*request.host) + " is not a loopback address: the admin endpoint answers only " +
                     "requests addressed to 127.0.0.1, [::1] or localhost");
  if (request.origin && !is_loopback_origin(*request.origin))
    return forbidden("Origin " + shown(*request.origin) + " is not a loopback origin: the admin endpoint does not " +
                     "answer web pages of other sites");
  if (request.method != "POST") return std::nullopt;
  if (!request.host) return forbidden("a POST to the admin endpoint needs a Host header naming a loopback address");
  if (!request.admin_header)
    return forbidden("a POST to the admin endpoint needs the header " + std::string(kAdminHeader) +
                     ": 1 (a web page cannot send it to another site)");
  return std::nullopt;
}

}  // namespace camproxy::proxy
