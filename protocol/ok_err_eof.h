// OK / ERR / EOF packets (spec/mysql-protocol.md §4.1).
//
// OK : 00 (FE when it ends a resultset under DEPRECATE_EOF)  lenenc affected_rows
//      lenenc last_insert_id  PROTOCOL_41 ? int<2> status, int<2> warnings
//                             : TRANSACTIONS ? int<2> status
//      SESSION_TRACK ? [str<lenenc> info [str<lenenc> session_state_info if status & 0x4000]]
//                    : [info] (spec: str<EOF>; mysqld and MariaDB send str<lenenc>)
// ERR: FF  int<2> code  [PROTOCOL_41: '#' + str[5] sql_state]  str<EOF> message
// EOF: FE  int<2> warnings  int<2> status   (5 bytes; only without DEPRECATE_EOF)
//
// Strings are views into the payload (these packets are parsed on the relay's hot path and
// consumed at once); for encoding, point them at strings the caller keeps alive.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "protocol/byte_io.h"
#include "protocol/result.h"

namespace camproxy::protocol {

struct OkPacket {
  uint64_t affected_rows = 0;
  uint64_t last_insert_id = 0;
  uint16_t status_flags = 0;
  uint16_t warnings = 0;
  std::string_view info;
  std::string_view session_state_info;  // with SESSION_TRACK and status kSessionStateChanged
  uint8_t header = 0x00;                // 0xFE for the DEPRECATE_EOF resultset terminator
  bool operator==(const OkPacket&) const = default;
};

struct ErrPacket {
  uint16_t code = 0;
  std::string_view sql_state;  // 5 chars, or empty (pre-4.1 format, or no '#' marker sent)
  std::string_view message;
  bool operator==(const ErrPacket&) const = default;
};

struct EofPacket {
  uint16_t warnings = 0;
  uint16_t status_flags = 0;
  bool operator==(const EofPacket&) const = default;
};

// Packet shape tests on a payload (spec §4.1). They do not know the command state: a binary
// resultset row also starts with 00; the caller asks only where an OK/EOF/ERR may appear.
// OK: 00 and >= 7 bytes; or, with DEPRECATE_EOF, FE and 7 <= size < 0xFFFFFF.
bool is_ok_packet(std::span<const uint8_t> payload, uint32_t caps) noexcept;
// ERR: FF and >= 3 bytes (FF is never a lenenc prefix, so never a row).
bool is_err_packet(std::span<const uint8_t> payload, uint32_t caps) noexcept;
// EOF: FE and < 9 bytes, only without DEPRECATE_EOF.
bool is_eof_packet(std::span<const uint8_t> payload, uint32_t caps) noexcept;

// Accepts either OK header. With SESSION_TRACK, bytes after the last field are ignored (as
// libmysqlclient does); a missing info is empty.
Result<OkPacket> decode_ok(std::span<const uint8_t> payload, uint32_t caps);
// unsupported for a MariaDB progress report (code 0xFFFF).
Result<ErrPacket> decode_err(std::span<const uint8_t> payload, uint32_t caps);
// Exactly 5 bytes.
Result<EofPacket> decode_eof(std::span<const uint8_t> payload);

// Info as mysqld writes it: str<lenenc> when non-empty; with SESSION_TRACK also when state
// info follows.
void encode_ok(const OkPacket& ok, uint32_t caps, ByteWriter& w);
// Writes '#' + sql_state only with PROTOCOL_41 and a non-empty sql_state; a sql_state that is
// not 5 characters long is sent as HY000.
void encode_err(const ErrPacket& err, uint32_t caps, ByteWriter& w);
void encode_eof(const EofPacket& eof, ByteWriter& w);

// Session-state information (with SESSION_TRACK and kSessionStateChanged, spec §4.1) is a list
// of entries: int<1> type, str<lenenc> data.
enum class SessionTrack : uint8_t {
  system_variables = 0,  // data: name str<lenenc>, value str<lenenc>
  schema = 1,            // data: the schema str<lenenc>
  state_change = 2,
  gtids = 3,
  transaction_characteristics = 4,
  transaction_state = 5,
};

// The OK that ends a login (or a COM_CHANGE_USER) as MariaDB 10.11 writes it for `caps`
// (captures/mariadb_cli_login.hex): the session flags of `status_flags` (status::kSessionFlags);
// with SESSION_TRACK and a named, non-empty `schema`, kSessionStateChanged and one SCHEMA entry.
// Nothing else: the server tracks no system variable at login, even for a character set other
// than its default (checked against MariaDB 10.11 with collations 8, 33 and 45).
void encode_login_ok(uint16_t status_flags, std::optional<std::string_view> schema, uint32_t caps, ByteWriter& w);

}  // namespace camproxy::protocol
