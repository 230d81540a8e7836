// ResponseTracker reading the server's packets that matter (response_tracker.h): the first
// packet of a response, PREPARE_OK, ERR, EOF and OK terminators, and the session-state
// information of an OK (§4.1, §4.4, §4.5). The framing and the client direction are in
// response_tracker.cc.
#include "protocol/ok_err_eof.h"
#include "protocol/response_tracker.h"
#include "protocol/try.h"

namespace camproxy::protocol {
namespace {

// PREPARE_OK (§4.4): 00, int<4> stmt_id, int<2> num_columns, int<2> num_params, 00,
// int<2> warnings; the int<1> metadata_follows only comes with OPTIONAL_RESULTSET_METADATA.
constexpr size_t kPrepareOkSize = 12;
constexpr size_t kEofSize = 5;     // §4.1, with PROTOCOL_41; a pre-4.1 EOF is FE alone
constexpr size_t kMinErrSize = 3;  // FF, int<2> code
constexpr uint8_t kMaxTransactionStateSize = 8;

}  // namespace

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

ResponseTracker::Next ResponseTracker::handle_server_packet() {
  const bool empty = server_.packet_size == 0;
  const bool err = !empty && first_byte_ == kErrHeader;
  bool more_results = false;
  switch (state_) {
    case ServerState::first_packet: return empty ? fail(TrackerFault::malformed) : first_packet();
    case ServerState::defs: return --defs_left_ > 0 ? Next::more : definitions_done();
    case ServerState::defs_eof: {
      if (err) return err_packet();
      if (empty || first_byte_ != kEofHeader) return fail(TrackerFault::malformed);
      if (const Next n = terminator(&more_results); n != Next::more) return n;
      // §4.4: a cursor was opened; the rows come with COM_STMT_FETCH.
      if (section_ == Section::result_columns && response_.command == Command::stmt_execute &&
          (status_flags_ & status::kCursorExists) != 0) {
        return Next::end_response;
      }
      return section_done();
    }
    case ServerState::rows:
    case ServerState::field_list: {
      if (!buffering_) return Next::more;  // a row or a column definition
      if (err) return err_packet();
      if (const Next n = terminator(&more_results); n != Next::more) return n;
      if (state_ == ServerState::rows && more_results) {
        state_ = ServerState::first_packet;
        return Next::more;
      }
      return Next::end_response;
    }
    case ServerState::prepare_ok:
      if (err) return err_packet();
      return empty || first_byte_ != kOkHeader ? fail(TrackerFault::malformed) : prepare_ok();
    case ServerState::single: {
      if (err) return err_packet();
      if (empty) return fail(TrackerFault::malformed);
      Next n = Next::more;
      if (first_byte_ == kOkHeader) {
        n = apply_ok(packet_, &more_results);
      } else if (first_byte_ == kEofHeader) {
        n = terminator(&more_results);
      } else {
        return fail(TrackerFault::malformed);
      }
      return n == Next::more ? Next::end_response : n;
    }
    case ServerState::statistics: return err ? err_packet() : Next::end_response;
    case ServerState::auth: {
      // AuthSwitchRequest, AuthMoreData and other plugin packets continue the exchange.
      if (err) return err_packet();
      if (!buffering_) return Next::more;
      const Next n = apply_ok(packet_, &more_results);
      return n == Next::more ? Next::end_response : n;
    }
    case ServerState::idle:
    case ServerState::upload: break;  // on_server_header() already refused the packet
  }
  return fail(TrackerFault::malformed);
}

ResponseTracker::Next ResponseTracker::first_packet() {
  bool more_results = false;
  switch (first_byte_) {
    case kOkHeader: {
      const Next n = apply_ok(packet_, &more_results);
      if (n != Next::more) return n;
      return more_results ? Next::more : Next::end_response;
    }
    case kErrHeader: return err_packet();
    case kLocalInfileHeader:
      // The docs name only COM_QUERY, but MariaDB 10.11 also runs a prepared LOAD DATA LOCAL
      // and asks for the file in COM_STMT_EXECUTE's response (capture
      // rt_load_data_local_refused_*.hex); MySQL refuses to prepare it (ER_UNSUPPORTED_PS).
      if (response_.command != Command::query && response_.command != Command::stmt_execute) {
        return fail(TrackerFault::malformed);
      }
      state_ = ServerState::upload;
      client_mode_ = ClientMode::upload;
      return Next::local_infile;
    default: {
      // Column count: a lenenc filling the packet, then with MariaDB's CACHE_METADATA int<1>
      // metadata_follows (§4.4, §3.1); OPTIONAL_RESULTSET_METADATA is never negotiated.
      ByteReader r(packet_);
      const auto count = r.lenenc();
      if (!count || *count == 0) return fail(TrackerFault::malformed);
      bool metadata_follows = true;
      if ((mariadb_caps_ & mariadb_cap::kCacheMetadata) != 0) {
        const auto follows = r.u8();
        if (!follows || *follows > 1) return fail(TrackerFault::malformed);
        metadata_follows = *follows == 1;
      }
      if (!r.empty()) return fail(TrackerFault::malformed);
      ++response_.resultsets;
      section_ = Section::result_columns;
      if (!metadata_follows) return definitions_done();  // the client has them cached
      defs_left_ = *count;
      state_ = ServerState::defs;
      return Next::more;
    }
  }
}

// The definitions of section_ have all been skipped.
ResponseTracker::Next ResponseTracker::definitions_done() {
  if ((caps_ & cap::kDeprecateEof) == 0) {
    state_ = ServerState::defs_eof;
    return Next::more;
  }
  return section_done();
}

// Definitions and their EOF (if any) are done.
ResponseTracker::Next ResponseTracker::section_done() {
  switch (section_) {
    case Section::result_columns: state_ = ServerState::rows; return Next::more;
    case Section::params: return enter_definitions(Section::prepare_columns, prepare_columns_);
    case Section::prepare_columns: break;
  }
  return Next::end_response;
}

// §4.4: a section with no definitions has no EOF either.
ResponseTracker::Next ResponseTracker::enter_definitions(Section s, uint16_t count) {
  section_ = s;
  if (count == 0) return section_done();
  defs_left_ = count;
  state_ = ServerState::defs;
  return Next::more;
}

ResponseTracker::Next ResponseTracker::prepare_ok() {
  if (packet_.size() != kPrepareOkSize) return fail(TrackerFault::malformed);
  ByteReader r(std::span<const uint8_t>(packet_).subspan(1));
  const auto id = r.u32();
  const auto columns = r.u16();
  const auto params = r.u16();
  const auto filler = r.u8();
  const auto warnings = r.u16();
  if (!id || !columns || !params || !filler || !warnings) return fail(TrackerFault::malformed);
  response_.statement_id = *id;
  response_.num_columns = *columns;
  response_.num_params = *params;
  response_.warnings = *warnings;
  prepare_columns_ = *columns;
  return enter_definitions(Section::params, *params);
}

ResponseTracker::Next ResponseTracker::err_packet() {
  if (packet_.size() < kMinErrSize) return fail(TrackerFault::malformed);
  const auto code = static_cast<uint16_t>(packet_[1] | (packet_[2] << 8));
  // §4.1: with PROGRESS, a progress report, not an end.
  if (code == kErMariaDbProgressReport && (mariadb_caps_ & mariadb_cap::kProgress) != 0) return Next::more;
  response_.error = true;
  response_.error_code = code;
  return Next::end_response;
}

// An FE packet that ends a block: EOF (5 bytes; FE alone before 4.1) or FE-OK (§4.1).
ResponseTracker::Next ResponseTracker::terminator(bool* more_results) {
  if (packet_.size() > kEofSize) return apply_ok(packet_, more_results);
  if (packet_.size() == 1 && (caps_ & cap::kProtocol41) == 0) return Next::more;
  const auto eof = decode_eof(packet_);
  if (!eof) return fail(TrackerFault::malformed);
  status_flags_ = eof->status_flags;
  response_.warnings = eof->warnings;
  // MariaDB 10.11 without DEPRECATE_EOF sets SESSION_STATE_CHANGED on an EOF, which has no
  // room for the details (captures/rt_session_state_track_eof.hex).
  if ((status_flags_ & status::kSessionStateChanged) != 0) changes_.unreported = true;
  *more_results = (status_flags_ & status::kMoreResultsExists) != 0;
  return Next::more;
}

ResponseTracker::Next ResponseTracker::apply_ok(std::span<const uint8_t> payload, bool* more_results) {
  const auto ok = decode_ok(payload, caps_);
  if (!ok) return fail(TrackerFault::malformed);
  status_flags_ = ok->status_flags;
  response_.warnings = ok->warnings;
  response_.affected_rows = ok->affected_rows;
  response_.last_insert_id = ok->last_insert_id;
  *more_results = (status_flags_ & status::kMoreResultsExists) != 0;
  if ((status_flags_ & status::kSessionStateChanged) == 0) return Next::more;
  if ((caps_ & cap::kSessionTrack) == 0 || ok->session_state_info.empty()) {
    changes_.unreported = true;  // flagged, but without details to apply
    return Next::more;
  }
  return apply_session_state(as_bytes(ok->session_state_info));
}

// §4.5: records what the entries say; unknown types are skipped by length.
ResponseTracker::Next ResponseTracker::apply_session_state(std::span<const uint8_t> info) {
  SessionStateReader reader(info);
  for (;;) {
    const auto entry = reader.next();
    if (!entry) return fail(TrackerFault::malformed);
    if (!*entry) break;
    const std::span<const uint8_t> data = (*entry)->data;
    switch (static_cast<SessionStateType>((*entry)->type)) {
      case SessionStateType::system_variables:
        if (!for_each_system_variable(data, [](SystemVariable) {})) {
          return fail(TrackerFault::malformed);
        }
        changes_.system_variables = true;
        break;
      case SessionStateType::schema: {
        const auto schema = decode_session_state_string(data);
        if (!schema) return fail(TrackerFault::malformed);
        schema_.assign(*schema);
        changes_.schema = true;
        break;
      }
      case SessionStateType::state_change:
        changes_.state = true;  // data "1" (MariaDB and MySQL send it without a length)
        break;
      case SessionStateType::gtids: changes_.gtids = true; break;
      case SessionStateType::transaction_characteristics: changes_.transaction_characteristics = true; break;
      case SessionStateType::transaction_state: {
        const auto state = decode_session_state_string(data);
        if (!state || state->size() > kMaxTransactionStateSize) {
          return fail(TrackerFault::malformed);
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
  return Next::more;
}

}  // namespace camproxy::protocol
