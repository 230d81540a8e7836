#pragma once
// The request head the admin endpoint reads (proxy/admin_server.h): the request line and the
// three headers its access rules look at (proxy/admin_access.h). No I/O; fuzzed
// (tests/fuzz/admin_request_fuzz.cc).
#include <optional>
#include <string_view>

namespace camproxy::proxy {

// Views into the received head.
struct AdminRequest {
  std::string_view method;
  std::string_view path;                   // without the query
  std::string_view query;                  // after '?', empty when there is none (admin_query.h)
  std::optional<std::string_view> host;    // the Host header's value, trimmed
  std::optional<std::string_view> origin;  // the Origin header's value, trimmed
  bool admin_header = false;               // an X-Camproxy-Admin header was sent (any value)
};

// The head of a received request ("METHOD SP TARGET SP VERSION\r\n" then "Name: value\r\n"
// lines). nullopt (an answer of 400) when the request line has fewer than three parts, a
// header line has no colon or a space before it (RFC 9112 §5.1), or Host or Origin comes
// twice (RFC 9112 §3.2: a server must refuse a second Host).
std::optional<AdminRequest> parse_admin_request(std::string_view head);

}  // namespace camproxy::proxy
