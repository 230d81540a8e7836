// ClientSession under --pool-mode transaction: the client's server-side prepared statements go
// with it from connection to connection instead of pinning it (statement_map.h; docs/operations.md
// "Transaction pooling").
//
// Toward the client, camproxy's own statement ids: PREPARE_OK's id is rewritten on its way, and
// every command naming a statement (EXECUTE, SEND_LONG_DATA, RESET, FETCH, CLOSE, MariaDB's
// BULK_EXECUTE) is rewritten to the server id it has on the connection the session holds now
// (spec/mysql-protocol.md §4.3). A statement not prepared there is prepared from its kept text
// first: the command and everything the client sent after it wait (framing stopped, the client not
// read) for that prepare's reply, which camproxy reads itself; then they are framed again. An
// execute that sends no parameter types gets the last ones the client sent, for a statement that
// has had none on this connection. COM_STMT_CLOSE closes the statement where the session is; a
// copy left on another connection is closed by the next session there (conn_statements.h).
//
// Pinned instead (PinReason::prepared_statement): a prepare too long to keep, an execute that
// opens a cursor (the cursor lives in that connection) and BULK_EXECUTE (its types are not
// re-sent). Long data stays on its connection until the execute (StatementMap::holds_connection).
// MariaDB's statement id 0xFFFFFFFF (the statement last prepared on the connection, used by
// Connector/C to pipeline a prepare and its execute) names the client's last prepared statement:
// passed as it is while that prepare is in flight on this connection, rewritten after.
#include <algorithm>

#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/packet.h"
#include "proxy/ops/metrics.h"
#include "proxy/session/client_session.h"
#include "proxy/session/session_env.h"

namespace camproxy::proxy {
namespace {

using protocol::Command;
using Kind = StatementReply::Kind;

constexpr uint32_t kLastPrepared = 0xFFFFFFFF;  // MariaDB's COM_STMT_EXECUTE id for "the last prepared"
// Of a re-prepare's reply, what is kept in case it is an ERR (its message is at most 512 bytes).
constexpr size_t kKeptReplyBytes = 1024;

uint32_t read_u32(std::span<const uint8_t> b) {
  return static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 | static_cast<uint32_t>(b[2]) << 16 |
         static_cast<uint32_t>(b[3]) << 24;
}

void write_u32(uint8_t* at, uint32_t v) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<uint8_t>(v >> (8 * i));
}

bool names_statement(Command c) {
  return c == Command::stmt_execute || c == Command::stmt_send_long_data || c == Command::stmt_close ||
         c == Command::stmt_reset || c == Command::stmt_fetch || c == Command::mariadb_stmt_bulk_execute;
}

}  // namespace

// A command piece of a session with statements (on_command_start): true when handled here.
bool ClientSession::on_statement_command(const CommandFramer::Piece& piece) {
  const auto payload = piece.bytes.subspan(protocol::kHeaderSize);
  const auto command = static_cast<Command>(payload[0]);
  if (command == Command::stmt_prepare) return prepare_statement(piece);
  if (!names_statement(command) || payload.size() < 5) return false;  // a short one: the server refuses it
  uint32_t id = read_u32(payload.subspan(1));
  const bool executes = command == Command::stmt_execute || command == Command::mariadb_stmt_bulk_execute;
  if (id == kLastPrepared && executes) {
    if (stmt_.prepares_in_flight > 0) {  // pipelined behind the client's prepare: the server's meaning is its
      track_and_queue_upstream(piece.bytes);
      return true;
    }
    id = stmt_.last_prepared;
  }
  if (command == Command::stmt_close) {
    close_statement(id, piece);
    return true;
  }
  StatementMap::Statement* st = statements_->find(id);
  if (st == nullptr || !st->prepared) {  // not one of the client's: the server's own answer
    framer_.skip_packet();
    if (command != Command::stmt_send_long_data)
      answer_locally(client_error(ClientError::unknown_statement, std::to_string(id)).view());
    return true;
  }
  if (ConnStatements::Entry* slot = upstream_->statements().find(statements_.get(), id)) {
    forward_statement_command(piece, *st, *slot);
    return true;
  }
  if (stmt_.failed_id == id) {  // its re-prepare just failed: the command gets that ERR, as from the server
    stmt_.failed_id = 0;
    framer_.skip_packet();
    if (command != Command::stmt_send_long_data) client_.write(std::exchange(stmt_.failed_err, {}));
    return true;
  }
  reprepare(id, *st, piece);
  return true;
}

bool ClientSession::prepare_statement(const CommandFramer::Piece& piece) {
  const auto payload = piece.bytes.subspan(protocol::kHeaderSize);
  const std::string_view sql =
      piece.whole ? std::string_view(reinterpret_cast<const char*>(payload.data()) + 1, payload.size() - 1)
                  : std::string_view{};
  if (statements_->full(sql.size())) {
    framer_.skip_packet();
    answer_locally(
        client_error(ClientError::too_many_statements, std::to_string(statements_->limits().max_statements)).view());
    return true;
  }
  const uint32_t id = statements_->reserve(std::string(sql), piece.whole);
  next_effects_.stmt = StatementReply{Kind::prepare, id};
  // Its text is not read: it may be a SET ROLE.
  role_may_be_set_ = true;
  if (!piece.whole) next_effects_.sql.pins |= pin_bit(PinReason::prepared_statement);  // too long to keep
  ++stmt_.replies;
  ++stmt_.prepares_in_flight;
  track_and_queue_upstream(piece.bytes);
  return true;
}

// COM_STMT_CLOSE has no reply (§4.3): forgotten at once, closed on this connection if it is there.
void ClientSession::close_statement(uint32_t id, const CommandFramer::Piece& piece) {
  ConnStatements& here = upstream_->statements();
  const ConnStatements::Entry* slot = here.find(statements_.get(), id);
  statements_->forget(id);
  if (slot == nullptr) {
    framer_.skip_packet();
    return;
  }
  static thread_local std::vector<uint8_t> frame;
  frame.assign(piece.bytes.begin(), piece.bytes.end());
  write_u32(frame.data() + protocol::kHeaderSize + 1, slot->server_id);
  here.remove(statements_.get(), id);
  track_and_queue_upstream(frame);
}

// The command with the statement's server id on this connection, and an execute with the
// parameter types the server has not had for it here.
void ClientSession::forward_statement_command(const CommandFramer::Piece& piece, StatementMap::Statement& st,
                                              ConnStatements::Entry& slot) {
  static thread_local std::vector<uint8_t> frame;
  frame.assign(piece.bytes.begin(), piece.bytes.end());
  const auto payload = piece.bytes.subspan(protocol::kHeaderSize);
  switch (static_cast<Command>(payload[0])) {
    case Command::stmt_execute: {
      next_effects_.stmt = StatementReply{Kind::execute, slot.client_id};
      if (payload.size() > 5 && payload[5] != 0) next_effects_.sql.pins |= pin_bit(PinReason::prepared_statement);
      const auto types = find_execute_types(payload, st.num_params);
      if (!types) break;
      const size_t n = 2 * static_cast<size_t>(st.num_params);
      if (types->sent) {
        if (payload.size() >= types->flag_at + 1 + n) {
          const auto from = payload.subspan(types->flag_at + 1, n);
          st.types.assign(from.begin(), from.end());
          slot.types_sent = true;
        }
        break;
      }
      const uint32_t len = protocol::read_frame_header(frame.data()).payload_len;
      if (slot.types_sent || st.types.size() != n || len + n >= protocol::kMaxFramePayload) break;
      // §4.3: new_params_bound_flag 1 and the types after it; the frame grows by them.
      const auto at = frame.begin() + static_cast<std::ptrdiff_t>(protocol::kHeaderSize + types->flag_at);
      *at = 1;
      frame.insert(at + 1, st.types.begin(), st.types.end());
      const uint32_t grown = len + static_cast<uint32_t>(n);
      for (int i = 0; i < 3; ++i) frame[static_cast<size_t>(i)] = static_cast<uint8_t>(grown >> (8 * i));
      slot.types_sent = true;
      break;
    }
    case Command::mariadb_stmt_bulk_execute: next_effects_.sql.pins |= pin_bit(PinReason::prepared_statement); break;
    case Command::stmt_send_long_data: statements_->set_long_data(st, true); break;
    case Command::stmt_reset: statements_->set_long_data(st, false); break;
    default: break;
  }
  write_u32(frame.data() + protocol::kHeaderSize + 1, slot.server_id);
  track_and_queue_upstream(frame);
}

// The statement is not prepared on this connection: camproxy prepares it, and the command waits
// (with all the client sent after it) for that reply.
void ClientSession::reprepare(uint32_t id, const StatementMap::Statement& st, const CommandFramer::Piece& piece) {
  if (!st.replayable) {  // cannot happen: such a statement pinned the session to its connection
    framer_.skip_packet();
    answer_locally(client_error(ClientError::unknown_statement, std::to_string(id)).view());
    return;
  }
  stmt_.held.assign(piece.bytes.begin(), piece.bytes.end());
  framer_.rewind_command();
  stmt_.waiting = true;
  client_.stop_reading();
  std::vector<uint8_t> payload;
  payload.reserve(1 + st.sql.size());
  payload.push_back(static_cast<uint8_t>(Command::stmt_prepare));
  payload.insert(payload.end(), st.sql.begin(), st.sql.end());
  std::vector<uint8_t> frame;
  protocol::encode_packet(payload, 0, frame);
  next_effects_ = {};
  next_effects_.stmt = StatementReply{Kind::reprepare, id};
  ++stmt_.replies;
  track_and_queue_upstream(frame);
}

// Before a command on this connection: COM_STMT_CLOSE (no reply) for the statements of sessions
// that closed them elsewhere or went away.
void ClientSession::close_stale_statements() {
  upstream_->statements().take_stale([this](uint32_t server_id) {
    uint8_t frame[protocol::kHeaderSize + 5] = {5, 0, 0, 0, static_cast<uint8_t>(Command::stmt_close)};
    write_u32(frame + protocol::kHeaderSize + 1, server_id);
    track_and_queue_upstream(frame);
  });
}

// Client bytes while a re-prepare runs go behind the held command.
bool ClientSession::hold_for_reprepare(std::span<const uint8_t> data) {
  if (!stmt_.waiting && !stmt_.resume) return false;
  stmt_.held.insert(stmt_.held.end(), data.begin(), data.end());
  client_.stop_reading();
  return true;
}

// Bytes of a prepare's reply on their way to the client (or not, for camproxy's own).
void ClientSession::rewrite_statement_reply(const StatementReply& r, std::span<const uint8_t> bytes,
                                            std::vector<uint8_t>& out) {
  constexpr uint64_t kIdAt = protocol::kHeaderSize + 1;  // PREPARE_OK: 00, int<4> statement_id, ...
  for (uint8_t b : bytes) {
    const uint64_t at = stmt_.reply_offset++;
    if (at == protocol::kHeaderSize) stmt_.reply_first = b;
    if (r.kind == Kind::reprepare) {
      if (stmt_.reply_kept.size() < kKeptReplyBytes) stmt_.reply_kept.push_back(b);
      continue;
    }
    if (at >= kIdAt && at < kIdAt + 4 && stmt_.reply_first == 0x00)
      b = static_cast<uint8_t>(r.client_id >> (8 * (at - kIdAt)));
    out.push_back(b);
  }
}

void ClientSession::on_statement_reply(const StatementReply& r) {
  const auto& resp = tracker_->last_response();
  if (r.kind == Kind::execute) {
    if (auto* st = statements_->find(r.client_id)) statements_->set_long_data(*st, false);  // used or dropped
    return;
  }
  --stmt_.replies;
  stmt_.reply_offset = 0;
  if (r.kind == Kind::prepare) {
    --stmt_.prepares_in_flight;
    stmt_.last_prepared = resp.error ? 0 : r.client_id;
    if (resp.error) {
      statements_->failed(r.client_id);
      return;
    }
    statements_->prepared(r.client_id, resp.num_params, resp.num_columns);
    upstream_->statements().add(statements_, r.client_id, resp.statement_id);
    return;
  }
  stmt_.waiting = false;
  stmt_.resume = true;
  if (resp.error) {
    stmt_.failed_id = r.client_id;
    stmt_.failed_err = std::exchange(stmt_.reply_kept, {});
    return;
  }
  stmt_.reply_kept.clear();
  upstream_->statements().add(statements_, r.client_id, resp.statement_id);
  process_metrics().counter(MetricId::pool_reprepares).inc();
}

// After the read that ended a re-prepare's reply: the held command and what followed it.
void ClientSession::resume_after_reprepare() {
  if (!stmt_.resume || state_ != State::relay) return;
  stmt_.resume = false;
  client_.start_reading();
  relay_client_bytes(std::exchange(stmt_.held, {}));
}

// COM_RESET_CONNECTION or COM_CHANGE_USER succeeded: the server dropped every statement.
void ClientSession::forget_statements() {
  if (!statements_) return;
  statements_->clear();
  if (upstream_ != nullptr) upstream_->statements().clear();
  stmt_.last_prepared = 0;
}

bool ClientSession::statements_hold_connection() const {
  return statements_ && (statements_->holds_connection() || stmt_.waiting || stmt_.resume || !stmt_.held.empty());
}

}  // namespace camproxy::proxy
