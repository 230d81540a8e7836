// Response tracker (spec/mysql-protocol.md §4.4) against byte streams of a real MariaDB 10.11.
//
// captures/rt_*.hex were recorded by captures/capture_responses.py (one scenario per file,
// with and without DEPRECATE_EOF / SESSION_TRACK). Each capture is fed whole, cut at every byte
// boundary of either direction, byte by byte and in random chunks: every way must report the
// same events at the same stream offsets. The expected responses in the table were written by
// reading the captures: server frames counted per response, fields read from the OK, EOF, ERR
// and PREPARE_OK bytes. A second oracle needs no table: in a capture without pipelining the
// client speaks only when a response has ended or the server asked for a file.
//
// This file replaces the global operator new to count allocations (NoAllocationsWhenWarm); the
// count is only taken while a test asks for it.
#include "protocol/response_tracker.h"

#include <atomic>
#include <cstdlib>
#include <functional>
#include <new>
#include <ostream>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "protocol/ok_err_eof.h"
#include "test_util.h"

namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<size_t> g_allocations{0};
}  // namespace

// GCC 12 sees free() in a replaced operator delete as a mismatch with `new` once inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  if (g_count_allocations.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace camproxy::protocol {
namespace {

using test::from_hex;
using test::PrintTo;

// Capabilities of the captures (capture_responses.py kModes; also in each file's header).
constexpr uint32_t kEofCaps = cap::kLongPassword | cap::kLongFlag | cap::kConnectWithDb | cap::kLocalFiles |
                              cap::kProtocol41 | cap::kTransactions | cap::kSecureConnection | cap::kMultiStatements |
                              cap::kMultiResults | cap::kPsMultiResults | cap::kPluginAuth;
static_assert(kEofCaps == 0x000fa28d);
constexpr uint32_t kDeprecateEofCaps = kEofCaps | cap::kDeprecateEof;
constexpr uint32_t kTrackCaps = kDeprecateEofCaps | cap::kSessionTrack;
constexpr uint32_t kTrackEofCaps = kEofCaps | cap::kSessionTrack;
// The "mariadb_" captures: CLIENT_MYSQL clear, every extended capability camproxy relays.
constexpr uint32_t kMariaDbEofCaps = kEofCaps & ~cap::kLongPassword;
constexpr uint32_t kMariaDbDeprecateEofCaps = kMariaDbEofCaps | cap::kDeprecateEof;
constexpr uint32_t kMariaDbExtCaps = mariadb_cap::kRelayable;
static_assert(kMariaDbExtCaps == 0x1d);

// ---- replaying a stream ----------------------------------------------------------------------

struct Segment {  // consecutive frames of one direction
  bool to_server = false;
  std::vector<uint8_t> bytes;
};

struct Stream {
  uint16_t login_status = 0;
  std::vector<Segment> runs;
  std::vector<size_t> server_frame_ends;  // server stream offset after each server frame
  size_t size(bool to_server) const {
    size_t n = 0;
    for (const Segment& r : runs) n += r.to_server == to_server ? r.bytes.size() : 0;
    return n;
  }
};

void append_frame(Stream& s, bool to_server, std::span<const uint8_t> frame) {
  if (s.runs.empty() || s.runs.back().to_server != to_server) s.runs.push_back({to_server, {}});
  s.runs.back().bytes.insert(s.runs.back().bytes.end(), frame.begin(), frame.end());
  if (!to_server) s.server_frame_ends.push_back(s.size(false));
}

// The command phase of a capture: everything after the login OK (the first server OK).
Stream load_stream(std::string_view file, uint32_t caps) {
  const auto frames = test::load_capture(file);
  Stream s;
  size_t i = 0;
  while (i < frames.size() && (frames[i].from_client || frames[i].payload().empty() || frames[i].payload()[0] != 0)) {
    ++i;
  }
  EXPECT_LT(i, frames.size()) << file << ": no login OK";
  if (i == frames.size()) return s;
  const auto login = decode_ok(frames[i].payload(), caps);
  EXPECT_TRUE(login) << file;
  s.login_status = login ? login->status_flags : 0;
  for (++i; i < frames.size(); ++i) append_frame(s, frames[i].from_client, frames[i].frame);
  return s;
}

std::string describe_session_state(std::span<const uint8_t> info) {
  std::string out;
  SessionStateReader reader(info);
  for (auto entry = reader.next(); entry && *entry; entry = reader.next()) {
    const auto data = (*entry)->data;
    switch (static_cast<SessionStateType>((*entry)->type)) {
      case SessionStateType::system_variables:
        EXPECT_TRUE(for_each_system_variable(
            data, [&](SystemVariable v) { out += "var:" + std::string(v.name) + "=" + std::string(v.value) + ";"; }));
        break;
      case SessionStateType::schema:
        out += "schema:" + std::string(decode_session_state_string(data).value_or("?")) + ";";
        break;
      case SessionStateType::state_change: out += "state;"; break;
      case SessionStateType::transaction_state:
        out += "trx:" + std::string(decode_session_state_string(data).value_or("?")) + ";";
        break;
      default: out += "type" + std::to_string((*entry)->type) + ";"; break;
    }
  }
  return out;
}

// One reported event, with what the tracker exposed for it.
struct Record {
  bool to_server = false;
  TrackerEvent event = TrackerEvent::none;
  size_t offset = 0;      // bytes of that direction consumed when it was reported
  CommandInfo command;    // kCommand
  ResponseInfo response;  // response_end
  std::string text;       // local_infile: file name; session_state: entries; fault: fault
  bool operator==(const Record&) const = default;
};

void PrintTo(const Record& r, std::ostream* os) {
  *os << (r.to_server ? "to_server " : "from_server ") << to_string(r.event) << " @" << r.offset
      << " cmd=" << int(r.command.command) << " resp{cmd=" << int(r.response.command)
      << " id=" << r.response.statement_id << " err=" << r.response.error_code << " status=" << r.response.status_flags
      << " rs=" << r.response.resultsets << "} " << r.text;
}

Record make_record(const ResponseTracker& t, bool to_server, TrackerEvent e, size_t offset) {
  Record r{to_server, e, offset, {}, {}, {}};
  switch (e) {
    case TrackerEvent::command: r.command = t.last_command(); break;
    case TrackerEvent::response_end: r.response = t.last_response(); break;
    case TrackerEvent::local_infile: r.text = t.local_infile_name(); break;
    case TrackerEvent::session_state: r.text = describe_session_state(t.session_state_info()); break;
    case TrackerEvent::fault: r.text = to_string(t.fault()); break;
    default: break;
  }
  return r;
}

// Feeds one chunk, draining every event (the loop callers are told to write).
void feed(ResponseTracker& t, bool to_server, std::span<const uint8_t> chunk, size_t& offset,
          std::vector<Record>* records) {
  for (;;) {
    const TrackerStep step = to_server ? t.feed_to_server(chunk) : t.feed_from_server(chunk);
    ASSERT_LE(step.consumed, chunk.size());
    chunk = chunk.subspan(step.consumed);
    offset += step.consumed;
    if (step.event == TrackerEvent::none) break;
    if (records) records->push_back(make_record(t, to_server, step.event, offset));
  }
  EXPECT_TRUE(chunk.empty());
}

// How many bytes of the current run to feed next, given the direction, the stream offset and
// what is left of the run.
using Chunker = std::function<size_t(bool to_server, size_t offset, size_t left)>;

size_t whole(bool, size_t, size_t left) { return left; }

Chunker cut_at(bool direction, size_t cut) {
  return [=](bool to_server, size_t offset, size_t left) {
    return to_server == direction && offset < cut && cut < offset + left ? cut - offset : left;
  };
}

Chunker random_chunks(uint32_t seed, size_t max_chunk) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [=](bool, size_t, size_t left) {
    return std::uniform_int_distribution<size_t>(1, std::min(left, max_chunk))(*rng);
  };
}

void replay(ResponseTracker& t, const Stream& s, const Chunker& chunker, std::vector<Record>* records) {
  size_t offsets[2] = {0, 0};
  for (const Segment& seg : s.runs) {
    std::span<const uint8_t> rest(seg.bytes);
    while (!rest.empty()) {
      const size_t n = chunker(seg.to_server, offsets[seg.to_server], rest.size());
      feed(t, seg.to_server, rest.first(n), offsets[seg.to_server], records);
      rest = rest.subspan(n);
    }
  }
}

std::vector<Record> replay(const Stream& s, uint32_t caps, const Chunker& chunker, uint32_t mariadb_caps = 0) {
  ResponseTracker t(caps, s.login_status, {}, mariadb_caps);
  std::vector<Record> records;
  replay(t, s, chunker, &records);
  EXPECT_TRUE(t.idle());
  return records;
}

// ---- the captures ----------------------------------------------------------------------------

struct Expected {
  size_t frames;  // server frames of the response
  ResponseInfo info;
};

struct CaptureCase {
  const char* name;
  const char* file;
  uint32_t caps;
  std::vector<Expected> responses;
  std::vector<std::string> session_states = {};  // session_state events, described
  std::vector<std::string> local_infiles = {};
  // The client also spoke mid-response (pipelining, an auth exchange), not only after an end.
  bool interleaved = false;
  uint32_t mariadb_caps = 0;  // MariaDB extended capabilities of the capture
};

std::vector<CaptureCase> capture_cases() {
  using C = Command;
  const ResponseInfo ping{.command = C::ping, .status_flags = 0x0002};
  const std::vector<Expected> insert_ok = {
      {1, {.command = C::query, .status_flags = 0x0003}},  // BEGIN: IN_TRANS | AUTOCOMMIT
      {1, {.command = C::query, .status_flags = 0x0003, .affected_rows = 2, .last_insert_id = 1}},
      {1, {.command = C::query, .status_flags = 0x0002}},  // COMMIT
  };
  const std::vector<Expected> error = {
      {1, {.command = C::query, .error = true, .error_code = 1146, .status_flags = 0x0002}}};
  const std::vector<Expected> load_data = {
      {2, {.command = C::query, .status_flags = 0x0002, .affected_rows = 3}},  // FB, OK
      {2, {.command = C::query, .status_flags = 0x0002}},
  };
  const std::vector<std::string> files = {"rows.txt", "rows.txt"};
  // CREATE, SET sql_mode, PREPARE; the file refused as a QUERY then as an EXECUTE: FB, ERR
  // 1366 after the upload's empty packet each time; DROP.
  const ResponseInfo refused{.command = C::query, .error = true, .error_code = 1366, .status_flags = 0x0002};
  const std::vector<Expected> load_data_refused = {
      {1, {.command = C::query, .status_flags = 0x0002}},
      {1, {.command = C::query, .status_flags = 0x0002}},
      {1, {.command = C::stmt_prepare, .statement_id = 1, .status_flags = 0x0002}},
      {2, refused},
      {2, {.command = C::stmt_execute, .statement_id = 1, .error = true, .error_code = 1366, .status_flags = 0x0002}},
      {1, {.command = C::query, .status_flags = 0x0002}},
  };
  const std::vector<std::string> bad_files = {"bad.txt", "bad.txt"};
  const ResponseInfo field_list_err{
      .command = C::field_list, .error = true, .error_code = 1146, .status_flags = 0x0002};
  const std::vector<Expected> simple = {
      {1, {.command = C::statistics, .status_flags = 0x0002}},
      {1, ping},
      {1, {.command = C::set_option, .status_flags = 0x0002}},
      {1, {.command = C::set_option, .status_flags = 0x0002}},
      {1, {.command = C::init_db, .status_flags = 0x0002}},
      {1, {.command = C::init_db, .error = true, .error_code = 1049, .status_flags = 0x0002}},
      {1, {.command = C::reset_connection, .status_flags = 0x0002}},
  };
  const ResponseInfo prepare_err{.command = C::stmt_prepare, .error = true, .error_code = 1064, .status_flags = 0x0002};
  const std::vector<std::string> track_states = {
      "state;trx:________;",         "schema:mysql;state;", "state;",
      "var:time_zone=+01:00;state;", "trx:T_______;",       "schema:camdb;state;"};
  auto track_states_eof = track_states;
  track_states_eof.push_back("trx:________;");  // the FE-OK's "T_____S_" has no EOF equivalent
  auto track_states_deprecate = track_states;
  track_states_deprecate.insert(track_states_deprecate.end(), {"trx:T_____S_;", "trx:________;"});
  std::vector<Expected> track_head = {
      {1, {.command = C::query, .status_flags = 0x4002}}, {1, {.command = C::query, .status_flags = 0x4002}},
      {1, {.command = C::query, .status_flags = 0x4002}}, {1, {.command = C::query, .status_flags = 0x4002}},
      {1, {.command = C::query, .status_flags = 0x4003}},  // BEGIN
  };
  auto track = track_head;
  track.push_back({6, {.command = C::query, .status_flags = 0x4002, .resultsets = 1}});
  auto track_eof = track_head;
  track_eof.push_back({7, {.command = C::query, .status_flags = 0x4002, .resultsets = 1}});

  return {
      // colcount, 2 defs, EOF, 3 rows, EOF / colcount, 2 defs, 3 rows, FE-OK
      {"select_rows_eof",
       "rt_select_rows_eof.hex",
       kEofCaps,
       {{8, {.command = C::query, .status_flags = 0x0022, .resultsets = 1}}}},
      {"select_rows_deprecate_eof",
       "rt_select_rows_deprecate_eof.hex",
       kDeprecateEofCaps,
       {{7, {.command = C::query, .status_flags = 0x0022, .resultsets = 1}}}},
      {"empty_resultset_eof",
       "rt_empty_resultset_eof.hex",
       kEofCaps,
       {{4, {.command = C::query, .status_flags = 0x0002, .resultsets = 1}}}},
      {"empty_resultset_deprecate_eof",
       "rt_empty_resultset_deprecate_eof.hex",
       kDeprecateEofCaps,
       {{3, {.command = C::query, .status_flags = 0x0002, .resultsets = 1}}}},
      {"insert_ok_eof", "rt_insert_ok_eof.hex", kEofCaps, insert_ok},
      {"insert_ok_deprecate_eof", "rt_insert_ok_deprecate_eof.hex", kDeprecateEofCaps, insert_ok},
      {"error_eof", "rt_error_eof.hex", kEofCaps, error},
      {"error_deprecate_eof", "rt_error_deprecate_eof.hex", kDeprecateEofCaps, error},
      // ERR after 2 rows; the metadata EOF (eof only) set NO_INDEX_USED
      {"error_mid_rows_eof",
       "rt_error_mid_rows_eof.hex",
       kEofCaps,
       {{7, {.command = C::query, .error = true, .error_code = 1242, .status_flags = 0x0022, .resultsets = 1}}}},
      {"error_mid_rows_deprecate_eof",
       "rt_error_mid_rows_deprecate_eof.hex",
       kDeprecateEofCaps,
       {{6, {.command = C::query, .error = true, .error_code = 1242, .status_flags = 0x0002, .resultsets = 1}}}},
      // 2 resultsets ending with MORE_RESULTS_EXISTS, then the failing third statement
      {"multi_statement_eof",
       "rt_multi_statement_eof.hex",
       kEofCaps,
       {{11, {.command = C::query, .error = true, .error_code = 1146, .status_flags = 0x000a, .resultsets = 2}}}},
      {"multi_statement_deprecate_eof",
       "rt_multi_statement_deprecate_eof.hex",
       kDeprecateEofCaps,
       {{9, {.command = C::query, .error = true, .error_code = 1146, .status_flags = 0x000a, .resultsets = 2}}}},
      // resultset (5 / 4 frames), resultset of 2 columns (6 / 5), final OK
      {"call_eof", "rt_call_eof.hex", kEofCaps, {{12, {.command = C::query, .status_flags = 0x0002, .resultsets = 2}}}},
      {"call_deprecate_eof",
       "rt_call_deprecate_eof.hex",
       kDeprecateEofCaps,
       {{10, {.command = C::query, .status_flags = 0x0002, .resultsets = 2}}}},
      // PREPARE_OK + param def [+EOF] + 2 column defs [+EOF]; EXECUTE: binary rows; CLOSE and
      // SEND_LONG_DATA get nothing
      {"prepared_eof",
       "rt_prepared_eof.hex",
       kEofCaps,
       {{6, {.command = C::stmt_prepare, .statement_id = 1, .status_flags = 0x0002, .num_params = 1, .num_columns = 2}},
        {7, {.command = C::stmt_execute, .statement_id = 1, .status_flags = 0x0002, .resultsets = 1}},
        {3, {.command = C::stmt_prepare, .statement_id = 2, .status_flags = 0x0002, .num_params = 1}},
        {1,
         {.command = C::stmt_execute,
          .statement_id = 2,
          .status_flags = 0x0002,
          .affected_rows = 1,
          .last_insert_id = 1}},
        {1, prepare_err},
        {1, ping}}},
      {"prepared_deprecate_eof",
       "rt_prepared_deprecate_eof.hex",
       kDeprecateEofCaps,
       {{4, {.command = C::stmt_prepare, .statement_id = 4, .status_flags = 0x0002, .num_params = 1, .num_columns = 2}},
        {6, {.command = C::stmt_execute, .statement_id = 4, .status_flags = 0x0002, .resultsets = 1}},
        {2, {.command = C::stmt_prepare, .statement_id = 5, .status_flags = 0x0002, .num_params = 1}},
        {1,
         {.command = C::stmt_execute,
          .statement_id = 5,
          .status_flags = 0x0002,
          .affected_rows = 1,
          .last_insert_id = 1}},
        {1, prepare_err},
        {1, ping}}},
      // EXECUTE with a cursor ends after the metadata (CURSOR_EXISTS | NO_INDEX_USED |
      // AUTOCOMMIT); FETCH 2 rows (CURSOR_EXISTS); FETCH the last row (LAST_ROW_SENT)
      {"cursor_eof",
       "rt_cursor_eof.hex",
       kEofCaps,
       {{4, {.command = C::stmt_prepare, .statement_id = 7, .status_flags = 0x0002, .num_columns = 2}},
        {4, {.command = C::stmt_execute, .statement_id = 7, .status_flags = 0x0062, .resultsets = 1}},
        {3, {.command = C::stmt_fetch, .statement_id = 7, .status_flags = 0x0042}},
        {2, {.command = C::stmt_fetch, .statement_id = 7, .status_flags = 0x0082}}}},
      {"cursor_deprecate_eof",
       "rt_cursor_deprecate_eof.hex",
       kDeprecateEofCaps,
       {{3, {.command = C::stmt_prepare, .statement_id = 8, .status_flags = 0x0002, .num_columns = 2}},
        {4, {.command = C::stmt_execute, .statement_id = 8, .status_flags = 0x0062, .resultsets = 1}},
        {3, {.command = C::stmt_fetch, .statement_id = 8, .status_flags = 0x0042}},
        {2, {.command = C::stmt_fetch, .statement_id = 8, .status_flags = 0x0082}}}},
      {"load_data_local_eof", "rt_load_data_local_eof.hex", kEofCaps, load_data, {}, files},
      {"load_data_local_deprecate_eof",
       "rt_load_data_local_deprecate_eof.hex",
       kDeprecateEofCaps,
       load_data,
       {},
       files},
      {"load_data_local_refused_eof", "rt_load_data_local_refused_eof.hex", kEofCaps, load_data_refused, {}, bad_files},
      {"load_data_local_refused_deprecate_eof",
       "rt_load_data_local_refused_deprecate_eof.hex",
       kDeprecateEofCaps,
       load_data_refused,
       {},
       bad_files},
      {"field_list_eof",
       "rt_field_list_eof.hex",
       kEofCaps,
       {{3, {.command = C::field_list, .status_flags = 0x0002}}, {1, field_list_err}}},
      {"field_list_deprecate_eof",
       "rt_field_list_deprecate_eof.hex",
       kDeprecateEofCaps,
       {{3, {.command = C::field_list, .status_flags = 0x0002}}, {1, field_list_err}}},
      {"simple_commands_eof", "rt_simple_commands_eof.hex", kEofCaps, simple},
      {"simple_commands_deprecate_eof", "rt_simple_commands_deprecate_eof.hex", kDeprecateEofCaps, simple},
      // AuthSwitchRequest, (client reply), OK; then a query on the new session
      {"change_user",
       "rt_change_user_deprecate_eof.hex",
       kDeprecateEofCaps,
       {{2, {.command = C::change_user, .status_flags = 0x0002}},
        {4, {.command = C::query, .status_flags = 0x0002, .resultsets = 1}}},
       {},
       {},
       true},
      {"pipelined",
       "rt_pipelined_deprecate_eof.hex",
       kDeprecateEofCaps,
       {{1, ping},
        {4, {.command = C::query, .status_flags = 0x0002, .resultsets = 1}},
        error[0],
        {1, {.command = C::query, .status_flags = 0x0002}}},
       {},
       {},
       true},
      // The last query: OK (USE, MORE_RESULTS), a resultset, OK (ROLLBACK)
      {"session_state_track", "rt_session_state_track.hex", kTrackCaps, track, track_states_deprecate},
      {"session_state_track_eof", "rt_session_state_track_eof.hex", kTrackEofCaps, track_eof, track_states_eof},
      // CACHE_METADATA: PREPARE_OK + param def [+EOF] + 3 column defs (one JSON, with extended
      // metadata) [+EOF]; EXECUTE twice: column count with metadata_follows 0, [EOF,] 2 rows,
      // terminator; EXECUTE with a cursor: metadata_follows 1 and the definitions; FETCH 3 rows;
      // a text SELECT: metadata_follows 1
      {"cache_metadata_eof",
       "rt_cache_metadata_mariadb_eof.hex",
       kMariaDbEofCaps,
       {{7, {.command = C::stmt_prepare, .statement_id = 1, .status_flags = 0x0002, .num_params = 1, .num_columns = 3}},
        {5, {.command = C::stmt_execute, .statement_id = 1, .status_flags = 0x0002, .resultsets = 1}},
        {5, {.command = C::stmt_execute, .statement_id = 1, .status_flags = 0x0002, .resultsets = 1}},
        {5, {.command = C::stmt_execute, .statement_id = 1, .status_flags = 0x0042, .resultsets = 1}},
        {4, {.command = C::stmt_fetch, .statement_id = 1, .status_flags = 0x0082}},
        {8, {.command = C::query, .status_flags = 0x0022, .resultsets = 1}}},
       {},
       {},
       false,
       kMariaDbExtCaps},
      {"cache_metadata_deprecate_eof",
       "rt_cache_metadata_mariadb_deprecate_eof.hex",
       kMariaDbDeprecateEofCaps,
       {{5, {.command = C::stmt_prepare, .statement_id = 2, .status_flags = 0x0002, .num_params = 1, .num_columns = 3}},
        {4, {.command = C::stmt_execute, .statement_id = 2, .status_flags = 0x0002, .resultsets = 1}},
        {4, {.command = C::stmt_execute, .statement_id = 2, .status_flags = 0x0002, .resultsets = 1}},
        {5, {.command = C::stmt_execute, .statement_id = 2, .status_flags = 0x0042, .resultsets = 1}},
        {4, {.command = C::stmt_fetch, .statement_id = 2, .status_flags = 0x0082}},
        {7, {.command = C::query, .status_flags = 0x0022, .resultsets = 1}}},
       {},
       {},
       false,
       kMariaDbExtCaps},
      // STMT_BULK_EXECUTE: OK for 3 rows; ERR 1062; with RETURNING a resultset of 2 rows
      {"bulk_execute_eof",
       "rt_bulk_execute_mariadb_eof.hex",
       kMariaDbEofCaps,
       {{4, {.command = C::stmt_prepare, .statement_id = 3, .status_flags = 0x0002, .num_params = 2}},
        {1, {.command = C::mariadb_stmt_bulk_execute, .statement_id = 3, .status_flags = 0x0002, .affected_rows = 3}},
        {1,
         {.command = C::mariadb_stmt_bulk_execute,
          .statement_id = 3,
          .error = true,
          .error_code = 1062,
          .status_flags = 0x0002}},
        {4, {.command = C::stmt_prepare, .statement_id = 4, .status_flags = 0x0002, .num_params = 2}},
        {7, {.command = C::mariadb_stmt_bulk_execute, .statement_id = 4, .status_flags = 0x0002, .resultsets = 1}}},
       {},
       {},
       false,
       kMariaDbExtCaps},
      {"bulk_execute_deprecate_eof",
       "rt_bulk_execute_mariadb_deprecate_eof.hex",
       kMariaDbDeprecateEofCaps,
       {{3, {.command = C::stmt_prepare, .statement_id = 5, .status_flags = 0x0002, .num_params = 2}},
        {1, {.command = C::mariadb_stmt_bulk_execute, .statement_id = 5, .status_flags = 0x0002, .affected_rows = 3}},
        {1,
         {.command = C::mariadb_stmt_bulk_execute,
          .statement_id = 5,
          .error = true,
          .error_code = 1062,
          .status_flags = 0x0002}},
        {3, {.command = C::stmt_prepare, .statement_id = 6, .status_flags = 0x0002, .num_params = 2}},
        {6, {.command = C::mariadb_stmt_bulk_execute, .statement_id = 6, .status_flags = 0x0002, .resultsets = 1}}},
       {},
       {},
       false,
       kMariaDbExtCaps},
      // PROGRESS: the ALTER's two progress reports (ERR 0xFFFF) come before its OK
      {"progress",
       "rt_progress_mariadb_deprecate_eof.hex",
       kMariaDbDeprecateEofCaps,
       {{1, {.command = C::query, .status_flags = 0x0002}},
        {1, {.command = C::query, .status_flags = 0x0002}},
        {1, {.command = C::query, .status_flags = 0x0022, .affected_rows = 200000}},
        {3, {.command = C::query, .status_flags = 0x0002, .affected_rows = 200000}},
        {1, {.command = C::query, .status_flags = 0x0002}}},
       {},
       {},
       false,
       kMariaDbExtCaps},
  };
}

class CaptureTest : public ::testing::TestWithParam<CaptureCase> {
 protected:
  void SetUp() override { stream_ = load_stream(GetParam().file, GetParam().caps); }
  Stream stream_;
};

std::vector<Record> only(const std::vector<Record>& records, TrackerEvent e) {
  std::vector<Record> out;
  for (const Record& r : records) {
    if (r.event == e) out.push_back(r);
  }
  return out;
}

TEST_P(CaptureTest, MatchesTheCapture) {
  const CaptureCase& c = GetParam();
  const auto records = replay(stream_, c.caps, whole, c.mariadb_caps);
  EXPECT_TRUE(only(records, TrackerEvent::fault).empty());

  const auto ends = only(records, TrackerEvent::response_end);
  ASSERT_EQ(ends.size(), c.responses.size());
  size_t frames = 0;
  for (size_t i = 0; i < ends.size(); ++i) {
    SCOPED_TRACE("response " + std::to_string(i));
    frames += c.responses[i].frames;
    ASSERT_LE(frames, stream_.server_frame_ends.size());
    EXPECT_EQ(ends[i].offset, stream_.server_frame_ends[frames - 1]);
    EXPECT_EQ(ends[i].response, c.responses[i].info);
  }
  EXPECT_EQ(frames, stream_.server_frame_ends.size()) << "server frames after the last response";

  std::vector<std::string> states, files;
  for (const Record& r : only(records, TrackerEvent::session_state)) states.push_back(r.text);
  for (const Record& r : only(records, TrackerEvent::local_infile)) files.push_back(r.text);
  EXPECT_EQ(states, c.session_states);
  EXPECT_EQ(files, c.local_infiles);
  EXPECT_EQ(only(records, TrackerEvent::upload_done).size(), c.local_infiles.size());
}

// Without pipelining the client speaks only after a response ended or a file was asked for, so
// the ends of the server's runs are exactly those points.
TEST_P(CaptureTest, EventsFallWhereTheClientSpokeNext) {
  if (GetParam().interleaved) GTEST_SKIP() << "the client did not wait for ends";
  std::set<size_t> run_ends;
  size_t offset = 0;
  for (const Segment& r : stream_.runs) {
    if (r.to_server) continue;
    offset += r.bytes.size();
    run_ends.insert(offset);
  }
  std::set<size_t> event_offsets;
  for (const Record& r : replay(stream_, GetParam().caps, whole, GetParam().mariadb_caps)) {
    if (r.event == TrackerEvent::response_end || r.event == TrackerEvent::local_infile) {
      EXPECT_TRUE(event_offsets.insert(r.offset).second) << "two ends at " << r.offset;
    }
  }
  EXPECT_EQ(event_offsets, run_ends);
}

TEST_P(CaptureTest, SameEventsHoweverTheBytesArrive) {
  const uint32_t caps = GetParam().caps;
  const uint32_t ext = GetParam().mariadb_caps;
  const auto expected = replay(stream_, caps, whole, ext);
  for (const bool to_server : {false, true}) {
    for (size_t cut = 1; cut < stream_.size(to_server); ++cut) {
      ASSERT_EQ(replay(stream_, caps, cut_at(to_server, cut), ext), expected)
          << (to_server ? "client" : "server") << " stream cut at " << cut;
    }
  }
  EXPECT_EQ(replay(
                stream_, caps, [](bool, size_t, size_t) { return size_t{1}; }, ext),
            expected)
      << "byte by byte";
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    EXPECT_EQ(replay(stream_, caps, random_chunks(seed, 48), ext), expected) << "seed " << seed;
  }
}

TEST_P(CaptureTest, NoAllocationsWhenWarm) {
  ResponseTracker t(GetParam().caps, stream_.login_status, {}, GetParam().mariadb_caps);
  replay(t, stream_, whole, nullptr);  // first pass: the copy buffer and FIFO grow
  g_allocations = 0;
  g_count_allocations = true;
  for (int i = 0; i < 20; ++i) replay(t, stream_, whole, nullptr);
  g_count_allocations = false;
  EXPECT_EQ(g_allocations.load(), 0U);
  EXPECT_TRUE(t.idle());
}

INSTANTIATE_TEST_SUITE_P(MariaDb, CaptureTest, ::testing::ValuesIn(capture_cases()), test::CaseName());

// The layouts the extended capabilities change are followed only when they are in effect: the
// same captures without them break the tracker (a column count with a byte after it; an OK after
// the "ERR" that ended the response).
TEST(ResponseTrackerState, MariaDbCapturesNeedTheirCapabilities) {
  for (const auto& [file, caps, missing] :
       {std::tuple{"rt_cache_metadata_mariadb_eof.hex", kMariaDbEofCaps, mariadb_cap::kCacheMetadata},
        std::tuple{"rt_bulk_execute_mariadb_deprecate_eof.hex", kMariaDbDeprecateEofCaps, mariadb_cap::kCacheMetadata},
        std::tuple{"rt_progress_mariadb_deprecate_eof.hex", kMariaDbDeprecateEofCaps, mariadb_cap::kProgress}}) {
    SCOPED_TRACE(file);
    const Stream s = load_stream(file, caps);
    ResponseTracker t(caps, s.login_status, {}, kMariaDbExtCaps & ~missing);
    std::vector<Record> records;
    replay(t, s, whole, &records);
    ASSERT_FALSE(records.empty());
    EXPECT_EQ(records.back().event, TrackerEvent::fault);
  }
}

TEST(ResponseTrackerState, SessionTrackingSummary) {
  for (const auto& [file, caps, unreported] : {std::tuple{"rt_session_state_track.hex", kTrackCaps, false},
                                               std::tuple{"rt_session_state_track_eof.hex", kTrackEofCaps, true}}) {
    SCOPED_TRACE(file);
    const Stream s = load_stream(file, caps);
    ResponseTracker t(caps, s.login_status);
    replay(t, s, whole, nullptr);
    EXPECT_EQ(t.schema(), "camdb");
    EXPECT_EQ(t.transaction_state(), "________");
    EXPECT_FALSE(t.in_transaction());
    const SessionChanges expected{
        .system_variables = true, .schema = true, .state = true, .transaction_state = true, .unreported = unreported};
    EXPECT_EQ(t.session_changes(), expected);
    t.clear_session_changes();
    EXPECT_EQ(t.session_changes(), SessionChanges{});
  }
}

// The state queries after each response of the insert capture (BEGIN, INSERT, COMMIT).
TEST(ResponseTrackerState, TransactionFlagsFollowTheResponses) {
  const Stream s = load_stream("rt_insert_ok_eof.hex", kEofCaps);
  ResponseTracker t(kEofCaps, s.login_status);
  std::vector<bool> in_trans;
  for (const Segment& seg : s.runs) {
    std::span<const uint8_t> rest(seg.bytes);
    for (;;) {
      const auto step = seg.to_server ? t.feed_to_server(rest) : t.feed_from_server(rest);
      rest = rest.subspan(step.consumed);
      if (step.event == TrackerEvent::command) {
        EXPECT_EQ(t.idle(), !t.last_command().expects_response);
      }
      if (step.event == TrackerEvent::response_end) in_trans.push_back(t.in_transaction());
      if (step.event == TrackerEvent::none) break;
    }
  }
  EXPECT_EQ(in_trans, (std::vector<bool>{true, true, false}));
  EXPECT_TRUE(t.idle());
}

TEST(ResponseTrackerState, LocalInfileIsPendingUntilTheEmptyPacket) {
  const Stream s = load_stream("rt_load_data_local_eof.hex", kEofCaps);
  ResponseTracker t(kEofCaps, s.login_status);
  std::vector<std::string> seen;
  for (const Segment& seg : s.runs) {
    std::span<const uint8_t> rest(seg.bytes);
    for (;;) {
      const auto step = seg.to_server ? t.feed_to_server(rest) : t.feed_from_server(rest);
      rest = rest.subspan(step.consumed);
      if (step.event == TrackerEvent::none) break;
      seen.push_back(std::string(to_string(step.event)) + (t.pending_local_infile() ? "+pending" : "") +
                     (t.idle() ? "+idle" : ""));
    }
  }
  const std::vector<std::string> expected = {"command",     "local_infile+pending", "upload_done", "response_end+idle",
                                             "command",     "local_infile+pending", "upload_done", "response_end+idle",
                                             "command+idle"};  // COM_QUIT expects nothing
  EXPECT_EQ(seen, expected);
}

// ---- >= 16 MiB packets (spec §1) ------------------------------------------------------------

std::vector<uint8_t> frame(std::span<const uint8_t> payload, uint8_t seq) {
  std::vector<uint8_t> out(kHeaderSize);
  write_frame_header(out.data(), static_cast<uint32_t>(payload.size()), seq);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// Appends `payload` as 0xFFFFFF-byte frames plus a shorter (maybe empty) last one.
void append_packet(Stream& s, bool to_server, std::span<const uint8_t> payload, uint8_t& seq) {
  for (;;) {
    const size_t n = std::min<size_t>(payload.size(), kMaxFramePayload);
    append_frame(s, to_server, frame(payload.first(n), seq++));
    payload = payload.subspan(n);
    if (n < kMaxFramePayload) break;
  }
}

struct BigRowCase {
  const char* name;
  uint32_t caps;
  std::string row_prefix_hex;  // the lenenc length of the single value
  size_t value_size;
  size_t row_frames;
};

// Synthesized by the framing rules (a capture would be 32 MiB of hex). The frames match a one-off
// capture of the same queries on MariaDB 10.11 (SELECT REPEAT('a', 16777216) AS big, and
// 16777211): 'ffffff04 fe0000000100000000 61..' then '0a000005 61..'; 'ffffff04 fdfbffff 62..'
// then the empty frame '00000005'; then the terminator.
class BigRowTest : public ::testing::TestWithParam<BigRowCase> {
 protected:
  void SetUp() override {
    const auto& c = GetParam();
    uint8_t seq = 0;
    const std::string query = "\x03SELECT REPEAT('a', " + std::to_string(c.value_size) + ") AS big";
    append_packet(stream_, true, test::as_bytes(query), seq);
    seq = 1;
    append_packet(stream_, false, from_hex("01"), seq);  // column count
    append_packet(stream_, false, from_hex("0364656600000003626967000c2d0000000004fb0000270000"), seq);
    const bool deprecate_eof = (c.caps & cap::kDeprecateEof) != 0;
    if (!deprecate_eof) append_packet(stream_, false, from_hex("fe00000200"), seq);
    std::vector<uint8_t> row = from_hex(c.row_prefix_hex);
    row.resize(row.size() + c.value_size, 'a');
    const size_t frames_before_row = stream_.server_frame_ends.size();
    append_packet(stream_, false, row, seq);
    EXPECT_EQ(stream_.server_frame_ends.size() - frames_before_row, c.row_frames);
    append_packet(stream_, false, from_hex(deprecate_eof ? "fe000002000000" : "fe00000200"), seq);
    stream_.login_status = status::kAutocommit;
  }
  Stream stream_;
};

TEST_P(BigRowTest, RowFramesAreNotTerminators) {
  const uint32_t caps = GetParam().caps;
  const auto expected = replay(stream_, caps, whole);
  ASSERT_EQ(expected.size(), 2U);  // the command, the response end
  EXPECT_EQ(expected[1].offset, stream_.size(false));
  EXPECT_EQ(expected[1].response, (ResponseInfo{.command = Command::query, .status_flags = 0x0002, .resultsets = 1}));
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    EXPECT_EQ(replay(stream_, caps, random_chunks(seed, 1 << 20)), expected) << "seed " << seed;
  }
  for (const size_t end : stream_.server_frame_ends) {
    for (size_t cut = end > 5 ? end - 5 : 1; cut <= end + 5 && cut < stream_.size(false); ++cut) {
      ASSERT_EQ(replay(stream_, caps, cut_at(false, cut)), expected) << "cut at " << cut;
    }
  }
}

TEST_P(BigRowTest, RowsAreNeverBuffered) {
  // Every packet the tracker copies here is < 64 bytes: a copied row would be kTooLarge.
  ResponseTracker t(GetParam().caps, stream_.login_status, TrackerLimits{64, 16});
  std::vector<Record> records;
  replay(t, stream_, random_chunks(7, 1 << 16), &records);
  EXPECT_FALSE(t.failed()) << to_string(t.fault());
  EXPECT_TRUE(t.idle());
}

INSTANTIATE_TEST_SUITE_P(
    Synthesized, BigRowTest,
    ::testing::Values(BigRowCase{"value_16mib_eof", kEofCaps, "fe0000000100000000", 16777216, 2},
                      BigRowCase{"value_16mib_deprecate_eof", kDeprecateEofCaps, "fe0000000100000000", 16777216, 2},
                      BigRowCase{"row_0xffffff_eof", kEofCaps, "fdfbffff", 16777211, 2},
                      BigRowCase{"row_0xffffff_deprecate_eof", kDeprecateEofCaps, "fdfbffff", 16777211, 2}),
    test::CaseName());

// A command of exactly 0xFFFFFF bytes is a full frame (seq 0) plus an empty one (seq 1); the
// response continues at seq 2 (spec §1).
TEST(ResponseTrackerFraming, ResponseSeqFollowsTheCommandsLastFrame) {
  std::string query = "\x03SELECT '";
  query.resize(kMaxFramePayload - 1, 'x');
  query += "'";
  for (const uint8_t ok_seq : {uint8_t{2}, uint8_t{1}}) {
    SCOPED_TRACE(ok_seq);
    Stream s;
    uint8_t seq = 0;
    append_packet(s, true, test::as_bytes(query), seq);
    ASSERT_EQ(s.runs[0].bytes.size(), 2 * kHeaderSize + kMaxFramePayload);
    append_frame(s, false, frame(from_hex("00000002000000"), ok_seq));
    ResponseTracker t(kDeprecateEofCaps);
    std::vector<Record> records;
    replay(t, s, random_chunks(ok_seq, 1 << 20), &records);
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].command.command, Command::query);
    EXPECT_EQ(records[1].event, ok_seq == 2 ? TrackerEvent::response_end : TrackerEvent::fault);
  }
}

TEST(ResponseTrackerFraming, ContinuationFrameWithAWrongSeqIsAFault) {
  std::vector<uint8_t> bytes = frame(std::vector<uint8_t>(kMaxFramePayload, 0x03), 0);
  const auto second = frame({}, 2);
  bytes.insert(bytes.end(), second.begin(), second.end());
  ResponseTracker t(kDeprecateEofCaps);
  const TrackerStep step = t.feed_to_server(bytes);
  EXPECT_EQ(step.event, TrackerEvent::fault);
  EXPECT_EQ(t.fault(), TrackerFault::sequence);
}

// ---- pipelining --------------------------------------------------------------------------

// Pushes and pops across the FIFO's growth and wrap-around; every OK ends the oldest PING.
TEST(ResponseTrackerPipeline, ManyCommandsInFlight) {
  const auto ping = from_hex("010000000e");
  const auto ok = from_hex("0700000100000002000000");
  ResponseTracker t(kDeprecateEofCaps);
  size_t sent = 0, answered = 0;
  for (const auto& [pings, oks] : {std::pair{5, 3}, std::pair{40, 20}, std::pair{3, 25}, std::pair{100, 100}}) {
    for (int i = 0; i < pings; ++i, ++sent) {
      ASSERT_EQ(t.feed_to_server(ping).event, TrackerEvent::command);
    }
    for (int i = 0; i < oks; ++i, ++answered) {
      const TrackerStep step = t.feed_from_server(ok);
      ASSERT_EQ(step.event, TrackerEvent::response_end);
      EXPECT_EQ(t.last_response().command, Command::ping);
    }
    EXPECT_EQ(t.outstanding(), sent - answered);
  }
  EXPECT_TRUE(t.idle());
}

// ---- tolerated irregularities --------------------------------------------------------------

std::vector<Record> feed_steps(ResponseTracker& t, const std::vector<std::pair<bool, std::string>>& steps) {
  std::vector<Record> records;
  size_t offsets[2] = {0, 0};
  for (const auto& [to_server, hex] : steps) {
    const auto bytes = from_hex(hex);
    feed(t, to_server, bytes, offsets[to_server], &records);
  }
  return records;
}

constexpr bool kC2s = true;
constexpr bool kS2c = false;
const std::string kPing = "010000000e";
const std::string kSelect1 = "0e0000000353454c45435420312041532061";
const std::string kErr1146Body =
    "ff7a042334325330325461626c65202763616d64622e6e6f737563682720646f65736e2774206578697374";

// spec §1: "Tolerate an ERR with an unexpected id."
TEST(ResponseTrackerTolerates, ErrWithAnUnexpectedSeq) {
  ResponseTracker t(kDeprecateEofCaps);
  const auto records = feed_steps(t, {{kC2s, kPing}, {kS2c, "2b000009" + kErr1146Body}});
  ASSERT_EQ(records.size(), 2U);
  EXPECT_EQ(records[1].response, (ResponseInfo{.command = Command::ping, .error = true, .error_code = 1146}));
  EXPECT_TRUE(t.idle());
}

// A MariaDB progress report (ERR code 0xFFFF: stage 1/2, 10.0%) does not end the response
// (with PROGRESS; without it, see the progress_report_without_progress fault).
TEST(ResponseTrackerTolerates, MariaDbProgressReport) {
  ResponseTracker t(kMariaDbDeprecateEofCaps, 0, {}, mariadb_cap::kProgress);
  const auto records =
      feed_steps(t, {{kC2s, kSelect1}, {kS2c, "09000001ffffff0102e8030000"}, {kS2c, "0700000200000002000000"}});
  ASSERT_EQ(records.size(), 2U);
  EXPECT_EQ(records[1].event, TrackerEvent::response_end);
  EXPECT_FALSE(records[1].response.error);
  EXPECT_EQ(records[1].offset, 24U);  // both frames
}

// ---- faults --------------------------------------------------------------------------------

struct FaultCase {
  const char* name;
  uint32_t caps;
  std::vector<std::pair<bool, std::string>> steps;  // (to server, frames as hex)
  TrackerFault fault;
  TrackerLimits limits = {};
  uint32_t mariadb_caps = 0;
};

std::vector<FaultCase> fault_cases() {
  using F = TrackerFault;
  const std::string ok_seq2 = "0700000200000002000000";
  const std::string load =
      "3b000000034c4f41442044415441204c4f43414c20494e46494c452027726f7773"
      "2e7478742720494e544f205441424c452063616d64622e6c6f6720287629";
  const std::string local_infile = "09000001fb726f77732e747874";
  const std::string prepare = "090000001653454c4543542031";
  const std::string change_user =
      "28000000116861726e657373000063616d6462002d006d7973716c5f6e"
      "61746976655f70617373776f726400";
  const std::string auth_switch =
      "2c000001fe6d7973716c5f6e61746976655f70617373776f7264002b40"
      "3f5a2a5f21263a3022577259483a2a612e5c00";
  const std::string coldef = "17000002036465660000000161000c3f0001000000038100000000";
  return {
      {"unsolicited_ok", kEofCaps, {{kS2c, "0700000100000002000000"}}, F::unsolicited},
      {"unsolicited_err", kEofCaps, {{kS2c, "2b000001" + kErr1146Body}}, F::unsolicited},
      {"response_seq_skips", kEofCaps, {{kC2s, kPing}, {kS2c, ok_seq2}}, F::sequence},
      {"command_seq_not_zero", kEofCaps, {{kC2s, "010000010e"}}, F::sequence},
      {"server_data_during_upload", kEofCaps, {{kC2s, load}, {kS2c, local_infile}, {kS2c, ok_seq2}}, F::unsolicited},
      {"upload_seq_wrong", kEofCaps, {{kC2s, load}, {kS2c, local_infile}, {kC2s, "02000003610a"}}, F::sequence},
      {"column_count_truncated", kEofCaps, {{kC2s, kSelect1}, {kS2c, "02000001fc01"}}, F::malformed},
      {"column_count_with_metadata_follows", kEofCaps, {{kC2s, kSelect1}, {kS2c, "020000010101"}}, F::malformed},
      // CACHE_METADATA: exactly one metadata_follows byte, 0 or 1
      {"metadata_follows_missing",
       kMariaDbEofCaps,
       {{kC2s, kSelect1}, {kS2c, "0100000101"}},
       F::malformed,
       {},
       mariadb_cap::kCacheMetadata},
      {"metadata_follows_2",
       kMariaDbEofCaps,
       {{kC2s, kSelect1}, {kS2c, "020000010102"}},
       F::malformed,
       {},
       mariadb_cap::kCacheMetadata},
      {"metadata_follows_then_more",
       kMariaDbEofCaps,
       {{kC2s, kSelect1}, {kS2c, "03000001010100"}},
       F::malformed,
       {},
       mariadb_cap::kCacheMetadata},
      {"metadata_follows_truncated_count",
       kMariaDbEofCaps,
       {{kC2s, kSelect1}, {kS2c, "02000001fc01"}},
       F::malformed,
       {},
       mariadb_cap::kCacheMetadata},
      // Without PROGRESS an ERR 0xFFFF is an ERR: the response ends there and the OK that
      // follows is unsolicited (rt_progress_mariadb_deprecate_eof.hex's first report).
      {"progress_report_without_progress",
       kMariaDbEofCaps,
       {{kC2s, kSelect1},
        {kS2c, "1b000001ffffff01010288130011636f707920746f20746d70207461626c65"},
        {kS2c, "0700000200000002000000"}},
       F::unsolicited},
      {"empty_first_packet", kEofCaps, {{kC2s, kSelect1}, {kS2c, "00000001"}}, F::malformed},
      {"ok_truncated", kEofCaps, {{kC2s, kPing}, {kS2c, "020000010000"}}, F::malformed},
      {"err_truncated", kEofCaps, {{kC2s, kPing}, {kS2c, "02000001ff01"}}, F::malformed},
      {"row_as_ping_reply", kEofCaps, {{kC2s, kPing}, {kS2c, "020000010131"}}, F::malformed},
      {"terminator_truncated",
       kEofCaps,
       {{kC2s, kSelect1}, {kS2c, "0100000101" + coldef + "06000003fe0000020000"}},
       F::malformed},
      {"prepare_reply_not_ok", kEofCaps, {{kC2s, prepare}, {kS2c, "0c000001050100000001000000000000"}}, F::malformed},
      {"prepare_ok_13_bytes", kEofCaps, {{kC2s, prepare}, {kS2c, "0d00000100010000000100000000000001"}}, F::malformed},
      {"local_infile_for_bulk_execute",
       kEofCaps,
       {{kC2s, "07000000fa010000008000"}, {kS2c, local_infile}},
       F::malformed},
      {"session_state_overrun",
       kTrackCaps,
       {{kC2s, kPing},
        {kS2c,
         "11000001000000024000000008010905"
         "6d7973716c"}},
       F::malformed},
      {"transaction_state_too_long",
       kTrackCaps,
       {{kC2s, kPing},
        {kS2c,
         "150000010000000240000000"
         "0c050a09545f5f5f5f5f5f5f5f"}},
       F::malformed},
      {"ok_too_large",
       kEofCaps,
       {{kC2s, kPing},
        {kS2c,
         "2e00000100020103000000265265636f7264733a203220204475706c6963617465733a2030"
         "20205761726e696e67733a2030"}},
       F::too_large,
       TrackerLimits{16, 16}},
      {"too_many_pipelined", kEofCaps, {{kC2s, kPing + kPing + kPing}}, F::too_many_commands, TrackerLimits{1024, 2}},
      {"auth_reply_before_the_switch",
       kEofCaps,
       {{kC2s, kPing + change_user}, {kC2s, "0400000161626364"}},
       F::sequence},
      {"auth_reply_seq_wrong",
       kEofCaps,
       {{kC2s, change_user},
        {kS2c, auth_switch},
        {kC2s,
         "04000003"
         "61626364"}},
       F::sequence},
  };
}

class FaultTest : public ::testing::TestWithParam<FaultCase> {};

TEST_P(FaultTest, ReportedOnceThenInputIsIgnored) {
  const auto& c = GetParam();
  for (const bool bytewise : {false, true}) {
    SCOPED_TRACE(bytewise ? "byte by byte" : "whole");
    ResponseTracker t(c.caps, status::kAutocommit, c.limits, c.mariadb_caps);
    std::vector<std::pair<bool, std::string>> steps;
    for (const auto& [to_server, hex] : c.steps) {
      if (!bytewise) {
        steps.emplace_back(to_server, hex);
        continue;
      }
      for (size_t i = 0; i < hex.size(); i += 2) steps.emplace_back(to_server, hex.substr(i, 2));
    }
    const auto records = feed_steps(t, steps);
    ASSERT_FALSE(records.empty());
    EXPECT_EQ(records.back().event, TrackerEvent::fault);
    EXPECT_EQ(only(records, TrackerEvent::fault).size(), 1U);
    EXPECT_EQ(t.fault(), c.fault) << to_string(t.fault());
    EXPECT_TRUE(t.failed());
    EXPECT_FALSE(t.idle());
    const auto more = from_hex(kPing + "0700000100000002000000");
    EXPECT_EQ(t.feed_to_server(more).consumed, more.size());
    const TrackerStep step = t.feed_from_server(more);
    EXPECT_EQ(step.consumed, more.size());
    EXPECT_EQ(step.event, TrackerEvent::none);
  }
}

INSTANTIATE_TEST_SUITE_P(Bytes, FaultTest, ::testing::ValuesIn(fault_cases()), test::CaseName());

// ---- session_state_info decoding (spec §4.5) ---------------------------------------------

struct SessionStateCase {
  const char* name;
  std::string hex;
  std::vector<std::pair<uint8_t, std::string>> entries;  // (type, data hex)
  bool malformed = false;
};

class SessionStateReaderTest : public ::testing::TestWithParam<SessionStateCase> {};

TEST_P(SessionStateReaderTest, Walks) {
  const auto& c = GetParam();
  const auto info = from_hex(c.hex);
  SessionStateReader reader(info);
  std::vector<std::pair<uint8_t, std::string>> entries;
  for (;;) {
    const auto entry = reader.next();
    if (!entry) {
      EXPECT_TRUE(c.malformed) << entry.error().message();
      break;
    }
    if (!*entry) {
      EXPECT_FALSE(c.malformed);
      break;
    }
    entries.emplace_back((*entry)->type, test::to_hex((*entry)->data));
  }
  EXPECT_EQ(entries, c.entries);
}

INSTANTIATE_TEST_SUITE_P(
    Entries, SessionStateReaderTest,
    ::testing::Values(
        // captures/rt_session_state_track.hex, SET time_zone
        SessionStateCase{"variable_and_state",
                         "00110974696d655f7a6f6e65062b30313a3030020131",
                         {{0, "0974696d655f7a6f6e65062b30313a3030"}, {2, "31"}}},
        SessionStateCase{"unknown_type_skipped", "1002aabb0106056d7973716c", {{16, "aabb"}, {1, "056d7973716c"}}},
        SessionStateCase{"empty", "", {}},
        SessionStateCase{"entry_overruns", "0106056d7973716c010905", {{1, "056d7973716c"}}, true},
        SessionStateCase{"length_truncated", "01fc01", {}, true}),
    test::CaseName());

TEST(SessionStateDecoding, Strings) {
  EXPECT_EQ(decode_session_state_string(from_hex("056d7973716c")).value_or("?"), "mysql");
  EXPECT_FALSE(decode_session_state_string(from_hex("056d79")));
  EXPECT_FALSE(decode_session_state_string(from_hex("013100")));  // bytes after the string
}

TEST(SessionStateDecoding, SystemVariables) {
  // Two pairs in one entry (allowed by §4.5's layout), then a value cut short.
  std::vector<std::string> seen;
  const auto collect = [&](SystemVariable v) { seen.push_back(std::string(v.name) + "=" + std::string(v.value)); };
  EXPECT_TRUE(for_each_system_variable(from_hex("01610131016202787a"), collect));
  EXPECT_EQ(seen, (std::vector<std::string>{"a=1", "b=xz"}));
  EXPECT_FALSE(for_each_system_variable(from_hex("016103"), collect));
}

}  // namespace
}  // namespace camproxy::protocol
