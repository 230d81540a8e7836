#include "auth/endpoint.h"

#include <arpa/inet.h>

#include <charconv>
#include <optional>

namespace camproxy::auth {
namespace {

constexpr std::string_view kDefaultService = "cam";

tl::unexpected<std::error_code> fail(AuthErr e) { return tl::unexpected(make_error_code(e)); }

void to_lower(std::string& s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

bool is_ipv4(const std::string& host, in_addr& addr) { return inet_pton(AF_INET, host.c_str(), &addr) == 1; }

bool is_ipv6(const std::string& host, in6_addr& addr) { return inet_pton(AF_INET6, host.c_str(), &addr) == 1; }

bool valid_dns_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t label = 0;
  for (const char c : host) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

// authority = host [":" port] | "[" ipv6 "]" [":" port]; the host as written (lower-cased
// later), the port when one is given.
struct Authority {
  std::string_view host;
  std::optional<std::uint16_t> port;
  bool bracketed = false;
};

std::optional<Authority> split_authority(std::string_view authority) {
  Authority a{authority, std::nullopt, authority.front() == '['};
  std::string_view port;
  bool has_port = false;
  if (a.bracketed) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    a.host = authority.substr(1, close - 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    has_port = !rest.empty();
    if (has_port) port = rest.substr(1);
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    a.host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    has_port = true;
  }
  if (has_port) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) return std::nullopt;
    a.port = static_cast<std::uint16_t>(value);
  }
  return a;
}

// Sets ep.loopback from ep.host (lower case); false when the host is no IP literal of its kind
// (bracketed: IPv6) and no DNS name. `ip_literal` says which it was.
bool classify_host(Endpoint& ep, bool bracketed, bool& ip_literal) {
  in_addr v4{};
  in6_addr v6{};
  ip_literal = false;
  if (bracketed) {
    if (!is_ipv6(ep.host, v6)) return false;
    ip_literal = true;
    ep.loopback = IN6_IS_ADDR_LOOPBACK(&v6);
  } else if (is_ipv4(ep.host, v4)) {
    ip_literal = true;
    ep.loopback = (ntohl(v4.s_addr) >> 24) == 127;
  } else if (!valid_dns_name(ep.host)) {
    return false;
  } else {
    ep.loopback = ep.host == "localhost";
  }
  return true;
}

}  // namespace

Result<Endpoint> parse_endpoint(std::string_view url, PlainHttp plain_http) {
  Endpoint ep;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return fail(AuthErr::endpoint_malformed);
  ep.scheme.assign(url.substr(0, scheme_end));
  to_lower(ep.scheme);
  if (ep.scheme != "https" && ep.scheme != "http") return fail(AuthErr::endpoint_scheme);

  std::string_view authority = url.substr(scheme_end + 3);
  if (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  if (authority.empty() || authority.find_first_of("/?#@ \t\r\n") != std::string_view::npos) {
    return fail(AuthErr::endpoint_malformed);
  }
  const auto parts = split_authority(authority);
  if (!parts) return fail(AuthErr::endpoint_malformed);
  if (parts->port) ep.port = *parts->port;
  ep.host.assign(parts->host);
  to_lower(ep.host);
  bool ip_literal = false;
  if (!classify_host(ep, parts->bracketed, ip_literal)) return fail(AuthErr::endpoint_malformed);
  if (ep.scheme == "http" && !ep.loopback && plain_http != PlainHttp::allowed) {
    return fail(AuthErr::endpoint_insecure);
  }

  // §2.2 / §7.7: the service is the host's first DNS label (cam.internal... -> cam).
  if (ip_literal || ep.host == "localhost") {
    ep.service = kDefaultService;
  } else {
    ep.service = ep.host.substr(0, ep.host.find('.'));
  }
  const std::string bracketed_host = parts->bracketed ? "[" + ep.host + "]" : ep.host;
  ep.host_header = ep.port == 0 ? bracketed_host : bracketed_host + ":" + std::to_string(ep.port);
  ep.url = ep.scheme + "://" + ep.host_header + "/";
  return ep;
}

}  // namespace camproxy::auth
