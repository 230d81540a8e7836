#pragma once
// Who may drive the admin endpoint (--admin; docs/security.md "The admin endpoint"). It listens
// on loopback only, but a web page in a browser on the same host can still reach it: a
// cross-site form can POST to it, and a page whose name resolves to 127.0.0.1 (DNS rebinding)
// can read its answers. So, on every path, a Host header must name a loopback address
// (a browser always sends the page's host name), and an Origin header a loopback origin; a
// POST must also carry Host and the X-Camproxy-Admin header, which a page cannot send to
// another origin without a CORS preflight the endpoint never answers. A GET without Host
// (an HTTP/1.0 probe) is served: a browser never sends one.
#include <optional>
#include <string_view>

#include "proxy/admin_request.h"
#include "proxy/admin_server.h"

namespace camproxy::proxy {

inline constexpr std::string_view kAdminHeader = "X-Camproxy-Admin";

// nullopt when the request may reach the admin handler; else the 403 answer that says why.
std::optional<AdminResponse> admin_access_refusal(const AdminRequest& request);

// "127.0.0.1", "localhost:9306", "[::1]:9306": true when the host part is a loopback address
// (is_loopback_host) and a port, if any, is all digits.
bool is_loopback_authority(std::string_view authority);

}  // namespace camproxy::proxy
