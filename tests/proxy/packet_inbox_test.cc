// PacketInbox: whole packets out of arbitrary byte splits, limits, and leftovers.
#include "proxy/net/packet_inbox.h"

#include <gtest/gtest.h>

#include <vector>

namespace camproxy::proxy {
namespace {

std::vector<uint8_t> frame(uint8_t seq, std::vector<uint8_t> payload) {
  std::vector<uint8_t> out = {static_cast<uint8_t>(payload.size()), static_cast<uint8_t>(payload.size() >> 8),
                              static_cast<uint8_t>(payload.size() >> 16), seq};
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

TEST(PacketInbox, ReassemblesAcrossEverySplitPoint) {
  auto bytes = frame(1, {1, 2, 3});
  auto second = frame(2, {9});
  bytes.insert(bytes.end(), second.begin(), second.end());
  for (size_t cut = 0; cut <= bytes.size(); ++cut) {
    PacketInbox inbox(1024);
    inbox.append(std::span(bytes).first(cut));
    std::vector<std::vector<uint8_t>> got;
    auto drain = [&] {
      while (true) {
        auto p = inbox.next();
        if (!p) {
          EXPECT_EQ(p.error(), protocol::ProtoErr::need_more);
          return;
        }
        got.emplace_back(p->payload.begin(), p->payload.end());
      }
    };
    drain();
    inbox.append(std::span(bytes).subspan(cut));
    drain();
    ASSERT_EQ(got.size(), 2u) << "cut at " << cut;
    EXPECT_EQ(got[0], (std::vector<uint8_t>{1, 2, 3}));
    EXPECT_EQ(got[1], (std::vector<uint8_t>{9}));
    EXPECT_TRUE(inbox.empty());
  }
}

TEST(PacketInbox, RefusesPacketsAboveTheLimitFromTheHeaderAlone) {
  PacketInbox inbox(16);
  std::vector<uint8_t> header = {0x00, 0x10, 0x00, 0x00};  // 4096-byte payload, body not sent
  inbox.append(header);
  auto p = inbox.next();
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error(), protocol::ProtoErr::too_large);
}

TEST(PacketInbox, KeepsBytesAfterTheLastPacket) {
  PacketInbox inbox(1024);
  auto bytes = frame(1, {7});
  bytes.push_back(0x16);  // e.g. the first TLS record byte after an SSLRequest
  bytes.push_back(0x03);
  inbox.append(bytes);
  ASSERT_TRUE(inbox.next());
  EXPECT_FALSE(inbox.empty());
  auto rest = inbox.take_rest();
  EXPECT_EQ(rest, (std::vector<uint8_t>{0x16, 0x03}));
  EXPECT_TRUE(inbox.empty());
}

}  // namespace
}  // namespace camproxy::proxy
