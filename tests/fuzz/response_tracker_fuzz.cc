// Fuzz target: the response tracker (spec/mysql-protocol.md §4.4, §4.5) fed arbitrary streams in
// both directions, as the relay feeds it. Input:
//   int<4> caps, [int<1> MariaDB extended caps, only when caps bit 0 (CLIENT_MYSQL) is clear, as
//   on the wire], int<2> login status_flags, int<1> limits (low nibble + 1: max_pipelined;
//   64 << high nibble: max_buffered_payload), then chunks: int<1> control (bit 7 set: to the
//   server; low 7 bits: length), that many bytes (fewer at the end of the input).
//
// The chunks are fed twice, once as they come and once byte by byte. Properties (from
// response_tracker.h): a feed never consumes more than it is given and ends on TrackerEvent::none only with
// everything consumed; each direction raises only its own events; fault comes once and nothing
// after it; the event count stays bounded (no livelock); the FIFO stays within max_pipelined;
// idle() means nothing outstanding; and both feedings see the same events at the same stream
// offsets with the same command, response and session details, and end in the same state.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "protocol/response_tracker.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using namespace camproxy::protocol;

constexpr uint8_t kToServerBit = 0x80;
constexpr uint8_t kLengthMask = 0x7F;

struct Chunk {
  bool to_server;
  std::span<const uint8_t> bytes;
};

// One event and what the tracker exposed with it.
struct Observed {
  size_t chunk = 0;
  size_t offset = 0;  // within the chunk, after the bytes the event consumed
  TrackerEvent event = TrackerEvent::none;
  CommandInfo command;
  ResponseInfo response;
  std::string detail;  // session_state_info or the LOCAL INFILE file name
  bool operator==(const Observed&) const = default;
};

struct FinalState {
  uint16_t status_flags;
  size_t outstanding;
  TrackerFault fault;
  bool idle;
  bool pending_local_infile;
  std::string schema;
  std::string transaction_state;
  SessionChanges changes;
  bool operator==(const FinalState&) const = default;
};

// Walks session_state_info with the readers the proxy uses on it; they must stay in bounds.
void read_session_state(std::span<const uint8_t> info) {
  SessionStateReader reader(info);
  for (;;) {
    const auto entry = reader.next();
    if (!entry || !*entry) return;
    const auto type = static_cast<SessionStateType>((*entry)->type);
    if (type == SessionStateType::system_variables) {
      (void)for_each_system_variable((*entry)->data, [](SystemVariable) {});
    } else if (type == SessionStateType::schema || type == SessionStateType::transaction_state) {
      (void)decode_session_state_string((*entry)->data);
    }
  }
}

bool is_to_server_event(TrackerEvent e) { return e == TrackerEvent::command || e == TrackerEvent::upload_done; }

class Feeder {
 public:
  Feeder(uint32_t caps, uint32_t mariadb_caps, uint16_t status_flags, TrackerLimits limits)
      : tracker_(caps, status_flags, limits, mariadb_caps), limits_(limits) {}

  // Feeds `bytes`, which start at `offset` of chunk `chunk`, draining every event.
  void feed(size_t chunk, bool to_server, std::span<const uint8_t> bytes, size_t offset) {
    // One packet raises at most two events and takes at least its 4-byte header.
    const size_t max_events = bytes.size() + 2;
    size_t events = 0;
    for (;;) {
      const TrackerStep step = to_server ? tracker_.feed_to_server(bytes) : tracker_.feed_from_server(bytes);
      CAMPROXY_FUZZ_CHECK(step.consumed <= bytes.size());
      bytes = bytes.subspan(step.consumed);
      offset += step.consumed;
      if (step.event == TrackerEvent::none) {
        CAMPROXY_FUZZ_CHECK(bytes.empty());
        break;
      }
      CAMPROXY_FUZZ_CHECK(++events <= max_events);
      CAMPROXY_FUZZ_CHECK(!faulted_);  // nothing after fault
      if (step.event == TrackerEvent::fault) {
        faulted_ = true;
        CAMPROXY_FUZZ_CHECK(tracker_.failed());
      } else {
        CAMPROXY_FUZZ_CHECK(is_to_server_event(step.event) == to_server);
      }
      trace_.push_back(observe(chunk, offset, step.event));
    }
    CAMPROXY_FUZZ_CHECK(tracker_.outstanding() <= limits_.max_pipelined);
    if (tracker_.idle()) {
      CAMPROXY_FUZZ_CHECK(tracker_.outstanding() == 0 && !tracker_.failed() && !tracker_.pending_local_infile());
    }
  }

  const std::vector<Observed>& trace() const { return trace_; }

  FinalState final_state() const {
    return {tracker_.status_flags(),
            tracker_.outstanding(),
            tracker_.fault(),
            tracker_.idle(),
            tracker_.pending_local_infile(),
            std::string(tracker_.schema()),
            std::string(tracker_.transaction_state()),
            tracker_.session_changes()};
  }

 private:
  Observed observe(size_t chunk, size_t offset, TrackerEvent event) const {
    Observed o{chunk, offset, event, {}, {}, {}};
    switch (event) {
      case TrackerEvent::command: o.command = tracker_.last_command(); break;
      case TrackerEvent::response_end: o.response = tracker_.last_response(); break;
      case TrackerEvent::session_state:
        read_session_state(tracker_.session_state_info());
        o.detail = as_chars(tracker_.session_state_info());
        break;
      case TrackerEvent::local_infile: o.detail = tracker_.local_infile_name(); break;
      default: break;
    }
    return o;
  }

  ResponseTracker tracker_;
  TrackerLimits limits_;
  bool faulted_ = false;
  std::vector<Observed> trace_;
};

std::vector<Chunk> split_chunks(std::span<const uint8_t> rest) {
  std::vector<Chunk> chunks;
  while (!rest.empty()) {
    const uint8_t control = rest[0];
    rest = rest.subspan(1);
    const size_t len = std::min<size_t>(control & kLengthMask, rest.size());
    chunks.push_back({(control & kToServerBit) != 0, rest.first(len)});
    rest = rest.subspan(len);
  }
  return chunks;
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  InputSplitter in(data, size);
  const uint32_t caps = in.take_u32();
  const uint32_t mariadb_caps = (caps & camproxy::protocol::cap::kLongPassword) == 0 ? in.take_u8() : 0;
  const uint16_t status_flags = in.take_u16();
  const uint8_t limit_bits = in.take_u8();
  camproxy::protocol::TrackerLimits limits;
  limits.max_pipelined = size_t{1} + (limit_bits & 0x0F);
  limits.max_buffered_payload = size_t{64} << (limit_bits >> 4);
  const std::vector<Chunk> chunks = split_chunks(in.rest());

  Feeder whole(caps, mariadb_caps, status_flags, limits);
  Feeder bytewise(caps, mariadb_caps, status_flags, limits);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    whole.feed(i, c.to_server, c.bytes, 0);
    if (c.bytes.empty()) bytewise.feed(i, c.to_server, c.bytes, 0);
    for (size_t j = 0; j < c.bytes.size(); ++j) {
      bytewise.feed(i, c.to_server, c.bytes.subspan(j, 1), j);
    }
  }
  CAMPROXY_FUZZ_CHECK(whole.trace() == bytewise.trace());
  CAMPROXY_FUZZ_CHECK(whole.final_state() == bytewise.final_state());
  return 0;
}
