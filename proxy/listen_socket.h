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

}  // namespace camproxy::proxy
