#pragma once
// Listening sockets are opened on the control thread, so that a bad or busy address fails at
// start with a clear message. A TCP listener is a group of sockets, one per worker, all bound
// to the address with SO_REUSEPORT: the kernel puts each new connection on one socket of the
// group (by a hash of its addresses and ports) and so wakes only the worker listening on it,
// not all of them as one shared socket would. A unix listener is one socket (SO_REUSEPORT does
// not apply to AF_UNIX) that every worker listens on; the kernel hands each connection to
// whichever worker accepts first. Workers listen on dups of these fds, so the control thread
// can hand the same sockets to another target on a reload while the old workers drain.
#include <string>
#include <vector>

#include "proxy/config/config.h"

namespace camproxy::proxy {

struct ListenSocket {
  ListenAddress address;
  std::vector<int> fds;  // TCP: the group, one per worker; unix: one
};

// Opens `address`, for TCP as a group of `group_size` sockets (at least one). Returns false
// with a readable `error` on failure, having closed what it opened. TCP: an address another
// socket listens on (another process, or another camproxy) is an error, although the group's
// own sockets share it. Unix sockets: a stale socket file left by a dead process is replaced;
// one that a live process listens on is an error.
bool open_listen_socket(const ListenAddress& address, int group_size, ListenSocket& out, std::string& error);
// Closes every fd of the group (a unix socket's file is removed).
void close_listen_socket(ListenSocket& s);

// The fds worker `index` of `workers` listens on: fd j for every j % workers == index, or fd
// index % size when the group has fewer fds than there are workers. So every fd has a worker
// and every worker an fd, whatever the group's size.
std::vector<int> worker_fds(const ListenSocket& s, int index, int workers);

// From now on the kernel puts every new connection of the SO_REUSEPORT group `fd` belongs to
// on the group's socket `index` (sockets join a group in listen() order: open_listen_socket's
// fds[index]), by a classic BPF program `return index` (SO_ATTACH_REUSEPORT_CBPF, Linux 4.5);
// an index beyond the group falls back to the hash. False (errno set) when the kernel refuses.
bool steer_listen_group(int fd, int index);

// The same socket: unix path, or TCP host and port (mode, owner and allow-list may differ).
bool same_endpoint(const ListenAddress& a, const ListenAddress& b);
// A reload hands `s` to a target whose listener on the same endpoint is `address`: the
// socket takes its settings, and a unix socket gets its mode and owner again.
bool adopt_listen_socket(ListenSocket& s, const ListenAddress& address, std::string& error);

}  // namespace camproxy::proxy
