#include "proxy/net/packet_out.h"

#include <openssl/crypto.h>

#include <vector>

#include "protocol/byte_io.h"
#include "protocol/packet.h"

namespace camproxy::proxy {
namespace {
thread_local std::vector<uint8_t> t_frame;
}

uint8_t send_packet(Transport& t, uint8_t seq, std::span<const uint8_t> payload) {
  t_frame.clear();
  uint8_t next = protocol::encode_packet(payload, seq, t_frame);
  t.write(t_frame);
  return next;
}

uint8_t send_secret_packet(Transport& t, uint8_t seq, std::span<const uint8_t> payload) {
  const uint8_t next = send_packet(t, seq, payload);
  OPENSSL_cleanse(t_frame.data(), t_frame.size());
  return next;
}

uint8_t send_login_ok(Transport& t, uint8_t seq, bool sha2_fast_ack, std::span<const uint8_t> ok_payload) {
  static constexpr uint8_t kFastAuthSuccess[] = {0x01, 0x03};
  t_frame.clear();
  if (sha2_fast_ack) seq = protocol::encode_packet(kFastAuthSuccess, seq, t_frame);
  seq = protocol::encode_packet(ok_payload, seq, t_frame);
  t.write(t_frame);
  return seq;
}

uint8_t send_err(Transport& t, uint8_t seq, const protocol::ErrPacket& err, uint32_t caps) {
  t_frame.clear();
  size_t start = protocol::begin_packet(t_frame);
  protocol::ByteWriter w(t_frame);
  protocol::encode_err(err, caps, w);
  uint8_t next = protocol::end_packet(t_frame, start, seq);
  t.write(t_frame);
  return next;
}

}  // namespace camproxy::proxy
