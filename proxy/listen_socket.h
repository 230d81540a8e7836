#pragma once
// Listening sockets are opened once, on the control thread, so that a bad address fails at
// start with a clear message; each worker then listens on its own dup of the descriptor and
// the kernel hands each new connection to whichever worker accepts first.
#include <string>

#include "proxy/config.h"

namespace camproxy::proxy {

struct ListenSocket {
  ListenAddress address;
  int fd = -1;
};

// Returns false with a readable `error` on failure. Unix sockets: a stale socket file left by
// a dead process is replaced; one that a live process listens on is an error.
bool open_listen_socket(const ListenAddress& address, ListenSocket& out, std::string& error);
void close_listen_socket(ListenSocket& s);

// The same socket: unix path, or TCP host and port (mode, owner and allow-list may differ).
bool same_endpoint(const ListenAddress& a, const ListenAddress& b);
// A reload hands `s` to a target whose listener on the same endpoint is `address`: the
// socket takes its settings, and a unix socket gets its mode and owner again.
bool adopt_listen_socket(ListenSocket& s, const ListenAddress& address, std::string& error);

}  // namespace camproxy::proxy
