#include "protocol/auth_switch.h"

#include <algorithm>

#include "protocol/constants.h"
#include "protocol/try.h"

namespace camproxy::protocol {

Result<AuthSwitchRequest> decode_auth_switch_request(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint8_t header = 0;
  CAMPROXY_TRY_ASSIGN(header, r.u8());
  if (header != kAuthSwitchHeader) return fail(ProtoErr::malformed);
  if (r.empty()) return fail(ProtoErr::unsupported);  // old-password switch (spec §2.5)
  AuthSwitchRequest req;
  CAMPROXY_TRY_ASSIGN(req.plugin_name, r.str_nul());
  req.plugin_data = r.rest_str();
  return req;
}

void encode_auth_switch_request(const AuthSwitchRequest& req, ByteWriter& w) {
  w.u8(kAuthSwitchHeader);
  w.str_nul(req.plugin_name);
  w.bytes(req.plugin_data);
}

Result<std::array<uint8_t, 20>> nonce_from_plugin_data(std::string_view plugin_data) {
  if (!plugin_data.empty() && plugin_data.back() == '\0') plugin_data.remove_suffix(1);
  std::array<uint8_t, 20> nonce{};
  if (plugin_data.size() != nonce.size()) return fail(ProtoErr::malformed);
  const auto bytes = as_bytes(plugin_data);
  std::copy(bytes.begin(), bytes.end(), nonce.begin());
  return nonce;
}

Result<AuthMoreData> decode_auth_more_data(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint8_t header = 0;
  CAMPROXY_TRY_ASSIGN(header, r.u8());
  if (header != kAuthMoreDataHeader) return fail(ProtoErr::malformed);
  return AuthMoreData{std::string(r.rest_str())};
}

void encode_auth_more_data(const AuthMoreData& more, ByteWriter& w) {
  w.u8(kAuthMoreDataHeader);
  w.bytes(more.data);
}

}  // namespace camproxy::protocol
