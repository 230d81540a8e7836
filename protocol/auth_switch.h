// Auth-phase packets after the first response (spec §2.5, §3.3).
//
// AuthSwitchRequest (server):  FE  str<NUL> plugin_name  str<EOF> plugin_data
//   plugin_data of native / caching_sha2 is the new 20-byte nonce + 00. A lone FE is the
//   pre-4.1 "use mysql_old_password" request: unsupported.
// AuthMoreData (server):       01  str<EOF> data   (01 03 fast auth ok, 01 04 full auth, 01+PEM)
// AuthSwitchResponse (client): raw bytes, no header: write them as the payload.
//
// Strings are owned (the new nonce outlives the packet).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "protocol/byte_io.h"
#include "protocol/result.h"

namespace camproxy::protocol {

struct AuthSwitchRequest {
  std::string plugin_name;
  std::string plugin_data;  // raw, trailing NUL included when the server sent one
  bool operator==(const AuthSwitchRequest&) const = default;
};

Result<AuthSwitchRequest> decode_auth_switch_request(std::span<const uint8_t> payload);
void encode_auth_switch_request(const AuthSwitchRequest& req, ByteWriter& w);

// The 20-byte nonce inside plugin_data: exactly 20 bytes after dropping one trailing NUL,
// else malformed.
Result<std::array<uint8_t, 20>> nonce_from_plugin_data(std::string_view plugin_data);

struct AuthMoreData {
  std::string data;
  bool operator==(const AuthMoreData&) const = default;
};

Result<AuthMoreData> decode_auth_more_data(std::span<const uint8_t> payload);
void encode_auth_more_data(const AuthMoreData& more, ByteWriter& w);

}  // namespace camproxy::protocol
