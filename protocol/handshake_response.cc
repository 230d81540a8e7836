#include "protocol/handshake_response.h"

#include "protocol/constants.h"
#include "protocol/try.h"

namespace camproxy::protocol {
namespace {

constexpr size_t kFillerSize = 23;
constexpr size_t kMariaDbExtCapsOffset = 19;  // within the filler

// The part SSLRequest and HandshakeResponse41 share: caps, max packet, collation, filler.
struct FixedPart {
  uint32_t capabilities = 0;
  uint32_t max_packet_size = 0;
  uint8_t collation = 0;
  uint32_t mariadb_ext_caps = 0;
};

Result<FixedPart> read_fixed_part(ByteReader& r) {
  FixedPart f;
  CAMPROXY_TRY_ASSIGN(f.capabilities, r.u32());
  CAMPROXY_TRY_ASSIGN(f.max_packet_size, r.u32());
  CAMPROXY_TRY_ASSIGN(f.collation, r.u8());
  std::span<const uint8_t> filler;
  CAMPROXY_TRY_ASSIGN(filler, r.bytes(kFillerSize));
  if ((f.capabilities & cap::kLongPassword) == 0) {
    ByteReader ext(filler.subspan(kMariaDbExtCapsOffset));
    CAMPROXY_TRY_ASSIGN(f.mariadb_ext_caps, ext.u32());
  }
  return f;
}

void write_fixed_part(const FixedPart& f, ByteWriter& w) {
  w.u32(f.capabilities);
  w.u32(f.max_packet_size);
  w.u8(f.collation);
  if ((f.capabilities & cap::kLongPassword) == 0) {
    w.zeros(kMariaDbExtCapsOffset);
    w.u32(f.mariadb_ext_caps);
  } else {
    w.zeros(kFillerSize);
  }
}

// Reads the auth response in the form the capability bits select.
Result<std::string_view> read_auth_response(ByteReader& r, uint32_t caps) {
  if ((caps & cap::kPluginAuthLenencClientData) != 0) return r.str_lenenc();
  if ((caps & cap::kSecureConnection) != 0) {
    uint8_t len = 0;
    CAMPROXY_TRY_ASSIGN(len, r.u8());
    return r.str(len);
  }
  return r.str_nul();
}

// A trailing str<NUL>: absent when the packet ends before it.
Result<std::optional<std::string>> read_optional_str_nul(ByteReader& r) {
  if (r.empty()) return std::optional<std::string>{};
  std::string_view s;
  CAMPROXY_TRY_ASSIGN(s, r.str_nul());
  return std::optional<std::string>(s);
}

}  // namespace

bool is_ssl_request(std::span<const uint8_t> payload) noexcept {
  if (payload.size() != kSslRequestSize) return false;
  return (payload[1] & (cap::kSsl >> 8)) != 0;
}

Result<SslRequest> decode_ssl_request(std::span<const uint8_t> payload) {
  if (!is_ssl_request(payload)) return fail(ProtoErr::malformed);
  ByteReader r(payload);
  FixedPart f;
  CAMPROXY_TRY_ASSIGN(f, read_fixed_part(r));
  return SslRequest{f.capabilities, f.max_packet_size, f.collation, f.mariadb_ext_caps};
}

void encode_ssl_request(const SslRequest& req, ByteWriter& w) {
  write_fixed_part({req.capabilities, req.max_packet_size, req.collation, req.mariadb_ext_caps}, w);
}

Result<HandshakeResponse41> decode_handshake_response41(std::span<const uint8_t> payload) {
  // spec §2.4: a 320 response is recognised by the first int<2> alone.
  if (payload.size() >= 2 && (payload[1] & (cap::kProtocol41 >> 8)) == 0) {
    return fail(ProtoErr::protocol_320);
  }
  ByteReader r(payload);
  FixedPart f;
  CAMPROXY_TRY_ASSIGN(f, read_fixed_part(r));
  HandshakeResponse41 resp;
  resp.capabilities = f.capabilities;
  resp.max_packet_size = f.max_packet_size;
  resp.collation = f.collation;
  resp.mariadb_ext_caps = f.mariadb_ext_caps;
  const uint32_t caps = f.capabilities;
  CAMPROXY_TRY_ASSIGN(resp.user, r.str_nul());
  CAMPROXY_TRY_ASSIGN(resp.auth_response, read_auth_response(r, caps));
  if ((caps & cap::kConnectWithDb) != 0) {
    CAMPROXY_TRY_ASSIGN(resp.database, read_optional_str_nul(r));
  }
  if ((caps & cap::kPluginAuth) != 0) {
    CAMPROXY_TRY_ASSIGN(resp.auth_plugin_name, read_optional_str_nul(r));
  }
  if ((caps & cap::kConnectAttrs) != 0 && !r.empty()) {
    CAMPROXY_TRY_ASSIGN(resp.attrs, read_connect_attrs(r));
  }
  if ((caps & cap::kZstdCompression) != 0 && !r.empty()) {
    CAMPROXY_TRY_ASSIGN(resp.zstd_level, r.u8());
  }
  return resp;
}

void encode_handshake_response41(const HandshakeResponse41& resp, ByteWriter& w) {
  const uint32_t caps = resp.capabilities;
  write_fixed_part({caps, resp.max_packet_size, resp.collation, resp.mariadb_ext_caps}, w);
  w.str_nul(resp.user);
  std::string_view auth = resp.auth_response;
  if ((caps & cap::kPluginAuthLenencClientData) != 0) {
    w.str_lenenc(auth);
  } else if ((caps & cap::kSecureConnection) != 0) {
    auth = auth.substr(0, 0xFF);
    w.u8(static_cast<uint8_t>(auth.size()));
    w.bytes(auth);
  } else {
    w.str_nul(auth.substr(0, auth.find('\0')));
  }
  if ((caps & cap::kConnectWithDb) != 0) w.str_nul(resp.database.value_or(""));
  if ((caps & cap::kPluginAuth) != 0) w.str_nul(resp.auth_plugin_name.value_or(""));
  if ((caps & cap::kConnectAttrs) != 0) write_connect_attrs(resp.attrs, w);
  if ((caps & cap::kZstdCompression) != 0) w.u8(resp.zstd_level.value_or(uint8_t{3}));
}

}  // namespace camproxy::protocol
