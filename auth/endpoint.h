// An API endpoint URL (CAM, STS, CVM metadata), validated, and what a request derives
// from it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "auth/result.h"

namespace camproxy::auth {

struct Endpoint {
  std::string url;          // normalised: scheme://authority/
  std::string scheme;       // "https" or "http"
  std::string host;         // lower-case; an IPv6 literal without brackets
  std::uint16_t port = 0;   // 0 = scheme default
  std::string host_header;  // value of the Host header, also the signed "host" (§2.3)
  std::string service;      // signing service (§2.2): first DNS label, "cam" for IPs/localhost
  bool loopback = false;
};

// Where plain http:// may go. Only the CVM metadata service is plain HTTP by design
// (spec/tencentcloud-cam.md §7.3, §7.7): it answers on the instance's own network.
enum class PlainHttp { loopback_only, allowed };

// Accepts "https://host[:port]" with an optional trailing "/". Plain "http://" is
// accepted only for a loopback host (127.0.0.0/8, ::1, localhost), for tests and
// local emulators, unless `plain_http` allows it everywhere. No user info, path,
// query or fragment (§1: path "/", no query).
Result<Endpoint> parse_endpoint(std::string_view url, PlainHttp plain_http = PlainHttp::loopback_only);

}  // namespace camproxy::auth
