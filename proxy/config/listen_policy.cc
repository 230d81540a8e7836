#include "proxy/config/listen_policy.h"

#include <arpa/inet.h>

namespace camproxy::proxy {

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  in_addr a4{};
  if (inet_pton(AF_INET, std::string(host).c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

std::optional<std::string> check_listeners(const std::vector<ListenAddress>& listeners,
                                           const LocalAuthConfig& local_auth, bool client_tls,
                                           const std::function<std::string(std::string_view flag)>& name) {
  for (const auto& l : listeners) {
    if (l.is_unix) continue;
    if (!l.allowed_peer_uids.empty())
      return "listener " + l.to_string() +
             ": a peer uid allow-list works on unix sockets only (SO_PEERCRED); a TCP listener would let any "
             "local user in. Listen on unix:/path, or drop the allow-list";
    if (is_loopback_host(l.tcp.host)) continue;
    std::string missing;
    if (!local_auth.enabled()) missing = "local authentication (" + name("users-file") + ")";
    if (!client_tls)
      missing += std::string(missing.empty() ? "" : " and ") + "TLS to clients (" + name("client-tls") + " on)";
    if (!missing.empty())
      return "refusing to listen on non-loopback address '" + l.to_string() +
             "': other machines could use the CAM account; that needs local authentication and TLS to "
             "clients, missing: " +
             missing;
  }
  return std::nullopt;
}

}  // namespace camproxy::proxy
