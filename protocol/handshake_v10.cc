#include "protocol/handshake_v10.h"

#include <algorithm>

#include "protocol/constants.h"
#include "protocol/try.h"

namespace camproxy::protocol {
namespace {

constexpr size_t kNonce1Size = 8;
constexpr size_t kNonce2Size = 12;
constexpr size_t kMinNonce2Field = 13;  // nonce part 2 + NUL
constexpr size_t kReservedSize = 10;
constexpr size_t kMariaDbExtCapsOffset = 6;  // within the reserved bytes

}  // namespace

Result<HandshakeV10> decode_handshake_v10(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  HandshakeV10 hs;
  CAMPROXY_TRY_ASSIGN(hs.protocol_version, r.u8());
  if (hs.protocol_version != kProtocolVersion10) return fail(ProtoErr::unsupported);
  CAMPROXY_TRY_ASSIGN(hs.server_version, r.str_nul());
  CAMPROXY_TRY_ASSIGN(hs.connection_id, r.u32());
  std::span<const uint8_t> nonce1;
  CAMPROXY_TRY_ASSIGN(nonce1, r.bytes(kNonce1Size));
  CAMPROXY_TRY(r.skip(1));
  uint16_t caps_low = 0;
  CAMPROXY_TRY_ASSIGN(caps_low, r.u16());
  if ((caps_low & cap::kProtocol41) == 0) return fail(ProtoErr::unsupported);
  CAMPROXY_TRY_ASSIGN(hs.collation, r.u8());
  CAMPROXY_TRY_ASSIGN(hs.status_flags, r.u16());
  uint16_t caps_high = 0;
  CAMPROXY_TRY_ASSIGN(caps_high, r.u16());
  hs.capabilities = caps_low | (uint32_t{caps_high} << 16);
  if ((hs.capabilities & cap::kSecureConnection) == 0) return fail(ProtoErr::unsupported);
  uint8_t auth_data_len = 0;
  CAMPROXY_TRY_ASSIGN(auth_data_len, r.u8());
  std::span<const uint8_t> reserved;
  CAMPROXY_TRY_ASSIGN(reserved, r.bytes(kReservedSize));
  if ((hs.capabilities & cap::kLongPassword) == 0) {
    ByteReader ext(reserved.subspan(kMariaDbExtCapsOffset));
    CAMPROXY_TRY_ASSIGN(hs.mariadb_ext_caps, ext.u32());
  }
  const size_t nonce2_field =
      std::max<size_t>(kMinNonce2Field, auth_data_len > kNonce1Size ? auth_data_len - kNonce1Size : 0);
  std::span<const uint8_t> nonce2;
  CAMPROXY_TRY_ASSIGN(nonce2, r.bytes(nonce2_field));
  std::copy_n(nonce1.begin(), kNonce1Size, hs.nonce.begin());
  std::copy_n(nonce2.begin(), kNonce2Size, hs.nonce.begin() + kNonce1Size);
  if ((hs.capabilities & cap::kPluginAuth) != 0) {
    CAMPROXY_TRY_ASSIGN(hs.auth_plugin_name, r.str_nul());
  }
  return hs;
}

void encode_handshake_v10(const HandshakeV10& hs, ByteWriter& w) {
  w.u8(hs.protocol_version);
  w.str_nul(hs.server_version);
  w.u32(hs.connection_id);
  w.bytes(std::span<const uint8_t>(hs.nonce).first(kNonce1Size));
  w.u8(0);
  w.u16(static_cast<uint16_t>(hs.capabilities));
  w.u8(hs.collation);
  w.u16(hs.status_flags);
  w.u16(static_cast<uint16_t>(hs.capabilities >> 16));
  w.u8(static_cast<uint8_t>(hs.nonce.size() + 1));  // 21: nonce + NUL
  if ((hs.capabilities & cap::kLongPassword) == 0) {
    w.zeros(kMariaDbExtCapsOffset);
    w.u32(hs.mariadb_ext_caps);
  } else {
    w.zeros(kReservedSize);
  }
  w.bytes(std::span<const uint8_t>(hs.nonce).subspan(kNonce1Size));
  w.u8(0);
  if ((hs.capabilities & cap::kPluginAuth) != 0) w.str_nul(hs.auth_plugin_name);
}

}  // namespace camproxy::protocol
