#pragma once
// Who is on the other end of an accepted connection (listen_policy.h says what is done with it).
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

namespace camproxy::proxy {

// The uid of a unix-socket peer, from SO_PEERCRED (taken by the kernel at connect()).
std::optional<uint32_t> peer_uid(int fd);

// A TCP peer on 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. False for anything else, unix
// sockets included (they never reach this check).
bool is_loopback_peer(const sockaddr_storage& peer);

// "192.0.2.7:51234" or "[2001:db8::7]:51234"; "unknown" for another family.
std::string peer_address_text(const sockaddr_storage& peer);

}  // namespace camproxy::proxy
