#pragma once
// Writing whole packets camproxy builds itself (login phases, errors).
#include <cstdint>
#include <span>

#include "protocol/ok_err_eof.h"
#include "proxy/transport.h"

namespace camproxy::proxy {

// Frames `payload` starting at `seq` and writes it; returns the next seq id.
uint8_t send_packet(Transport& t, uint8_t seq, std::span<const uint8_t> payload);
// As send_packet, for a payload that holds a secret (a clear-text password over TLS): the
// framing buffer is wiped once the bytes are handed to the transport (which, over TLS, keeps
// only ciphertext).
uint8_t send_secret_packet(Transport& t, uint8_t seq, std::span<const uint8_t> payload);
uint8_t send_err(Transport& t, uint8_t seq, const protocol::ErrPacket& err, uint32_t caps);

}  // namespace camproxy::proxy
