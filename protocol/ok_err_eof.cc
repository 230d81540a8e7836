#include "protocol/ok_err_eof.h"

#include <vector>

#include "protocol/constants.h"
#include "protocol/packet.h"
#include "protocol/try.h"

namespace camproxy::protocol {
namespace {

constexpr size_t kMinOkSize = 7;   // header, two 1-byte lenencs, status, warnings
constexpr size_t kMaxEofSize = 8;  // EOF is FE and < 9 bytes (spec §4.1)
constexpr size_t kEofSize = 5;
constexpr size_t kMinErrSize = 3;
constexpr size_t kSqlStateSize = 5;
constexpr char kSqlStateMarker = '#';
constexpr std::string_view kGeneralSqlState = "HY000";

}  // namespace

bool is_ok_packet(std::span<const uint8_t> payload, uint32_t caps) noexcept {
  if (payload.size() < kMinOkSize) return false;
  if (payload[0] == kOkHeader) return true;
  return payload[0] == kEofHeader && (caps & cap::kDeprecateEof) != 0 && payload.size() < kMaxFramePayload;
}

bool is_err_packet(std::span<const uint8_t> payload, uint32_t /*caps*/) noexcept {
  return payload.size() >= kMinErrSize && payload[0] == kErrHeader;
}

bool is_eof_packet(std::span<const uint8_t> payload, uint32_t caps) noexcept {
  return !payload.empty() && payload.size() <= kMaxEofSize && payload[0] == kEofHeader &&
         (caps & cap::kDeprecateEof) == 0;
}

Result<OkPacket> decode_ok(std::span<const uint8_t> payload, uint32_t caps) {
  ByteReader r(payload);
  OkPacket ok;
  CAMPROXY_TRY_ASSIGN(ok.header, r.u8());
  if (ok.header != kOkHeader && ok.header != kEofHeader) return fail(ProtoErr::malformed);
  CAMPROXY_TRY_ASSIGN(ok.affected_rows, r.lenenc());
  CAMPROXY_TRY_ASSIGN(ok.last_insert_id, r.lenenc());
  if ((caps & cap::kProtocol41) != 0) {
    CAMPROXY_TRY_ASSIGN(ok.status_flags, r.u16());
    CAMPROXY_TRY_ASSIGN(ok.warnings, r.u16());
  } else if ((caps & cap::kTransactions) != 0) {
    CAMPROXY_TRY_ASSIGN(ok.status_flags, r.u16());
  }
  if (r.empty()) return ok;
  if ((caps & cap::kSessionTrack) == 0) {
    // spec §4.1 says str<EOF>, but mysqld and MariaDB write the info as str<lenenc> here too
    // (captures/pymysql_login.hex, INSERT). Take it as lenenc when that fills the packet
    // exactly, else as the raw rest.
    ByteReader lenenc_reader = r;
    auto info = lenenc_reader.str_lenenc();
    ok.info = info && lenenc_reader.empty() ? *info : r.rest_str();
    return ok;
  }
  CAMPROXY_TRY_ASSIGN(ok.info, r.str_lenenc());
  if ((ok.status_flags & status::kSessionStateChanged) != 0) {
    CAMPROXY_TRY_ASSIGN(ok.session_state_info, r.str_lenenc());
  }
  return ok;
}

Result<ErrPacket> decode_err(std::span<const uint8_t> payload, uint32_t caps) {
  ByteReader r(payload);
  uint8_t header = 0;
  CAMPROXY_TRY_ASSIGN(header, r.u8());
  if (header != kErrHeader) return fail(ProtoErr::malformed);
  ErrPacket err;
  CAMPROXY_TRY_ASSIGN(err.code, r.u16());
  if (err.code == kErMariaDbProgressReport) return fail(ProtoErr::unsupported);
  uint8_t next = 0;
  if ((caps & cap::kProtocol41) != 0 && r.peek(next) && next == kSqlStateMarker) {
    CAMPROXY_TRY(r.skip(1));
    CAMPROXY_TRY_ASSIGN(err.sql_state, r.str(kSqlStateSize));
  }
  err.message = r.rest_str();
  return err;
}

Result<EofPacket> decode_eof(std::span<const uint8_t> payload) {
  if (payload.size() != kEofSize || payload[0] != kEofHeader) return fail(ProtoErr::malformed);
  ByteReader r(payload.subspan(1));
  EofPacket eof;
  CAMPROXY_TRY_ASSIGN(eof.warnings, r.u16());
  CAMPROXY_TRY_ASSIGN(eof.status_flags, r.u16());
  return eof;
}

void encode_ok(const OkPacket& ok, uint32_t caps, ByteWriter& w) {
  w.u8(ok.header);
  w.lenenc(ok.affected_rows);
  w.lenenc(ok.last_insert_id);
  if ((caps & cap::kProtocol41) != 0) {
    w.u16(ok.status_flags);
    w.u16(ok.warnings);
  } else if ((caps & cap::kTransactions) != 0) {
    w.u16(ok.status_flags);
  }
  if ((caps & cap::kSessionTrack) == 0) {
    if (!ok.info.empty()) w.str_lenenc(ok.info);  // as mysqld writes it (see decode_ok)
    return;
  }
  const bool state_changed = (ok.status_flags & status::kSessionStateChanged) != 0;
  if (!ok.info.empty() || state_changed) w.str_lenenc(ok.info);
  if (state_changed) w.str_lenenc(ok.session_state_info);
}

void encode_err(const ErrPacket& err, uint32_t caps, ByteWriter& w) {
  w.u8(kErrHeader);
  w.u16(err.code);
  if ((caps & cap::kProtocol41) != 0 && !err.sql_state.empty()) {
    w.u8(kSqlStateMarker);
    w.bytes(err.sql_state.size() == kSqlStateSize ? err.sql_state : kGeneralSqlState);
  }
  w.bytes(err.message);
}

void encode_eof(const EofPacket& eof, ByteWriter& w) {
  w.u8(kEofHeader);
  w.u16(eof.warnings);
  w.u16(eof.status_flags);
}

void encode_login_ok(uint16_t status_flags, std::optional<std::string_view> schema, uint32_t caps, ByteWriter& w) {
  OkPacket ok;
  ok.status_flags = status_flags & status::kSessionFlags;
  std::vector<uint8_t> state;
  if ((caps & cap::kSessionTrack) != 0 && schema && !schema->empty()) {
    ByteWriter entry(state);
    entry.u8(static_cast<uint8_t>(SessionTrack::schema));
    entry.lenenc(lenenc_size(schema->size()) + schema->size());
    entry.str_lenenc(*schema);
    ok.status_flags |= status::kSessionStateChanged;
    ok.session_state_info = as_chars(state);
  }
  encode_ok(ok, caps, w);
}

}  // namespace camproxy::protocol
