#pragma once
// Spreading clients across a target's workers. Each worker accepts on its own SO_REUSEPORT
// socket (listen_socket.h), so the kernel picks the worker by a hash of the client's address
// and port, not by load: eight connections of a pool can land six on one worker. A worker that
// accepts a client while it serves at least kHandOverGap more sessions than another hands the
// client to the least busy one (one cross-thread wake-up, only then). The gap of 2 keeps a
// connection-per-request client, whose previous session may still be closing, where it landed.
//
// Otherwise a new client goes to the worker whose pool took a connection back most recently
// (within kSteerWindow), when that worker is not kHandOverGap sessions busier: a
// connection-per-request client's previous connection is being reset there, and only that
// worker can hand it over with the client's first command behind the reset
// (UpstreamPool::take_returning), so the reset costs no database round trip of its own. Left
// where the kernel puts it, every other client of such a loop took another worker's idle
// connection and the reset went out alone: 1.5 round trips per cycle at two workers instead
// of 1.0 (docs/benchmarks.md). The latest return, not a returning connection counted at
// accept: the client's accept can come before its predecessor's COM_QUIT is read.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace camproxy::proxy {

inline constexpr size_t kHandOverGap = 2;
// The kernel is told to put new clients on the returning worker's socket (SO_ATTACH_REUSEPORT_CBPF,
// listen_socket.h), so that a steady connection-per-request loop needs no hand-over at all; at
// most once per kKernelSteerGap, since many clients returning on every worker at once would
// otherwise re-attach on every return (the hand-over steers in between).
inline constexpr std::chrono::nanoseconds kKernelSteerGap = std::chrono::milliseconds(10);
// A return older than this steers nobody: no client followed it closely, so it is not a
// connection-per-request loop (and the reset is long over).
inline constexpr std::chrono::nanoseconds kSteerWindow = std::chrono::seconds(1);

// The index of the worker a new client of worker `mine` should go to, or nullopt to keep it.
// `sessions` holds every worker's session count, `mine` included.
std::optional<size_t> lighter_worker(size_t mine, std::span<const size_t> sessions);

// lighter_worker(), else the worker of the latest return (steady-clock nanoseconds in
// `returned_at`, 0 for none) when it is within kSteerWindow of `now` and that worker serves
// fewer than kHandOverGap sessions more than `mine`.
std::optional<size_t> worker_for_client(size_t mine, std::span<const size_t> sessions,
                                        std::span<const int64_t> returned_at, int64_t now);

}  // namespace camproxy::proxy
