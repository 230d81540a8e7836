#pragma once
// Spreading clients across a target's workers. Each worker accepts on its own SO_REUSEPORT
// socket (listen_socket.h), so the kernel picks the worker by a hash of the client's address
// and port, not by load: eight connections of a pool can land six on one worker. A worker that
// accepts a client while it serves at least kHandOverGap more sessions than another hands the
// client to the least busy one (one cross-thread wake-up, only then). The gap of 2 keeps a
// connection-per-request client, whose previous session may still be closing, where it landed.
#include <cstddef>
#include <optional>
#include <span>

namespace camproxy::proxy {

inline constexpr size_t kHandOverGap = 2;

// The index of the worker a new client of worker `mine` should go to, or nullopt to keep it.
// `sessions` holds every worker's session count, `mine` included.
std::optional<size_t> lighter_worker(size_t mine, std::span<const size_t> sessions);

}  // namespace camproxy::proxy
