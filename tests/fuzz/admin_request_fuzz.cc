// Fuzz target: the admin endpoint's request reader (proxy/admin_request.h, parse_admin_request),
// on bytes anyone who can reach --admin may send. Input: the received request head.
//
// Properties: nothing crashes; a parsed request's method and path are views into the first
// line of the input (the method at its start), neither holds a space or a CRLF, the path no '?';
// Host and Origin are views into the input with no CRLF and no surrounding space or tab; the
// head rebuilt from them parses to the same request, and the access rules (admin_access_refusal)
// answer it without crashing, with 403 when they refuse.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/admin_access.h"
#include "proxy/admin_request.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool has_any(std::string_view text, std::string_view chars) {
  return text.find_first_of(chars) != std::string_view::npos;
}

bool clean_value(std::string_view v, std::string_view whole) {
  return inside(v, whole) && v.find("\r\n") == std::string_view::npos &&
         (v.empty() || (!has_any(v.substr(0, 1), " \t") && !has_any(v.substr(v.size() - 1), " \t")));
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  const std::string_view head(reinterpret_cast<const char*>(data), size);
  const auto request = camproxy::proxy::parse_admin_request(head);
  if (!request) return 0;
  const std::string_view first_line = head.substr(0, head.find("\r\n"));
  CAMPROXY_FUZZ_CHECK(inside(request->method, first_line) && inside(request->path, first_line));
  CAMPROXY_FUZZ_CHECK(request->method.data() == head.data());
  CAMPROXY_FUZZ_CHECK(!has_any(request->method, " ") && request->method.find("\r\n") == std::string_view::npos);
  CAMPROXY_FUZZ_CHECK(!has_any(request->path, " ?") && request->path.find("\r\n") == std::string_view::npos);
  CAMPROXY_FUZZ_CHECK(!request->host || clean_value(*request->host, head));
  CAMPROXY_FUZZ_CHECK(!request->origin || clean_value(*request->origin, head));
  std::string rebuilt = std::string(request->method) + " " + std::string(request->path) + " HTTP/1.1\r\n";
  if (request->host) rebuilt += "Host: " + std::string(*request->host) + "\r\n";
  if (request->origin) rebuilt += "Origin: " + std::string(*request->origin) + "\r\n";
  if (request->admin_header) rebuilt += "X-Camproxy-Admin: 1\r\n";
  rebuilt += "\r\n";
  const auto again = camproxy::proxy::parse_admin_request(rebuilt);
  CAMPROXY_FUZZ_CHECK(again && again->method == request->method && again->path == request->path &&
                      again->host == request->host && again->origin == request->origin &&
                      again->admin_header == request->admin_header);
  const auto refused = camproxy::proxy::admin_access_refusal(*request);
  CAMPROXY_FUZZ_CHECK(!refused || refused->status == 403);
  return 0;
}
