#include "protocol/response_tracker.h"

#include <algorithm>

#include "protocol/ok_err_eof.h"
#include "protocol/try.h"

namespace camproxy::protocol {
namespace {

// PREPARE_OK (§4.4): 00, int<4> stmt_id, int<2> num_columns, int<2> num_params, 00,
// int<2> warnings; the int<1> metadata_follows only comes with OPTIONAL_RESULTSET_METADATA.
constexpr size_t kPrepareOkSize = 12;
constexpr size_t kEofSize = 5;     // §4.1, with PROTOCOL_41; a pre-4.1 EOF is FE alone
constexpr size_t kMinErrSize = 3;  // FF, int<2> code
constexpr size_t kMinFifoSize = 8;
constexpr size_t kCommandPrefixSize = 6;  // command byte, int<4> stmt id, int<1> flags
constexpr uint8_t kMaxTransactionStateSize = 8;

bool carries_statement_id(Command c) noexcept {
  return c == Command::kStmtExecute || c == Command::kStmtFetch || c == Command::kStmtClose ||
         c == Command::kStmtReset || c == Command::kStmtSendLongData;
}

uint32_t load_u32(const uint8_t* p) noexcept {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

}  // namespace

std::string_view to_string(TrackerEvent e) noexcept {
  switch (e) {
    case TrackerEvent::kNone: return "none";
    case TrackerEvent::kCommand: return "command";
    case TrackerEvent::kUploadDone: return "upload_done";
    case TrackerEvent::kLocalInfile: return "local_infile";
    case TrackerEvent::kSessionState: return "session_state";
    case TrackerEvent::kResponseEnd: return "response_end";
    case TrackerEvent::kFault: return "fault";
  }
  return "?";
}

std::string_view to_string(TrackerFault f) noexcept {
  switch (f) {
    case TrackerFault::kNone: return "none";
    case TrackerFault::kUnsolicited: return "unsolicited server data";
    case TrackerFault::kSequence: return "unexpected sequence id";
    case TrackerFault::kMalformed: return "malformed or unexpected packet";
    case TrackerFault::kTooLarge: return "packet to parse too large";
    case TrackerFault::kTooManyCommands: return "too many pipelined commands";
  }
  return "?";
}

Result<std::optional<SessionStateEntry>> SessionStateReader::next() noexcept {
  if (rest_.empty()) return std::optional<SessionStateEntry>();
  ByteReader r(rest_);
  SessionStateEntry entry;
  uint64_t len = 0;
  CAMPROXY_TRY_ASSIGN(entry.type, r.u8());
  CAMPROXY_TRY_ASSIGN(len, r.lenenc());
  CAMPROXY_TRY_ASSIGN(entry.data, r.bytes(len));
  rest_ = rest_.subspan(r.position());
  return std::optional<SessionStateEntry>(entry);
}

Result<std::string_view> decode_session_state_string(std::span<const uint8_t> data) noexcept {
  ByteReader r(data);
  std::string_view s;
  CAMPROXY_TRY_ASSIGN(s, r.str_lenenc());
  if (!r.empty()) return fail(ProtoErr::malformed);
  return s;
}

ResponseTracker::ResponseTracker(uint32_t caps, uint16_t status_flags, TrackerLimits limits)
    : caps_(caps),
      limits_{std::min<size_t>(limits.max_buffered_payload, kMaxFramePayload - 1), limits.max_pipelined},
      status_flags_(status_flags) {}

bool ResponseTracker::idle() const noexcept {
  return fifo_count_ == 0 && state_ == ServerState::kIdle && client_mode_ == ClientMode::kCommand &&
         client_.at_boundary() && server_.at_boundary() && !failed() && pending_ == TrackerEvent::kNone;
}

std::string_view ResponseTracker::local_infile_name() const noexcept {
  if (state_ != ServerState::kUpload || packet_.empty()) return {};
  return as_chars(std::span(packet_).subspan(1));
}

TrackerEvent ResponseTracker::raise(TrackerFault f) noexcept {
  fault_ = f;
  pending_ = TrackerEvent::kNone;
  return TrackerEvent::kFault;
}

ResponseTracker::Next ResponseTracker::fail(TrackerFault f) noexcept {
  raise(f);
  return Next::kFault;
}

// Splits `in` into frames: headers are collected across calls, payload bytes go to on_bytes in
// chunks, and on_packet_end runs when a frame shorter than 0xFFFFFF closes a packet (§1).
template <class OnHeader, class OnBytes, class OnPacketEnd>
TrackerStep ResponseTracker::walk(FrameCursor& c, std::span<const uint8_t> in, OnHeader&& on_header, OnBytes&& on_bytes,
                                  OnPacketEnd&& on_packet_end) {
  size_t pos = 0;
  for (;;) {
    if (!c.in_frame) {
      if (pos == in.size()) break;
      const size_t take = std::min<size_t>(kHeaderSize - c.header_have, in.size() - pos);
      std::copy_n(in.begin() + static_cast<ptrdiff_t>(pos), take, c.header.begin() + c.header_have);
      c.header_have = static_cast<uint8_t>(c.header_have + take);
      pos += take;
      if (c.header_have < kHeaderSize) break;
      c.header_have = 0;
      const FrameHeader h = read_frame_header(c.header.data());
      c.frame_len = c.left = h.payload_len;
      c.seq = h.seq_id;
      c.in_frame = true;
      if (!c.continues) c.packet_size = 0;
      if (on_header() == TrackerEvent::kFault) return {pos, TrackerEvent::kFault};
    }
    if (c.left > 0) {
      if (pos == in.size()) break;
      const size_t take = std::min<size_t>(c.left, in.size() - pos);
      if (on_bytes(in.subspan(pos, take)) == TrackerEvent::kFault) {
        return {pos, TrackerEvent::kFault};
      }
      c.left -= static_cast<uint32_t>(take);
      c.packet_size += take;
      pos += take;
      if (c.left > 0) break;
    }
    c.in_frame = false;
    c.continues = c.frame_len == kMaxFramePayload;
    if (!c.continues) {
      const TrackerEvent e = on_packet_end();
      if (e != TrackerEvent::kNone) return {pos, e};
    }
  }
  return {pos, TrackerEvent::kNone};
}

// ---- to server ---------------------------------------------------------------------------

TrackerStep ResponseTracker::feed_to_server(std::span<const uint8_t> bytes) {
  if (failed()) return {bytes.size(), TrackerEvent::kNone};
  return walk(
      client_, bytes, [this] { return on_client_header(); },
      [this](std::span<const uint8_t> chunk) {
        on_client_bytes(chunk);
        return TrackerEvent::kNone;
      },
      [this] { return on_client_packet_end(); });
}

TrackerEvent ResponseTracker::on_client_header() {
  // §1: a command starts at seq 0 and counts up over its frames; file and auth packets continue
  // the exchange's counter, shared with the server.
  if (client_mode_ == ClientMode::kAuth && state_ != ServerState::kAuth) {
    return raise(TrackerFault::kSequence);  // auth data before the server asked for it
  }
  uint8_t& expected = client_mode_ == ClientMode::kCommand ? client_next_seq_ : exchange_seq_;
  if (client_.seq != expected) return raise(TrackerFault::kSequence);
  expected = static_cast<uint8_t>(client_.seq + 1);
  return TrackerEvent::kNone;
}

void ResponseTracker::on_client_bytes(std::span<const uint8_t> chunk) {
  if (client_mode_ != ClientMode::kCommand || client_.packet_size >= kCommandPrefixSize) return;
  const size_t at = static_cast<size_t>(client_.packet_size);
  const size_t n = std::min(kCommandPrefixSize - at, chunk.size());
  std::copy_n(chunk.begin(), n, command_prefix_.begin() + static_cast<ptrdiff_t>(at));
}

TrackerEvent ResponseTracker::on_client_packet_end() {
  switch (client_mode_) {
    case ClientMode::kCommand: return register_command();
    case ClientMode::kAuth: return TrackerEvent::kNone;
    case ClientMode::kUpload:
      if (client_.packet_size != 0) return TrackerEvent::kNone;
      // §4.4: the empty packet ends the file; the server's OK/ERR is a new first packet.
      client_mode_ = ClientMode::kCommand;
      client_next_seq_ = 0;
      state_ = ServerState::kFirstPacket;
      return TrackerEvent::kUploadDone;
  }
  return TrackerEvent::kNone;
}

TrackerEvent ResponseTracker::register_command() {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(client_.packet_size, kCommandPrefixSize));
  CommandInfo info;
  // mysqld runs an empty command packet as COM_SLEEP (it answers ERR 1047).
  info.command = n == 0 ? Command::kSleep : static_cast<Command>(command_prefix_[0]);
  if (carries_statement_id(info.command) && n >= 5) {
    info.statement_id = load_u32(command_prefix_.data() + 1);
  }
  if (info.command == Command::kStmtExecute && n >= 6) info.cursor_flags = command_prefix_[5];
  info.expects_response = first_state(info.command) != ServerState::kIdle;
  last_command_ = info;
  client_next_seq_ = 0;
  if (!info.expects_response) return TrackerEvent::kCommand;
  if (fifo_count_ >= limits_.max_pipelined) return raise(TrackerFault::kTooManyCommands);
  if (fifo_count_ == fifo_.size()) {
    std::vector<PendingCommand> bigger(std::max(kMinFifoSize, fifo_.size() * 2));
    for (size_t i = 0; i < fifo_count_; ++i) bigger[i] = fifo_[(fifo_head_ + i) % fifo_.size()];
    fifo_ = std::move(bigger);
    fifo_head_ = 0;
  }
  fifo_[(fifo_head_ + fifo_count_) % fifo_.size()] = {info.command, static_cast<uint8_t>(client_.seq + 1),
                                                      info.statement_id};
  ++fifo_count_;
  if (info.command == Command::kChangeUser) client_mode_ = ClientMode::kAuth;
  if (state_ == ServerState::kIdle) begin_response();
  return TrackerEvent::kCommand;
}

// How the server answers a command (§4.3): the state its response starts in, kIdle for none.
ResponseTracker::ServerState ResponseTracker::first_state(Command c) noexcept {
  switch (c) {
    case Command::kQuit:
    case Command::kStmtClose:
    case Command::kStmtSendLongData: return ServerState::kIdle;
    case Command::kQuery:
    case Command::kStmtExecute:
    case Command::kProcessInfo:
    case Command::kMariaDbStmtBulkExecute: return ServerState::kFirstPacket;
    case Command::kStmtPrepare: return ServerState::kPrepareOk;
    case Command::kFieldList: return ServerState::kFieldList;
    case Command::kStatistics: return ServerState::kStatistics;
    case Command::kChangeUser: return ServerState::kAuth;
    case Command::kStmtFetch: return ServerState::kRows;
    default: return ServerState::kSingle;
  }
}

void ResponseTracker::begin_response() {
  const PendingCommand& cmd = fifo_[fifo_head_];
  response_ = ResponseInfo{};
  response_.command = cmd.command;
  response_.statement_id = cmd.statement_id;
  exchange_seq_ = cmd.next_seq;
  state_ = first_state(cmd.command);
}

TrackerEvent ResponseTracker::end_response() {
  response_.status_flags = status_flags_;
  last_response_ = response_;
  fifo_head_ = (fifo_head_ + 1) % fifo_.size();
  --fifo_count_;
  if (client_mode_ == ClientMode::kAuth && last_response_.command == Command::kChangeUser) {
    client_mode_ = ClientMode::kCommand;
    client_next_seq_ = 0;
  }
  state_ = ServerState::kIdle;
  if (fifo_count_ > 0) begin_response();
  return TrackerEvent::kResponseEnd;
}

// ---- from server -------------------------------------------------------------------------

TrackerStep ResponseTracker::feed_from_server(std::span<const uint8_t> bytes) {
  if (pending_ != TrackerEvent::kNone) return {0, std::exchange(pending_, TrackerEvent::kNone)};
  if (failed()) return {bytes.size(), TrackerEvent::kNone};
  session_state_ = {};
  return walk(
      server_, bytes, [this] { return on_server_header(); },
      [this](std::span<const uint8_t> chunk) { return on_server_bytes(chunk); },
      [this] { return on_server_packet_end(); });
}

TrackerEvent ResponseTracker::on_server_header() {
  if (state_ == ServerState::kIdle || state_ == ServerState::kUpload) {
    return raise(TrackerFault::kUnsolicited);
  }
  if (server_.continues) {
    if (server_.seq != exchange_seq_) return raise(TrackerFault::kSequence);
    exchange_seq_ = static_cast<uint8_t>(server_.seq + 1);
    return TrackerEvent::kNone;
  }
  // A packet starts: classified now if empty, else at its first byte.
  return server_.frame_len == 0 ? classify_server_packet(std::nullopt) : TrackerEvent::kNone;
}

TrackerEvent ResponseTracker::on_server_bytes(std::span<const uint8_t> chunk) {
  if (server_.packet_size == 0 && !server_.continues) {
    if (classify_server_packet(chunk[0]) == TrackerEvent::kFault) return TrackerEvent::kFault;
  }
  if (buffering_) packet_.insert(packet_.end(), chunk.begin(), chunk.end());
  return TrackerEvent::kNone;
}

// Checks the seq id of a packet's first frame and decides whether to copy the packet: only
// those whose fields matter, which are single-frame and bounded.
TrackerEvent ResponseTracker::classify_server_packet(std::optional<uint8_t> first_byte) {
  const uint8_t b = first_byte.value_or(0);
  const bool err = first_byte && b == kErrHeader;
  if (!err && server_.seq != exchange_seq_) return raise(TrackerFault::kSequence);  // §1
  exchange_seq_ = static_cast<uint8_t>(server_.seq + 1);
  first_byte_ = b;
  const bool short_frame = server_.frame_len < kMaxFramePayload;
  switch (state_) {
    case ServerState::kDefs: buffering_ = false; break;
    case ServerState::kRows:
    case ServerState::kFieldList: buffering_ = err || (first_byte && b == kEofHeader && short_frame); break;
    case ServerState::kStatistics: buffering_ = err; break;
    case ServerState::kAuth: buffering_ = err || (first_byte && b == kOkHeader); break;
    default:  // first packets, EOFs, PREPARE_OK, single replies
      buffering_ = true;
      break;
  }
  if (!buffering_) return TrackerEvent::kNone;
  if (server_.frame_len > limits_.max_buffered_payload) return raise(TrackerFault::kTooLarge);
  packet_.clear();
  packet_.reserve(server_.frame_len);
  return TrackerEvent::kNone;
}

TrackerEvent ResponseTracker::on_server_packet_end() {
  session_event_ = false;
  const Next next = handle_server_packet();
  TrackerEvent e = TrackerEvent::kNone;
  switch (next) {
    case Next::kFault: return TrackerEvent::kFault;
    case Next::kContinue: break;
    case Next::kEndResponse: e = end_response(); break;
    case Next::kLocalInfile: e = TrackerEvent::kLocalInfile; break;
  }
  if (!session_event_) return e;
  pending_ = e;
  return TrackerEvent::kSessionState;
}

ResponseTracker::Next ResponseTracker::handle_server_packet() {
  const bool empty = server_.packet_size == 0;
  const bool err = !empty && first_byte_ == kErrHeader;
  bool more_results = false;
  switch (state_) {
    case ServerState::kFirstPacket: return empty ? fail(TrackerFault::kMalformed) : first_packet();
    case ServerState::kDefs: return --defs_left_ > 0 ? Next::kContinue : definitions_done();
    case ServerState::kDefsEof: {
      if (err) return err_packet();
      if (empty || first_byte_ != kEofHeader) return fail(TrackerFault::kMalformed);
      if (const Next n = terminator(&more_results); n != Next::kContinue) return n;
      // §4.4: a cursor was opened; the rows come with COM_STMT_FETCH.
      if (section_ == Section::kResultColumns && response_.command == Command::kStmtExecute &&
          (status_flags_ & status::kCursorExists) != 0) {
        return Next::kEndResponse;
      }
      return section_done();
    }
    case ServerState::kRows:
    case ServerState::kFieldList: {
      if (!buffering_) return Next::kContinue;  // a row or a column definition
      if (err) return err_packet();
      if (const Next n = terminator(&more_results); n != Next::kContinue) return n;
      if (state_ == ServerState::kRows && more_results) {
        state_ = ServerState::kFirstPacket;
        return Next::kContinue;
      }
      return Next::kEndResponse;
    }
    case ServerState::kPrepareOk:
      if (err) return err_packet();
      return empty || first_byte_ != kOkHeader ? fail(TrackerFault::kMalformed) : prepare_ok();
    case ServerState::kSingle: {
      if (err) return err_packet();
      if (empty) return fail(TrackerFault::kMalformed);
      Next n = Next::kContinue;
      if (first_byte_ == kOkHeader) {
        n = apply_ok(packet_, &more_results);
      } else if (first_byte_ == kEofHeader) {
        n = terminator(&more_results);
      } else {
        return fail(TrackerFault::kMalformed);
      }
      return n == Next::kContinue ? Next::kEndResponse : n;
    }
    case ServerState::kStatistics: return err ? err_packet() : Next::kEndResponse;
    case ServerState::kAuth: {
      // AuthSwitchRequest, AuthMoreData and other plugin packets continue the exchange.
      if (err) return err_packet();
      if (!buffering_) return Next::kContinue;
      const Next n = apply_ok(packet_, &more_results);
      return n == Next::kContinue ? Next::kEndResponse : n;
    }
    case ServerState::kIdle:
    case ServerState::kUpload: break;  // on_server_header() already refused the packet
  }
  return fail(TrackerFault::kMalformed);
}

ResponseTracker::Next ResponseTracker::first_packet() {
  bool more_results = false;
  switch (first_byte_) {
    case kOkHeader: {
      const Next n = apply_ok(packet_, &more_results);
      if (n != Next::kContinue) return n;
      return more_results ? Next::kContinue : Next::kEndResponse;
    }
    case kErrHeader: return err_packet();
    case kLocalInfileHeader:
      if (response_.command != Command::kQuery) return fail(TrackerFault::kMalformed);
      state_ = ServerState::kUpload;
      client_mode_ = ClientMode::kUpload;
      return Next::kLocalInfile;
    default: {
      // Column count: a lenenc filling the packet (no metadata_follows byte, §4.4).
      ByteReader r(packet_);
      const auto count = r.lenenc();
      if (!count || *count == 0 || !r.empty()) return fail(TrackerFault::kMalformed);
      ++response_.resultsets;
      section_ = Section::kResultColumns;
      defs_left_ = *count;
      state_ = ServerState::kDefs;
      return Next::kContinue;
    }
  }
}

// The definitions of section_ have all been skipped.
ResponseTracker::Next ResponseTracker::definitions_done() {
  if ((caps_ & cap::kDeprecateEof) == 0) {
    state_ = ServerState::kDefsEof;
    return Next::kContinue;
  }
  return section_done();
}

// Definitions and their EOF (if any) are done.
ResponseTracker::Next ResponseTracker::section_done() {
  switch (section_) {
    case Section::kResultColumns: state_ = ServerState::kRows; return Next::kContinue;
    case Section::kParams: return enter_definitions(Section::kPrepareColumns, prepare_columns_);
    case Section::kPrepareColumns: break;
  }
  return Next::kEndResponse;
}

// §4.4: a section with no definitions has no EOF either.
ResponseTracker::Next ResponseTracker::enter_definitions(Section s, uint16_t count) {
  section_ = s;
  if (count == 0) return section_done();
  defs_left_ = count;
  state_ = ServerState::kDefs;
  return Next::kContinue;
}

ResponseTracker::Next ResponseTracker::prepare_ok() {
  if (packet_.size() != kPrepareOkSize) return fail(TrackerFault::kMalformed);
  ByteReader r(std::span<const uint8_t>(packet_).subspan(1));
  const auto id = r.u32();
  const auto columns = r.u16();
  const auto params = r.u16();
  const auto filler = r.u8();
  const auto warnings = r.u16();
  if (!id || !columns || !params || !filler || !warnings) return fail(TrackerFault::kMalformed);
  response_.statement_id = *id;
  response_.num_columns = *columns;
  response_.num_params = *params;
  response_.warnings = *warnings;
  prepare_columns_ = *columns;
  return enter_definitions(Section::kParams, *params);
}

ResponseTracker::Next ResponseTracker::err_packet() {
  if (packet_.size() < kMinErrSize) return fail(TrackerFault::kMalformed);
  const auto code = static_cast<uint16_t>(packet_[1] | (packet_[2] << 8));
  if (code == kErMariaDbProgressReport) return Next::kContinue;  // not an end (§4.1)
  response_.error = true;
  response_.error_code = code;
  return Next::kEndResponse;
}

// An FE packet that ends a block: EOF (5 bytes; FE alone before 4.1) or FE-OK (§4.1).
ResponseTracker::Next ResponseTracker::terminator(bool* more_results) {
  if (packet_.size() > kEofSize) return apply_ok(packet_, more_results);
  if (packet_.size() == 1 && (caps_ & cap::kProtocol41) == 0) return Next::kContinue;
  const auto eof = decode_eof(packet_);
  if (!eof) return fail(TrackerFault::kMalformed);
  status_flags_ = eof->status_flags;
  response_.warnings = eof->warnings;
  // MariaDB 10.11 without DEPRECATE_EOF sets SESSION_STATE_CHANGED on an EOF, which has no
  // room for the details (captures/rt_session_state_track_eof.hex).
  if ((status_flags_ & status::kSessionStateChanged) != 0) changes_.unreported = true;
  *more_results = (status_flags_ & status::kMoreResultsExists) != 0;
  return Next::kContinue;
}

ResponseTracker::Next ResponseTracker::apply_ok(std::span<const uint8_t> payload, bool* more_results) {
  const auto ok = decode_ok(payload, caps_);
  if (!ok) return fail(TrackerFault::kMalformed);
  status_flags_ = ok->status_flags;
  response_.warnings = ok->warnings;
  response_.affected_rows = ok->affected_rows;
  response_.last_insert_id = ok->last_insert_id;
  *more_results = (status_flags_ & status::kMoreResultsExists) != 0;
  if ((status_flags_ & status::kSessionStateChanged) == 0) return Next::kContinue;
  if ((caps_ & cap::kSessionTrack) == 0 || ok->session_state_info.empty()) {
    changes_.unreported = true;  // flagged, but without details to apply
    return Next::kContinue;
  }
  return apply_session_state(as_bytes(ok->session_state_info));
}

// §4.5: records what the entries say; unknown types are skipped by length.
ResponseTracker::Next ResponseTracker::apply_session_state(std::span<const uint8_t> info) {
  SessionStateReader reader(info);
  for (;;) {
    const auto entry = reader.next();
    if (!entry) return fail(TrackerFault::kMalformed);
    if (!*entry) break;
    const std::span<const uint8_t> data = (*entry)->data;
    switch (static_cast<SessionStateType>((*entry)->type)) {
      case SessionStateType::kSystemVariables:
        if (!for_each_system_variable(data, [](SystemVariable) {})) {
          return fail(TrackerFault::kMalformed);
        }
        changes_.system_variables = true;
        break;
      case SessionStateType::kSchema: {
        const auto schema = decode_session_state_string(data);
        if (!schema) return fail(TrackerFault::kMalformed);
        schema_.assign(*schema);
        changes_.schema = true;
        break;
      }
      case SessionStateType::kStateChange:
        changes_.state = true;  // data "1" (MariaDB and MySQL send it without a length)
        break;
      case SessionStateType::kGtids: changes_.gtids = true; break;
      case SessionStateType::kTransactionCharacteristics: changes_.transaction_characteristics = true; break;
      case SessionStateType::kTransactionState: {
        const auto state = decode_session_state_string(data);
        if (!state || state->size() > kMaxTransactionStateSize) {
          return fail(TrackerFault::kMalformed);
        }
        std::copy(state->begin(), state->end(), transaction_state_.begin());
        transaction_state_len_ = state->size();
        changes_.transaction_state = true;
        break;
      }
      default: break;
    }
  }
  session_state_ = info;
  session_event_ = true;
  return Next::kContinue;
}

}  // namespace camproxy::protocol
