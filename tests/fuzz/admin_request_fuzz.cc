// Fuzz target: the admin endpoint's request reader (proxy/admin_server.h, parse_admin_request),
// on bytes anyone who can reach --admin may send. Input: the received request head.
//
// Properties: nothing crashes; a parsed request's method and path are views into the first
// line of the input (the method at its start), neither holds a space or a CRLF, the path no '?';
// the request line rebuilt from them parses to the same method and path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/admin_server.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool has_any(std::string_view text, std::string_view chars) {
  return text.find_first_of(chars) != std::string_view::npos;
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
  const std::string rebuilt = std::string(request->method) + " " + std::string(request->path) + " HTTP/1.1\r\n\r\n";
  const auto again = camproxy::proxy::parse_admin_request(rebuilt);
  CAMPROXY_FUZZ_CHECK(again && again->method == request->method && again->path == request->path);
  return 0;
}
