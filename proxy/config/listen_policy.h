#pragma once
// Who may reach a target's listeners (docs/operations.md, "Securing the listeners"). Checked at start, for listeners
// from flags and from the config file alike.
//  - A peer-uid allow-list is checked with SO_PEERCRED, which only unix sockets have: a TCP
//    listener with one is refused (the list would silently not apply).
//  - A non-loopback TCP listener lets other machines in: it needs local authentication (the
//    CAM account must not be open to anyone who can reach the port) and TLS to clients (the
//    scramble of a password must not cross the network in clear). camproxy also refuses a
//    login from a non-loopback peer that did not switch to TLS (ClientError::tls_required).
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.h"

namespace camproxy::proxy {

// "localhost", 127.0.0.0/8 or ::1.
bool is_loopback_host(std::string_view host);

// nullopt when the listeners follow the rules above; else the reason, naming the listener.
// `name` spells a setting as the operator wrote it ("--users-file", "targets[0].local-auth...").
std::optional<std::string> check_listeners(const std::vector<ListenAddress>& listeners,
                                           const LocalAuthConfig& local_auth, bool client_tls,
                                           const std::function<std::string(std::string_view flag)>& name);

}  // namespace camproxy::proxy
