#pragma once
// Reassembles whole packets from a byte stream during the login phases (both sides), where
// camproxy must parse every packet. The relay phase does not use it: there bytes pass through.
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/packet.h"

namespace camproxy::proxy {

class PacketInbox {
 public:
  explicit PacketInbox(size_t max_payload) : max_payload_(max_payload) {}

  void append(std::span<const uint8_t> bytes);
  // The next whole packet, or ProtoErr::need_more / too_large / malformed. The packet's
  // payload stays valid until the next call of next(), append() or take_rest().
  protocol::Result<protocol::Packet> next();
  // Bytes received after the last packet returned (e.g. TLS records after an SSLRequest).
  std::vector<uint8_t> take_rest();
  bool empty() const { return buf_.size() == consumed_ + pending_; }
  void set_max_payload(size_t n) { max_payload_ = n; }
  // Gives the memory back once the login phase is over.
  void release();

 private:
  void compact();

  size_t max_payload_;
  std::vector<uint8_t> buf_;
  size_t consumed_ = 0;  // bytes of buf_ already returned as packets
  size_t pending_ = 0;   // size of the packet last returned, consumed on the next call
  std::vector<uint8_t> scratch_;
};

}  // namespace camproxy::proxy
