#pragma once
// The open-files limit (RLIMIT_NOFILE). Every client costs camproxy two descriptors (its socket
// and its database connection), and the soft limit many systems start processes with (1024) is
// far below --max-client-connections; the hard limit is what the operator allowed (systemd's
// LimitNOFILE=, the container runtime's ulimit). So camproxy raises the soft limit to the hard
// one at start, before any thread runs, and says so in the "started" log line.
#include <string>

namespace camproxy::proxy {

// "65536 (raised from 1024)", "65536", or "1024 (could not raise to 65536: ...)".
std::string raise_open_files_limit();

}  // namespace camproxy::proxy
