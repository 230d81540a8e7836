#include "protocol/change_user.h"

#include "protocol/constants.h"
#include "protocol/try.h"

namespace camproxy::protocol {

Result<ComChangeUser> decode_change_user(std::span<const uint8_t> payload, uint32_t client_caps) {
  ByteReader r(payload);
  uint8_t command = 0;
  CAMPROXY_TRY_ASSIGN(command, r.u8());
  if (command != static_cast<uint8_t>(Command::change_user)) return fail(ProtoErr::malformed);
  ComChangeUser cmd;
  CAMPROXY_TRY_ASSIGN(cmd.user, r.str_nul());
  if ((client_caps & cap::kSecureConnection) != 0) {
    uint8_t len = 0;
    CAMPROXY_TRY_ASSIGN(len, r.u8());
    CAMPROXY_TRY_ASSIGN(cmd.auth_response, r.str(len));
  } else {
    CAMPROXY_TRY_ASSIGN(cmd.auth_response, r.str_nul());
  }
  CAMPROXY_TRY_ASSIGN(cmd.database, r.str_nul());
  if (r.empty()) return cmd;
  CAMPROXY_TRY_ASSIGN(cmd.collation, r.u16());
  if ((client_caps & cap::kPluginAuth) != 0 && !r.empty()) {
    CAMPROXY_TRY_ASSIGN(cmd.auth_plugin_name, r.str_nul());
  }
  if ((client_caps & cap::kConnectAttrs) != 0 && !r.empty()) {
    CAMPROXY_TRY_ASSIGN(cmd.attrs, read_connect_attrs(r));
  }
  return cmd;
}

void encode_change_user(const ComChangeUser& cmd, uint32_t client_caps, ByteWriter& w) {
  w.u8(static_cast<uint8_t>(Command::change_user));
  w.str_nul(cmd.user);
  if ((client_caps & cap::kSecureConnection) != 0) {
    const std::string_view auth = std::string_view(cmd.auth_response).substr(0, 0xFF);
    w.u8(static_cast<uint8_t>(auth.size()));
    w.bytes(auth);
  } else {
    w.str_nul(cmd.auth_response);
  }
  w.str_nul(cmd.database);
  w.u16(cmd.collation.value_or(0));  // 0: the server keeps the current collation
  if ((client_caps & cap::kPluginAuth) != 0) w.str_nul(cmd.auth_plugin_name.value_or(""));
  if ((client_caps & cap::kConnectAttrs) != 0) write_connect_attrs(cmd.attrs, w);
}

}  // namespace camproxy::protocol
