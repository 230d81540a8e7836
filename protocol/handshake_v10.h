// HandshakeV10, the server's greeting (seq 0). Spec/mysql-protocol.md §2.1, §3.1.
//
//   int<1>     protocol_version (0x0A)
//   str<NUL>   server_version
//   int<4>     connection_id
//   str[8]     nonce[0..7]
//   int<1>     0x00 filler
//   int<2>     capabilities (low 16 bits)
//   int<1>     collation
//   int<2>     status_flags
//   int<2>     capabilities (high 16 bits)
//   int<1>     auth plugin data length (21; 0 without CLIENT_PLUGIN_AUTH)
//   str[10]    reserved: zeros (MariaDB with capability bit 0 clear: 6 zeros + int<4> ext caps)
//   str[n]     nonce[8..19] + 0x00, n = max(13, data_len - 8)     (CLIENT_SECURE_CONNECTION)
//   str<NUL>   auth_plugin_name                                    (CLIENT_PLUGIN_AUTH)
//
// Strings are owned: the session keeps the greeting after the packet buffer is reused.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "protocol/byte_io.h"
#include "protocol/result.h"

namespace camproxy::protocol {

struct HandshakeV10 {
  uint8_t protocol_version = 10;
  std::string server_version;
  uint32_t connection_id = 0;
  std::array<uint8_t, 20> nonce{};  // part1 (8) + first 12 bytes of part2
  uint32_t capabilities = 0;
  uint8_t collation = 0;
  uint16_t status_flags = 0;
  uint32_t mariadb_ext_caps = 0;  // only when capability bit 0 (kLongPassword) is clear
  std::string auth_plugin_name;
  bool operator==(const HandshakeV10&) const = default;
};

// `payload` without the frame header. Requires protocol 10 (else unsupported), and
// CLIENT_PROTOCOL_41 and CLIENT_SECURE_CONNECTION (else unsupported: no 20-byte nonce).
// A greeting that is an ERR packet (first byte FF, e.g. 1040) must be checked by the caller
// first with is_err_packet(); here it is `unsupported`.
Result<HandshakeV10> decode_handshake_v10(std::span<const uint8_t> payload);

// Writes the greeting as MySQL 8 / MySQL Router do (auth data length 21).
void encode_handshake_v10(const HandshakeV10& hs, ByteWriter& w);

}  // namespace camproxy::protocol
