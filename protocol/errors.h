// Error values of the protocol library, wired into std::error_code.
#pragma once

#include <system_error>

namespace camproxy::protocol {

// Decoders of a whole packet payload never return need_more: the payload is complete,
// so running out of bytes inside it is `malformed`. Only decode_packet() (framing) says
// need_more, meaning "read more bytes from the socket and call again".
enum class ProtoErr {
  need_more = 1,      // input ends before the frame/packet does
  malformed,          // bytes violate the wire format (short field, bad marker, bad lenenc)
  too_large,          // a packet or field exceeds the caller's limit
  unsupported,        // well-formed but not spoken here (protocol 9, old-password switch, ...)
  protocol_320,       // HandshakeResponse320 (no CLIENT_PROTOCOL_41): reply ERR 1251, close
  password_too_long,  // plaintext does not fit the RSA-OAEP block (spec §3.3 limits)
  bad_public_key,     // PEM text is not an RSA public key
  crypto_failed,      // OpenSSL failed where it should not
};

const std::error_category& proto_category() noexcept;
std::error_code make_error_code(ProtoErr e) noexcept;

}  // namespace camproxy::protocol

template <>
struct std::is_error_code_enum<camproxy::protocol::ProtoErr> : std::true_type {};
