// The client's first reply: SSLRequest (spec §2.3) or HandshakeResponse41 (spec §2.4).
//
// SSLRequest (exactly 32 bytes, seq 1; TLS starts after it):
//   int<4> capabilities (with CLIENT_SSL)  int<4> max_packet_size  int<1> collation  str[23] 0
//
// HandshakeResponse41:
//   int<4>   capabilities               int<4> max_packet_size       int<1> collation
//   str[23]  filler: zeros (MariaDB clients with bit 0 clear: 19 zeros + int<4> ext caps)
//   str<NUL> user
//   auth_response: LENENC_CLIENT_DATA ? str<lenenc> : SECURE_CONNECTION ? int<1> len + bytes
//                  : str<NUL>
//   CONNECT_WITH_DB ? str<NUL> database     PLUGIN_AUTH ? str<NUL> auth_plugin_name
//   CONNECT_ATTRS ? lenenc total, (str<lenenc> key, str<lenenc> value)*
//   ZSTD_COMPRESSION ? int<1> zstd_level
// Trailing fields that are missing entirely are absent (nullopt / empty), as mysqld treats them.
//
// Strings are owned (the session keeps user, database and attributes).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "protocol/byte_io.h"
#include "protocol/connect_attrs.h"
#include "protocol/result.h"

namespace camproxy::protocol {

inline constexpr size_t kSslRequestSize = 32;

// True for an SSLRequest: 32 bytes with CLIENT_SSL in the capabilities.
bool is_ssl_request(std::span<const uint8_t> payload) noexcept;

struct SslRequest {
  uint32_t capabilities = 0;
  uint32_t max_packet_size = 0;
  uint8_t collation = 0;
  uint32_t mariadb_ext_caps = 0;  // only when capability bit 0 (kLongPassword) is clear
  bool operator==(const SslRequest&) const = default;
};

// malformed unless is_ssl_request(payload).
Result<SslRequest> decode_ssl_request(std::span<const uint8_t> payload);
void encode_ssl_request(const SslRequest& req, ByteWriter& w);

struct HandshakeResponse41 {
  uint32_t capabilities = 0;
  uint32_t max_packet_size = 0;
  uint8_t collation = 0;
  uint32_t mariadb_ext_caps = 0;  // only when capability bit 0 (kLongPassword) is clear
  std::string user;
  std::string auth_response;  // raw bytes (scramble, or P||00 for clear text)
  std::optional<std::string> database;
  std::optional<std::string> auth_plugin_name;
  ConnectAttrs attrs;
  std::optional<uint8_t> zstd_level;
  bool operator==(const HandshakeResponse41&) const = default;
};

// Check is_ssl_request() first (an SSLRequest decodes as malformed here).
// protocol_320 when CLIENT_PROTOCOL_41 is clear (spec §2.4: answer ERR 1251 old-style).
Result<HandshakeResponse41> decode_handshake_response41(std::span<const uint8_t> payload);

// Writes the fields the capability bits call for; an absent database / plugin name is written
// empty when its bit is set. Without LENENC_CLIENT_DATA the auth response must be <= 255 bytes
// (SECURE_CONNECTION) or contain no NUL (neither bit); otherwise it is truncated.
void encode_handshake_response41(const HandshakeResponse41& resp, ByteWriter& w);

}  // namespace camproxy::protocol
