// COM_CHANGE_USER (spec §2.7; sent by mysqli `p:` on every reuse, by mysql2 changeUser()).
//
//   int<1>   0x11
//   str<NUL> user
//   auth_response: SECURE_CONNECTION ? int<1> len + bytes : str<NUL>
//   str<NUL> database (may be empty)
//   [more data, each present only if the packet goes on:]
//   int<2>   collation
//   PLUGIN_AUTH ? str<NUL> auth_plugin_name
//   CONNECT_ATTRS ? lenenc total, (str<lenenc> key, str<lenenc> value)*
//
// The auth response is computed over the session's ORIGINAL handshake nonce. Owned strings.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "protocol/byte_io.h"
#include "protocol/connect_attrs.h"
#include "protocol/result.h"

namespace camproxy::protocol {

struct ComChangeUser {
  std::string user;
  std::string auth_response;
  std::string database;
  std::optional<uint16_t> collation;
  std::optional<std::string> auth_plugin_name;
  ConnectAttrs attrs;
  bool operator==(const ComChangeUser&) const = default;
};

// `client_caps`: the capabilities negotiated at login (they select the field forms).
Result<ComChangeUser> decode_change_user(std::span<const uint8_t> payload, uint32_t client_caps);
// For the upstream fallback (spec §5.2). Writes every field the caps call for, as libmysqlclient
// does (a missing collation as 0 = keep; a missing plugin name empty).
void encode_change_user(const ComChangeUser& cmd, uint32_t client_caps, ByteWriter& w);

}  // namespace camproxy::protocol
