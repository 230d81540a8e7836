#include "proxy/pool/command_replies.h"

#include "protocol/byte_io.h"
#include "protocol/ok_err_eof.h"
#include "protocol/packet.h"

namespace camproxy::proxy {
namespace {

constexpr uint8_t kNullValue = 0xFB;

bool is_terminator(std::span<const uint8_t> p, uint32_t caps) {
  return protocol::is_eof_packet(p, caps) || (!p.empty() && p[0] == 0xFE && p.size() < protocol::kMaxFramePayload);
}

uint16_t terminator_status(std::span<const uint8_t> p, uint32_t caps) {
  if (auto ok = protocol::decode_ok(p, caps)) return ok->status_flags;
  if (auto eof = protocol::decode_eof(p)) return eof->status_flags;
  return 0;
}

}  // namespace

InternalCommand make_command(protocol::Command cmd, std::string_view arg) {
  InternalCommand c;
  c.payload.reserve(1 + arg.size());
  c.payload.push_back(static_cast<uint8_t>(cmd));
  c.payload.insert(c.payload.end(), arg.begin(), arg.end());
  return c;
}

InternalCommand make_query(std::string_view sql, bool wants_value) {
  InternalCommand c = make_command(protocol::Command::query, sql);
  c.wants_value = wants_value;
  return c;
}

ReplyReader::ReplyReader(uint32_t caps, const std::vector<InternalCommand>& commands) : caps_(caps) {
  for (const auto& c : commands) wants_value_.push_back(c.wants_value);
  results_.resize(commands.size());
}

ReplyReader::Step ReplyReader::finish_reply() {
  ++current_;
  phase_ = Phase::first;
  row_seen_ = false;
  return current_ == results_.size() ? Step::done : Step::more;
}

ReplyReader::Step ReplyReader::on_packet(std::span<const uint8_t> p) {
  if (current_ >= results_.size() || p.empty()) return Step::malformed;
  InternalResult& r = results_[current_];
  switch (phase_) {
    case Phase::first: return on_first_packet(r, p);
    case Phase::columns:
      if (--columns_left_ == 0) {
        phase_ = (caps_ & protocol::cap::kDeprecateEof) ? Phase::rows : Phase::columns_eof;
      }
      return Step::more;
    case Phase::columns_eof:
      if (!protocol::is_eof_packet(p, caps_)) return Step::malformed;
      phase_ = Phase::rows;
      return Step::more;
    case Phase::rows: return on_row_packet(r, p);
  }
  return Step::malformed;
}

// OK, ERR, or the column count of a result set.
ReplyReader::Step ReplyReader::on_first_packet(InternalResult& r, std::span<const uint8_t> p) {
  if (p[0] == 0xFF) return finish_with_err(r, p);
  if (p[0] == 0x00 || p[0] == 0xFE) {  // OK, or EOF for COM_SET_OPTION without DEPRECATE_EOF
    r.ok = true;
    r.status_flags = terminator_status(p, caps_);
    return finish_reply();
  }
  protocol::ByteReader reader(p);
  auto count = reader.lenenc();
  if (!count || *count == 0) return Step::malformed;
  // A byte after the count is MariaDB's metadata_follows (CACHE_METADATA, spec §3.1): 0 means no
  // column definitions (only for re-executed prepared statements, never these text queries).
  uint8_t metadata_follows = 1;
  if (reader.peek(metadata_follows) && metadata_follows == 0) {
    phase_ = (caps_ & protocol::cap::kDeprecateEof) ? Phase::rows : Phase::columns_eof;
    return Step::more;
  }
  columns_left_ = *count;
  phase_ = Phase::columns;
  return Step::more;
}

// A row (the first one kept when the command wants its values), the terminator, or an ERR.
ReplyReader::Step ReplyReader::on_row_packet(InternalResult& r, std::span<const uint8_t> p) {
  if (p[0] == 0xFF) return finish_with_err(r, p);
  if (is_terminator(p, caps_)) {
    r.ok = true;
    r.status_flags = terminator_status(p, caps_);
    return finish_reply();
  }
  if (!wants_value_[current_] || row_seen_) return Step::more;
  row_seen_ = true;
  protocol::ByteReader reader(p);
  uint8_t first = 0;
  while (reader.peek(first)) {
    if (first == kNullValue) {
      (void)reader.skip(1);
      r.row.emplace_back(std::nullopt);
      continue;
    }
    auto v = reader.str_lenenc();
    if (!v) return Step::malformed;
    r.row.emplace_back(std::string(*v));
  }
  return Step::more;
}

ReplyReader::Step ReplyReader::finish_with_err(InternalResult& r, std::span<const uint8_t> p) {
  auto err = protocol::decode_err(p, caps_);
  if (!err) return Step::malformed;
  r.ok = false;
  r.code = err->code;
  r.sql_state = std::string(err->sql_state);
  r.message = std::string(err->message);
  return finish_reply();
}

}  // namespace camproxy::proxy
