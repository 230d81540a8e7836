// ResponseTracker (response_tracker.h): framing both directions, the client's commands and the
// command FIFO, and where each response starts and ends; the server packets it reads are
// interpreted in response_packets.cc.
#include "protocol/response_tracker.h"

#include <algorithm>

#include "protocol/try.h"

namespace camproxy::protocol {
namespace {

constexpr size_t kMinFifoSize = 8;
constexpr size_t kCommandPrefixSize = 6;  // command byte, int<4> stmt id, int<1> flags

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

}  // namespace camproxy::protocol
