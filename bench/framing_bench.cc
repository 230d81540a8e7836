// Packet framing (protocol/packet.h): what the relay pays per packet to find boundaries.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "protocol/packet.h"

namespace camproxy::bench {
namespace {

using protocol::kHeaderSize;
using protocol::kMaxFramePayload;

// Large enough for the 16 MiB + 1 case (two frames joined into the scratch buffer).
constexpr size_t kMaxPayload = 64 * 1024 * 1024;

void set_sizes(benchmark::internal::Benchmark* b) {
  // A small command, a typical row batch, a full read buffer, and a payload that needs a
  // continuation frame (spec/mysql-protocol.md §1).
  const int64_t sizes[] = {16, 1024, 64 * 1024, int64_t{kMaxFramePayload} + 1};
  for (int64_t n : sizes) b->Arg(n);
}

std::vector<uint8_t> framed(size_t payload_size) {
  std::vector<uint8_t> payload(payload_size, 0x5a);
  std::vector<uint8_t> wire;
  protocol::encode_packet(payload, 0, wire);
  return wire;
}

void BM_decode_packet(benchmark::State& state) {
  const auto wire = framed(static_cast<size_t>(state.range(0)));
  std::vector<uint8_t> scratch;
  auto first = protocol::decode_packet(wire, kMaxPayload, scratch);
  if (!first || first->consumed != wire.size() || first->packet.payload.size() != static_cast<size_t>(state.range(0))) {
    state.SkipWithError("decode_packet rejected its own framing");
    return;
  }
  for (auto _ : state) {
    auto decoded = protocol::decode_packet(wire, kMaxPayload, scratch);
    benchmark::DoNotOptimize(decoded);
  }
  // No bytes/s: a single-frame payload is a view into `wire`, so the cost does not scale.
}
BENCHMARK(BM_decode_packet)->Apply(set_sizes);

void BM_encode_packet(benchmark::State& state) {
  const std::vector<uint8_t> payload(static_cast<size_t>(state.range(0)), 0x5a);
  std::vector<uint8_t> out;
  for (auto _ : state) {
    out.clear();  // keeps the capacity: no allocation after the first round
    benchmark::DoNotOptimize(protocol::encode_packet(payload, 0, out));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(payload.size()));
}
BENCHMARK(BM_encode_packet)->Apply(set_sizes);

// The relay's view of a result set: walk the frame headers of a buffer holding many small
// packets without touching their payloads (parse headers in place, forward the bytes).
void BM_walk_frame_headers(benchmark::State& state) {
  constexpr size_t kRowPayload = 40;
  const auto rows = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> buffer;
  uint8_t seq = 1;
  const std::vector<uint8_t> row(kRowPayload, 0x31);
  for (size_t i = 0; i < rows; ++i) seq = protocol::encode_packet(row, seq, buffer);
  for (auto _ : state) {
    size_t pos = 0;
    size_t packets = 0;
    while (buffer.size() - pos >= kHeaderSize) {
      const auto header = protocol::read_frame_header(buffer.data() + pos);
      if (buffer.size() - pos - kHeaderSize < header.payload_len) break;
      pos += kHeaderSize + header.payload_len;
      ++packets;
    }
    benchmark::DoNotOptimize(packets);
    if (packets != rows) {
      state.SkipWithError("frame walk lost packets");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(rows));
}
BENCHMARK(BM_walk_frame_headers)->Arg(1)->Arg(100)->Arg(1000);

}  // namespace
}  // namespace camproxy::bench
