// Response tracker: where each server response ends (spec/mysql-protocol.md §4.4), the status
// flags it leaves (§4.2), LOCAL INFILE exchanges and session-state changes (§4.5), for a relay
// that forwards bytes unchanged and never buffers whole packets.
//
// One tracker watches one upstream connection in the command phase (after the login OK). It
// is fed both directions of that connection, in chunks of any size:
//   feed_to_server(bytes)    every byte written to the server: commands (the client's and the
//                            proxy's own), LOCAL INFILE file packets, CHANGE_USER auth replies;
//   feed_from_server(bytes)  every byte read from the server.
// Feed each chunk before forwarding it, so a command is known before its response can arrive.
//
// It reads frame headers and the first payload byte of each packet. It copies only the
// packets it must parse, which are small: OK, ERR, EOF, PREPARE_OK, column count and the
// LOCAL INFILE request, each at most TrackerLimits::max_buffered_payload bytes (a larger one
// is a kTooLarge fault, not buffered). Rows and column definitions are skipped unread. The
// copy buffer and the command FIFO are reused: no allocation per packet in steady state.
//
// Each feed call stops at the first event and says how many bytes it consumed:
//   for (;;) {
//     const TrackerStep step = tracker.feed_from_server(bytes);
//     bytes = bytes.subspan(step.consumed);
//     if (step.event == TrackerEvent::none) break;  // all consumed, nothing pending
//     handle(step.event);
//   }
// One packet can raise two events (session_state, then response_end): the second comes from the
// next call with consumed == 0, so loop until TrackerEvent::none, not until `bytes` is empty. The byte at
// which an event is reported is exact, so a relay can cut its output at a response boundary.
//
// Responses by command (§4.3, §4.4):
//   QUERY, STMT_EXECUTE, PROCESS_INFO, STMT_BULK_EXECUTE (MariaDB 0xFA)
//                 OK | ERR | resultsets (text / binary rows); each OK or
//                 terminator with MORE_RESULTS_EXISTS starts another result; QUERY and
//                 STMT_EXECUTE (a prepared LOAD DATA LOCAL, MariaDB) may get LOCAL INFILE
//                 (FB): the server reads the whole upload, even after refusing the file
//                 part-way, and answers OK or ERR after its empty packet (MariaDB 10.11
//                 capture). STMT_EXECUTE with a cursor: the metadata terminator carries
//                 CURSOR_EXISTS and no rows follow (MariaDB 10.11 capture, with and without
//                 DEPRECATE_EOF).
//   STMT_FETCH    binary rows, then a terminator (CURSOR_EXISTS or LAST_ROW_SENT) | ERR.
//   STMT_PREPARE  PREPARE_OK, param defs [+EOF], column defs [+EOF] | ERR.
//   FIELD_LIST    column defs until a terminator | ERR.
//   STATISTICS    one raw string packet.
//   CHANGE_USER   an auth exchange: server packets until OK or ERR; client packets in between
//                 are auth data, not commands (the session is reset; the tracker keeps going).
//   QUIT, STMT_CLOSE, STMT_SEND_LONG_DATA  no response (not queued).
//   anything else one OK, ERR or EOF. Streaming commands (BINLOG_DUMP, CLONE, ...) are refused
//                 by the proxy (§4.3); fed anyway, they end in a fault.
// Pipelined commands queue in a FIFO; responses are matched in order.
//
// Terminators (§1, §4.1): in rows, FF is an ERR that ends the whole response; FE is a terminator
// only when its first frame is shorter than 0xFFFFFF (a >= 16 MiB text row also starts with FE).
// A terminator of 5 bytes (1 without PROTOCOL_41) is an EOF, a longer one an FE-OK.
//
// MariaDB extended capabilities (spec §3.1, docs/capabilities.md), given as `mariadb_caps`:
//   PROGRESS        an ERR with code 0xFFFF is a progress report: the response goes on.
//                   Without PROGRESS it is an ordinary ERR.
//   CACHE_METADATA  every column count is followed by int<1> metadata_follows (a MariaDB 10.11
//                   capture: 1 for text results, 0 for a re-executed prepared statement whose
//                   columns did not change). With 0 no column definitions follow, but the EOF
//                   that would close them still does (without DEPRECATE_EOF).
//   STMT_BULK_OPERATIONS, EXTENDED_METADATA  change nothing the tracker reads (column
//                   definitions are skipped unread; 0xFA is tracked whatever the bits).
//
// Sequence ids (§1): a command starts at 0; the response continues from the command's last
// frame; LOCAL INFILE and CHANGE_USER exchanges count on across both directions. A frame with a
// wrong id is a fault, except the first frame of an ERR (tolerated, §1).
//
// Not handled (never negotiated by camproxy, §5.4): compression; OPTIONAL_RESULTSET_METADATA (a
// column count followed by more bytes than CACHE_METADATA's one is a fault). A client that
// pipelines commands behind LOAD DATA LOCAL or an unfinished CHANGE_USER breaks the server's own
// framing; the tracker then sees file or auth data where it expects commands, as the server does.
//
// After a fault the tracker reports fault once, then consumes and ignores all input: the
// connection's state is unknown, so it must not be reused (the relay may still forward bytes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/packet.h"
#include "protocol/result.h"

namespace camproxy::protocol {

enum class TrackerEvent : uint8_t {
  none,           // every input byte consumed, nothing left to report
  command,        // (to server) a command packet ended: last_command()
  upload_done,    // (to server) the empty packet that ends a LOCAL INFILE upload
  local_infile,   // (from server) FB: the server asks for a file, local_infile_name(); until
                  // upload_done every client packet is file data
  session_state,  // (from server) an OK carried session_state_info(); already applied to
                  // schema(), transaction_state() and session_changes()
  response_end,   // (from server) the oldest outstanding command's response ended: last_response()
  fault,          // a stream broke a rule, see fault(); reported once, tracking has stopped
};

enum class TrackerFault : uint8_t {
  none,
  unsolicited,        // server bytes while no response is outstanding, or during an upload
  sequence,           // a frame's seq_id is not the expected one
  malformed,          // a packet the tracker parses does not decode, or cannot appear here
  too_large,          // a packet to parse exceeds TrackerLimits::max_buffered_payload
  too_many_commands,  // more than TrackerLimits::max_pipelined commands outstanding
};

std::string_view to_string(TrackerEvent e) noexcept;
std::string_view to_string(TrackerFault f) noexcept;

struct TrackerStep {
  size_t consumed = 0;  // bytes of the input the call used; the rest is for the next call
  TrackerEvent event = TrackerEvent::none;
};

struct TrackerLimits {
  // OK/ERR/EOF/PREPARE_OK/column count fit in a few hundred bytes; the rest is headroom for
  // session_state_info with session_track_system_variables='*'. Clamped below 0xFFFFFF.
  size_t max_buffered_payload = 256 * 1024;
  size_t max_pipelined = 4096;
};

// The command of the last kCommand event: its byte and the fields a response depends on.
struct CommandInfo {
  Command command = Command::sleep;  // an empty packet counts as COM_SLEEP, as mysqld does
  uint32_t statement_id = 0;         // STMT_EXECUTE/FETCH/CLOSE/RESET/SEND_LONG_DATA
  uint8_t cursor_flags = 0;          // STMT_EXECUTE flags byte (cursor type)
  bool expects_response = false;     // false for QUIT, STMT_CLOSE, STMT_SEND_LONG_DATA
  bool operator==(const CommandInfo&) const = default;
};

// The response of the last response_end event.
struct ResponseInfo {
  Command command = Command::sleep;
  uint32_t statement_id = 0;   // from the command; for STMT_PREPARE, from PREPARE_OK
  bool error = false;          // ended with ERR
  uint16_t error_code = 0;     // of that ERR
  uint16_t status_flags = 0;   // after the response (an ERR leaves the previous flags)
  uint16_t warnings = 0;       // of the last OK/EOF
  uint64_t affected_rows = 0;  // of the last OK
  uint64_t last_insert_id = 0;
  uint32_t resultsets = 0;  // column-count packets seen
  uint16_t num_params = 0;  // STMT_PREPARE: from PREPARE_OK
  uint16_t num_columns = 0;
  bool operator==(const ResponseInfo&) const = default;
};

// What session tracking reported since the last clear_session_changes() (§4.5, §6).
struct SessionChanges {
  bool system_variables = false;             // type 0
  bool schema = false;                       // type 1 (schema() has the latest)
  bool state = false;                        // type 2: user vars, temp tables, PREPARE, ...
  bool gtids = false;                        // type 3
  bool transaction_characteristics = false;  // type 4
  bool transaction_state = false;            // type 5 (transaction_state() has the latest)
  // SESSION_STATE_CHANGED without details: on an EOF, which has no room for them (MariaDB 10.11
  // does this without DEPRECATE_EOF), or on an OK without SESSION_TRACK. Something changed, the
  // tracker cannot say what.
  bool unreported = false;
  bool operator==(const SessionChanges&) const = default;
};

enum class SessionStateType : uint8_t {
  system_variables = 0,
  schema = 1,
  state_change = 2,
  gtids = 3,
  transaction_characteristics = 4,
  transaction_state = 5,
};

struct SessionStateEntry {
  uint8_t type = 0;  // a SessionStateType value, or an unknown one (skip it)
  std::span<const uint8_t> data;
};

// Walks session_state_info (§4.5): repeated int<1> type, str<lenenc> data.
class SessionStateReader {
 public:
  explicit SessionStateReader(std::span<const uint8_t> info) noexcept : rest_(info) {}
  // nullopt at the end; malformed when an entry overruns the info.
  Result<std::optional<SessionStateEntry>> next() noexcept;

 private:
  std::span<const uint8_t> rest_;
};

struct SystemVariable {
  std::string_view name;
  std::string_view value;
};
// SYSTEM_VARIABLES data holds one or more str<lenenc> name, str<lenenc> value pairs (MySQL and
// MariaDB send one pair per entry). Calls f(SystemVariable) for each pair.
template <class F>
Result<void> for_each_system_variable(std::span<const uint8_t> data, F&& f);
// SCHEMA and TRANSACTION_* data: one str<lenenc>.
Result<std::string_view> decode_session_state_string(std::span<const uint8_t> data) noexcept;

class ResponseTracker {
 public:
  // `caps`: the capability flags in effect on this connection (the client's, as the server
  // accepted them): DEPRECATE_EOF, SESSION_TRACK and PROTOCOL_41 matter. `status_flags`: those
  // of the login OK. `mariadb_caps`: the MariaDB extended capabilities in effect (PROGRESS and
  // CACHE_METADATA matter).
  explicit ResponseTracker(uint32_t caps, uint16_t status_flags = 0, TrackerLimits limits = {},
                           uint32_t mariadb_caps = 0);

  TrackerStep feed_to_server(std::span<const uint8_t> bytes);
  TrackerStep feed_from_server(std::span<const uint8_t> bytes);

  // No command outstanding, no partial frame either way, no upload or auth exchange open and
  // no fault: a safe point for reset, reuse or reconnect (§5.3, §7.2).
  bool idle() const noexcept;
  size_t outstanding() const noexcept { return fifo_count_; }
  bool failed() const noexcept { return fault_ != TrackerFault::none; }
  TrackerFault fault() const noexcept { return fault_; }

  // Of the last OK/EOF of any command (including metadata EOFs).
  uint16_t status_flags() const noexcept { return status_flags_; }
  bool in_transaction() const noexcept { return (status_flags_ & status::kInTrans) != 0; }
  bool pending_local_infile() const noexcept { return client_mode_ == ClientMode::upload; }

  const CommandInfo& last_command() const noexcept { return last_command_; }
  const ResponseInfo& last_response() const noexcept { return last_response_; }
  // Valid during local_infile / session_state, until the next feed_from_server() call.
  std::string_view local_infile_name() const noexcept;
  std::span<const uint8_t> session_state_info() const noexcept { return session_state_; }

  // Latest values reported by session tracking (empty if never reported). CHANGE_USER and
  // RESET_CONNECTION reset the server session (§5.1) without necessarily reporting it here.
  std::string_view schema() const noexcept { return schema_; }
  std::string_view transaction_state() const noexcept { return {transaction_state_.data(), transaction_state_len_}; }
  const SessionChanges& session_changes() const noexcept { return changes_; }
  void clear_session_changes() noexcept { changes_ = {}; }

 private:
  // Where the server's next packet stands; the comment says what holds in that state.
  enum class ServerState : uint8_t {
    idle,          // FIFO empty: nothing may come from the server
    first_packet,  // a result starts: OK, ERR, FB (QUERY, STMT_EXECUTE) or a column count
    defs,          // defs_left_ > 0 definitions of section_ to skip
    defs_eof,      // the EOF closing section_'s definitions (no DEPRECATE_EOF)
    rows,          // rows until ERR or an FE terminator
    prepare_ok,    // STMT_PREPARE: PREPARE_OK or ERR
    field_list,    // column definitions until a terminator or ERR
    single,        // exactly one OK, ERR or EOF
    statistics,    // exactly one raw string packet
    auth,          // CHANGE_USER: packets until OK or ERR
    upload,        // LOCAL INFILE requested: only the client sends, until its empty packet
  };
  enum class Section : uint8_t { result_columns, params, prepare_columns };
  enum class ClientMode : uint8_t {
    command,  // the next client packet is a command
    upload,   // client packets are file data until an empty packet
    auth,     // a CHANGE_USER is outstanding: client packets are auth data
  };
  enum class Next : uint8_t { more, end_response, local_infile, fault };

  // Frame walking state of one direction.
  struct FrameCursor {
    std::array<uint8_t, kHeaderSize> header{};
    uint8_t header_have = 0;
    bool in_frame = false;   // header read; `left` payload bytes still to come
    bool continues = false;  // this frame continues a packet (the previous one was full)
    uint32_t frame_len = 0;
    uint32_t left = 0;
    uint8_t seq = 0;
    uint64_t packet_size = 0;  // payload bytes of the current packet so far
    bool at_boundary() const noexcept { return !in_frame && header_have == 0 && !continues; }
  };
  struct PendingCommand {
    Command command;
    uint8_t next_seq;  // seq id of the response's first frame
    uint32_t statement_id;
  };

  template <class OnHeader, class OnBytes, class OnPacketEnd>
  TrackerStep walk(FrameCursor& c, std::span<const uint8_t> in, OnHeader&& on_header, OnBytes&& on_bytes,
                   OnPacketEnd&& on_packet_end);
  TrackerEvent raise(TrackerFault f) noexcept;
  Next fail(TrackerFault f) noexcept;

  // to server
  TrackerEvent on_client_header();
  void on_client_bytes(std::span<const uint8_t> chunk);
  TrackerEvent on_client_packet_end();
  TrackerEvent register_command();

  // from server
  TrackerEvent on_server_header();
  TrackerEvent on_server_bytes(std::span<const uint8_t> chunk);
  TrackerEvent classify_server_packet(std::optional<uint8_t> first_byte);
  TrackerEvent on_server_packet_end();
  Next handle_server_packet();
  Next first_packet();
  Next definitions_done();
  Next section_done();
  Next enter_definitions(Section s, uint16_t count);
  Next prepare_ok();
  Next err_packet();
  Next terminator(bool* more_results);
  Next apply_ok(std::span<const uint8_t> payload, bool* more_results);
  Next apply_session_state(std::span<const uint8_t> info);
  static ServerState first_state(Command c) noexcept;
  void begin_response();
  TrackerEvent end_response();

  const uint32_t caps_;
  const uint32_t mariadb_caps_;
  const TrackerLimits limits_;
  uint16_t status_flags_;
  TrackerFault fault_ = TrackerFault::none;
  TrackerEvent pending_ = TrackerEvent::none;  // second event of the last server packet

  // to server
  FrameCursor client_;
  ClientMode client_mode_ = ClientMode::command;
  uint8_t client_next_seq_ = 0;              // expected seq id of the next command frame
  std::array<uint8_t, 6> command_prefix_{};  // command byte, int<4> stmt id, int<1> flags
  CommandInfo last_command_;

  // command FIFO: a ring over fifo_ (grows by doubling, never shrinks)
  std::vector<PendingCommand> fifo_;
  size_t fifo_head_ = 0;
  size_t fifo_count_ = 0;

  // from server
  FrameCursor server_;
  ServerState state_ = ServerState::idle;
  Section section_ = Section::result_columns;
  uint64_t defs_left_ = 0;
  uint16_t prepare_columns_ = 0;
  uint8_t exchange_seq_ = 0;     // expected seq id of the next frame of this exchange
  bool buffering_ = false;       // current server packet is copied to packet_
  uint8_t first_byte_ = 0;       // of the current server packet (if not empty)
  std::vector<uint8_t> packet_;  // the packet being parsed (reused)
  bool session_event_ = false;   // the current packet carried session_state_info
  std::span<const uint8_t> session_state_;
  ResponseInfo response_;  // of the front command, being filled
  ResponseInfo last_response_;

  std::string schema_;
  std::array<char, 8> transaction_state_{};
  size_t transaction_state_len_ = 0;
  SessionChanges changes_;
};

template <class F>
Result<void> for_each_system_variable(std::span<const uint8_t> data, F&& f) {
  ByteReader r(data);
  while (!r.empty()) {
    auto name = r.str_lenenc();
    if (!name) return tl::unexpected(name.error());
    auto value = r.str_lenenc();
    if (!value) return tl::unexpected(value.error());
    f(SystemVariable{*name, *value});
  }
  return {};
}

}  // namespace camproxy::protocol
