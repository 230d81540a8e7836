#include "proxy/net/packet_inbox.h"

namespace camproxy::proxy {

void PacketInbox::compact() {
  consumed_ += pending_;
  pending_ = 0;
  if (consumed_ == buf_.size()) {
    buf_.clear();
    consumed_ = 0;
  } else if (consumed_ > 0 && consumed_ * 2 >= buf_.size()) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
}

void PacketInbox::append(std::span<const uint8_t> bytes) {
  compact();
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

protocol::Result<protocol::Packet> PacketInbox::next() {
  compact();
  std::span<const uint8_t> in(buf_.data() + consumed_, buf_.size() - consumed_);
  auto decoded = protocol::decode_packet(in, max_payload_, scratch_);
  if (!decoded) return tl::unexpected(decoded.error());
  pending_ = decoded->consumed;
  return decoded->packet;
}

std::vector<uint8_t> PacketInbox::take_rest() {
  compact();
  std::vector<uint8_t> rest(buf_.begin() + static_cast<ptrdiff_t>(consumed_), buf_.end());
  buf_.clear();
  consumed_ = 0;
  return rest;
}

void PacketInbox::release() {
  std::vector<uint8_t>().swap(buf_);
  std::vector<uint8_t>().swap(scratch_);
  consumed_ = pending_ = 0;
}

}  // namespace camproxy::proxy
