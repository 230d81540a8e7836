#pragma once
// How long a pooled connection may stay idle: the configured --pool-idle-timeout, cut short so
// that camproxy closes it (orderly, with COM_QUIT) before the server's wait_timeout does
// (spec/mysql-protocol.md §7.1). The server's value is read from a pooled connection's session.
#include <chrono>
#include <optional>
#include <string_view>

namespace camproxy::proxy {

// The margin left below wait_timeout covers the pool's 1 s eviction tick and clock skew:
// a tenth of wait_timeout, at least 2 s; the limit is never below 1 s.
std::chrono::milliseconds idle_limit(std::chrono::milliseconds configured,
                                     std::optional<std::chrono::seconds> wait_timeout);

// @@session.wait_timeout as the server prints it ("28800"); nullopt for anything else or 0.
std::optional<std::chrono::seconds> parse_wait_timeout(std::string_view text);

}  // namespace camproxy::proxy
