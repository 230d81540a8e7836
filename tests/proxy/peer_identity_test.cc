// Peer identity at accept: SO_PEERCRED on a real unix socket pair, loopback by address family.
#include "proxy/net/peer_identity.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/config/listen_policy.h"

namespace camproxy::proxy {
namespace {

TEST(PeerIdentity, UnixPeerUidIsOurOwn) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  EXPECT_EQ(peer_uid(fds[0]), std::optional<uint32_t>(::getuid()));
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_EQ(peer_uid(-1), std::nullopt);
}

sockaddr_storage v4(const char* ip) {
  sockaddr_storage ss{};
  auto& a = reinterpret_cast<sockaddr_in&>(ss);
  a.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a.sin_addr);
  return ss;
}

sockaddr_storage v6(const char* ip) {
  sockaddr_storage ss{};
  auto& a = reinterpret_cast<sockaddr_in6&>(ss);
  a.sin6_family = AF_INET6;
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  return ss;
}

TEST(PeerIdentity, LoopbackPeers) {
  EXPECT_TRUE(is_loopback_peer(v4("127.0.0.1")));
  EXPECT_TRUE(is_loopback_peer(v4("127.3.2.1")));
  EXPECT_TRUE(is_loopback_peer(v6("::1")));
  EXPECT_TRUE(is_loopback_peer(v6("::ffff:127.0.0.1")));
  EXPECT_FALSE(is_loopback_peer(v4("10.0.0.1")));
  EXPECT_FALSE(is_loopback_peer(v4("128.0.0.1")));
  EXPECT_FALSE(is_loopback_peer(v6("::ffff:10.0.0.1")));
  EXPECT_FALSE(is_loopback_peer(v6("fe80::1")));
  EXPECT_FALSE(is_loopback_peer(sockaddr_storage{}));
}

TEST(ListenPolicy, LoopbackHosts) {
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("127.0.0.2"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("db.example"));
}

}  // namespace
}  // namespace camproxy::proxy
