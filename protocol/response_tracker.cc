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
  return c == Command::stmt_execute || c == Command::stmt_fetch || c == Command::stmt_close ||
         c == Command::stmt_reset || c == Command::stmt_send_long_data || c == Command::mariadb_stmt_bulk_execute;
}

uint32_t load_u32(const uint8_t* p) noexcept {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

}  // namespace

std::string_view to_string(TrackerEvent e) noexcept {
  switch (e) {
    case TrackerEvent::none: return "none";
    case TrackerEvent::command: return "command";
    case TrackerEvent::upload_done: return "upload_done";
    case TrackerEvent::local_infile: return "local_infile";
    case TrackerEvent::session_state: return "session_state";
    case TrackerEvent::response_end: return "response_end";
    case TrackerEvent::fault: return "fault";
  }
  return "?";
}

std::string_view to_string(TrackerFault f) noexcept {
  switch (f) {
    case TrackerFault::none: return "none";
    case TrackerFault::unsolicited: return "unsolicited server data";
    case TrackerFault::sequence: return "unexpected sequence id";
    case TrackerFault::malformed: return "malformed or unexpected packet";
    case TrackerFault::too_large: return "packet to parse too large";
    case TrackerFault::too_many_commands: return "too many pipelined commands";
  }
  return "?";
}

ResponseTracker::ResponseTracker(uint32_t caps, uint16_t status_flags, TrackerLimits limits, uint32_t mariadb_caps)
    : caps_(caps),
      mariadb_caps_(mariadb_caps),
      limits_{std::min<size_t>(limits.max_buffered_payload, kMaxFramePayload - 1), limits.max_pipelined},
      status_flags_(status_flags) {}

bool ResponseTracker::idle() const noexcept {
  return fifo_count_ == 0 && state_ == ServerState::idle && client_mode_ == ClientMode::command &&
         client_.at_boundary() && server_.at_boundary() && !failed() && pending_ == TrackerEvent::none;
}

std::string_view ResponseTracker::local_infile_name() const noexcept {
  if (state_ != ServerState::upload || packet_.empty()) return {};
  return as_chars(std::span(packet_).subspan(1));
}

TrackerEvent ResponseTracker::raise(TrackerFault f) noexcept {
  fault_ = f;
  pending_ = TrackerEvent::none;
  return TrackerEvent::fault;
}

ResponseTracker::Next ResponseTracker::fail(TrackerFault f) noexcept {
  raise(f);
  return Next::fault;
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
      if (on_header() == TrackerEvent::fault) return {pos, TrackerEvent::fault};
    }
    if (c.left > 0) {
      if (pos == in.size()) break;
      const size_t take = std::min<size_t>(c.left, in.size() - pos);
      if (on_bytes(in.subspan(pos, take)) == TrackerEvent::fault) {
        return {pos, TrackerEvent::fault};
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
      if (e != TrackerEvent::none) return {pos, e};
    }
  }
  return {pos, TrackerEvent::none};
}

// ---- to server ---------------------------------------------------------------------------

TrackerStep ResponseTracker::feed_to_server(std::span<const uint8_t> bytes) {
  if (failed()) return {bytes.size(), TrackerEvent::none};
  return walk(
      client_, bytes, [this] { return on_client_header(); },
      [this](std::span<const uint8_t> chunk) {
        on_client_bytes(chunk);
        return TrackerEvent::none;
      },
      [this] { return on_client_packet_end(); });
}

TrackerEvent ResponseTracker::on_client_header() {
  // §1: a command starts at seq 0 and counts up over its frames; file and auth packets continue
  // the exchange's counter, shared with the server.
  if (client_mode_ == ClientMode::auth && state_ != ServerState::auth) {
    return raise(TrackerFault::sequence);  // auth data before the server asked for it
  }
  uint8_t& expected = client_mode_ == ClientMode::command ? client_next_seq_ : exchange_seq_;
  if (client_.seq != expected) return raise(TrackerFault::sequence);
  expected = static_cast<uint8_t>(client_.seq + 1);
  return TrackerEvent::none;
}

void ResponseTracker::on_client_bytes(std::span<const uint8_t> chunk) {
  if (client_mode_ != ClientMode::command || client_.packet_size >= kCommandPrefixSize) return;
  const size_t at = static_cast<size_t>(client_.packet_size);
  const size_t n = std::min(kCommandPrefixSize - at, chunk.size());
  std::copy_n(chunk.begin(), n, command_prefix_.begin() + static_cast<ptrdiff_t>(at));
}

TrackerEvent ResponseTracker::on_client_packet_end() {
  switch (client_mode_) {
    case ClientMode::command: return register_command();
    case ClientMode::auth: return TrackerEvent::none;
    case ClientMode::upload:
      if (client_.packet_size != 0) return TrackerEvent::none;
      // §4.4: the empty packet ends the file; the server's OK/ERR is a new first packet.
      client_mode_ = ClientMode::command;
      client_next_seq_ = 0;
      state_ = ServerState::first_packet;
      return TrackerEvent::upload_done;
  }
  return TrackerEvent::none;
}

TrackerEvent ResponseTracker::register_command() {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(client_.packet_size, kCommandPrefixSize));
  CommandInfo info;
  // mysqld runs an empty command packet as COM_SLEEP (it answers ERR 1047).
  info.command = n == 0 ? Command::sleep : static_cast<Command>(command_prefix_[0]);
  if (carries_statement_id(info.command) && n >= 5) {
    info.statement_id = load_u32(command_prefix_.data() + 1);
  }
  if (info.command == Command::stmt_execute && n >= 6) info.cursor_flags = command_prefix_[5];
  info.expects_response = first_state(info.command) != ServerState::idle;
  last_command_ = info;
  client_next_seq_ = 0;
  if (!info.expects_response) return TrackerEvent::command;
  if (fifo_count_ >= limits_.max_pipelined) return raise(TrackerFault::too_many_commands);
  if (fifo_count_ == fifo_.size()) {
    std::vector<PendingCommand> bigger(std::max(kMinFifoSize, fifo_.size() * 2));
    for (size_t i = 0; i < fifo_count_; ++i) bigger[i] = fifo_[(fifo_head_ + i) % fifo_.size()];
    fifo_ = std::move(bigger);
    fifo_head_ = 0;
  }
  fifo_[(fifo_head_ + fifo_count_) % fifo_.size()] = {info.command, static_cast<uint8_t>(client_.seq + 1),
                                                      info.statement_id};
  ++fifo_count_;
  if (info.command == Command::change_user) client_mode_ = ClientMode::auth;
  if (state_ == ServerState::idle) begin_response();
  return TrackerEvent::command;
}

// How the server answers a command (§4.3): the state its response starts in, kIdle for none.
ResponseTracker::ServerState ResponseTracker::first_state(Command c) noexcept {
  switch (c) {
    case Command::quit:
    case Command::stmt_close:
    case Command::stmt_send_long_data: return ServerState::idle;
    case Command::query:
    case Command::stmt_execute:
    case Command::process_info:
    case Command::mariadb_stmt_bulk_execute: return ServerState::first_packet;
    case Command::stmt_prepare: return ServerState::prepare_ok;
    case Command::field_list: return ServerState::field_list;
    case Command::statistics: return ServerState::statistics;
    case Command::change_user: return ServerState::auth;
    case Command::stmt_fetch: return ServerState::rows;
    default: return ServerState::single;
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
  if (client_mode_ == ClientMode::auth && last_response_.command == Command::change_user) {
    client_mode_ = ClientMode::command;
    client_next_seq_ = 0;
  }
  state_ = ServerState::idle;
  if (fifo_count_ > 0) begin_response();
  return TrackerEvent::response_end;
}

// ---- from server -------------------------------------------------------------------------

TrackerStep ResponseTracker::feed_from_server(std::span<const uint8_t> bytes) {
  if (pending_ != TrackerEvent::none) return {0, std::exchange(pending_, TrackerEvent::none)};
  if (failed()) return {bytes.size(), TrackerEvent::none};
  session_state_ = {};
  return walk(
      server_, bytes, [this] { return on_server_header(); },
      [this](std::span<const uint8_t> chunk) { return on_server_bytes(chunk); },
      [this] { return on_server_packet_end(); });
}

TrackerEvent ResponseTracker::on_server_header() {
  if (state_ == ServerState::idle || state_ == ServerState::upload) {
    return raise(TrackerFault::unsolicited);
  }
  if (server_.continues) {
    if (server_.seq != exchange_seq_) return raise(TrackerFault::sequence);
    exchange_seq_ = static_cast<uint8_t>(server_.seq + 1);
    return TrackerEvent::none;
  }
  // A packet starts: classified now if empty, else at its first byte.
  return server_.frame_len == 0 ? classify_server_packet(std::nullopt) : TrackerEvent::none;
}

TrackerEvent ResponseTracker::on_server_bytes(std::span<const uint8_t> chunk) {
  if (server_.packet_size == 0 && !server_.continues) {
    if (classify_server_packet(chunk[0]) == TrackerEvent::fault) return TrackerEvent::fault;
  }
  if (buffering_) packet_.insert(packet_.end(), chunk.begin(), chunk.end());
  return TrackerEvent::none;
}

// Checks the seq id of a packet's first frame and decides whether to copy the packet: only
// those whose fields matter, which are single-frame and bounded.
TrackerEvent ResponseTracker::classify_server_packet(std::optional<uint8_t> first_byte) {
  const uint8_t b = first_byte.value_or(0);
  const bool err = first_byte && b == kErrHeader;
  if (!err && server_.seq != exchange_seq_) return raise(TrackerFault::sequence);  // §1
  exchange_seq_ = static_cast<uint8_t>(server_.seq + 1);
  first_byte_ = b;
  const bool short_frame = server_.frame_len < kMaxFramePayload;
  switch (state_) {
    case ServerState::defs: buffering_ = false; break;
    case ServerState::rows:
    case ServerState::field_list: buffering_ = err || (first_byte && b == kEofHeader && short_frame); break;
    case ServerState::statistics: buffering_ = err; break;
    case ServerState::auth: buffering_ = err || (first_byte && b == kOkHeader); break;
    default:  // first packets, EOFs, PREPARE_OK, single replies
      buffering_ = true;
      break;
  }
  if (!buffering_) return TrackerEvent::none;
  if (server_.frame_len > limits_.max_buffered_payload) return raise(TrackerFault::too_large);
  packet_.clear();
  packet_.reserve(server_.frame_len);
  return TrackerEvent::none;
}

TrackerEvent ResponseTracker::on_server_packet_end() {
  session_event_ = false;
  const Next next = handle_server_packet();
  TrackerEvent e = TrackerEvent::none;
  switch (next) {
    case Next::fault: return TrackerEvent::fault;
    case Next::more: break;
    case Next::end_response: e = end_response(); break;
    case Next::local_infile: e = TrackerEvent::local_infile; break;
  }
  if (!session_event_) return e;
  pending_ = e;
  return TrackerEvent::session_state;
}

}  // namespace camproxy::protocol
