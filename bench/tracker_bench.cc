// The response tracker (protocol/response_tracker.h): what the relay pays to know where each
// response ends, fed exactly as a relay feeds it (the whole read chunk at once).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "protocol/packet.h"
#include "protocol/response_tracker.h"
#include "tests/protocol/test_util.h"

namespace camproxy::bench {
namespace {

using protocol::ResponseTracker;
using protocol::TrackerEvent;

// From tests/protocol/captures/mariadb_cli_login.hex (MariaDB 10.11.19, libmariadb 3.3, no
// DEPRECATE_EOF): the client's capabilities as the server accepted them, COM_QUERY
// "select 1" framed, and the payloads of the column definition and EOF packets of its result.
constexpr uint32_t kCaps = 0x00bfa28c;
constexpr std::string_view kQueryHex = "090000000373656c6563742031";
constexpr std::string_view kColumnDefHex = "03646566000000013100000c3f0001000000038100000000";
constexpr std::string_view kEofHex = "fe00000200";
constexpr size_t kRowPayload = 40;

// A text result set of one column and `rows` rows of 40 bytes, framed from seq 1.
std::vector<uint8_t> result_set(size_t rows) {
  std::vector<uint8_t> out;
  const std::vector<uint8_t> column_count = {0x01};
  const auto column_def = protocol::test::from_hex(kColumnDefHex);
  const auto eof = protocol::test::from_hex(kEofHex);
  std::vector<uint8_t> row(kRowPayload, 'x');
  row[0] = kRowPayload - 1;  // str<lenenc> of the remaining bytes
  uint8_t seq = protocol::encode_packet(column_count, 1, out);
  seq = protocol::encode_packet(column_def, seq, out);
  seq = protocol::encode_packet(eof, seq, out);
  for (size_t i = 0; i < rows; ++i) seq = protocol::encode_packet(row, seq, out);
  protocol::encode_packet(eof, seq, out);
  return out;
}

// Feeds `bytes` to one direction until every byte is consumed; counts response_end events.
// False on a fault.
template <class Feed>
bool feed_all(std::span<const uint8_t> bytes, Feed&& feed, int& responses) {
  for (;;) {
    const auto step = feed(bytes);
    bytes = bytes.subspan(step.consumed);
    if (step.event == TrackerEvent::none) return true;
    if (step.event == TrackerEvent::fault) return false;
    if (step.event == TrackerEvent::response_end) ++responses;
  }
}

void BM_track_select(benchmark::State& state) {
  const auto rows = static_cast<size_t>(state.range(0));
  const auto query = protocol::test::from_hex(kQueryHex);
  const auto response = result_set(rows);
  ResponseTracker tracker(kCaps);
  auto to_server = [&](std::span<const uint8_t> b) { return tracker.feed_to_server(b); };
  auto from_server = [&](std::span<const uint8_t> b) { return tracker.feed_from_server(b); };
  for (auto _ : state) {
    int responses = 0;
    if (!feed_all(query, to_server, responses) || !feed_all(response, from_server, responses) || responses != 1 ||
        !tracker.idle()) {
      state.SkipWithError("the tracker did not find exactly one response end");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(rows + 4));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(query.size() + response.size()));
}
BENCHMARK(BM_track_select)->ArgName("rows")->Arg(1)->Arg(100)->Arg(1000);

}  // namespace
}  // namespace camproxy::bench
