#pragma once
// Writing whole packets camproxy builds itself (login phases, errors).
#include <cstdint>
#include <span>

#include "protocol/ok_err_eof.h"
#include "proxy/net/transport.h"

namespace camproxy::proxy {

// Frames `payload` starting at `seq` and writes it; returns the next seq id.
uint8_t send_packet(Transport& t, uint8_t seq, std::span<const uint8_t> payload);
// As send_packet, for a payload that holds a secret (a clear-text password over TLS): the
// framing buffer is wiped once the bytes are handed to the transport (which, over TLS, keeps
// only ciphertext).
uint8_t send_secret_packet(Transport& t, uint8_t seq, std::span<const uint8_t> payload);
// The end of a client's login: with `sha2_fast_ack`, AuthMoreData fast_auth_success (spec §2.5)
// before the OK. Both in one write: one TCP segment, one read for the client.
uint8_t send_login_ok(Transport& t, uint8_t seq, bool sha2_fast_ack, std::span<const uint8_t> ok_payload);
uint8_t send_err(Transport& t, uint8_t seq, const protocol::ErrPacket& err, uint32_t caps);

}  // namespace camproxy::proxy
