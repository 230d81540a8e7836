#pragma once
// Parsers of option values shared by the option tables (camproxy's own and `camproxy wait`'s)
// and their inverse for the defaults the docs show.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/config/config.h"

namespace camproxy::proxy {

// HOST:PORT or [IPv6]:PORT; a port from 1 to 65535.
std::optional<HostPort> parse_host_port(std::string_view s);

// A number with an optional unit: ms, s (also for none), m or h; at most a year.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);
// The inverse, in the largest unit that divides it: 500ms, 10s, 5m, 1h, 0s.
std::string format_duration(std::chrono::milliseconds d);

}  // namespace camproxy::proxy
