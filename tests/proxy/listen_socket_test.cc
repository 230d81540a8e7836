// Unix listen sockets: mode and owner applied at open, and again when a reload hands the
// socket to a target with other settings for the same path.
#include "proxy/listen_socket.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace camproxy::proxy {
namespace {

class UnixSocketDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/camproxy_listen_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ::rmdir(dir_.c_str()); }

  ListenAddress unix_address(uint32_t mode) const {
    ListenAddress a;
    a.is_unix = true;
    a.path = dir_ + "/s.sock";
    a.unix_mode = mode;
    return a;
  }
  static uint32_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return st.st_mode & 07777;
  }

  std::string dir_;
};

TEST_F(UnixSocketDir, ModeIsAppliedAtOpenAndAgainWhenAdopted) {
  ListenSocket s;
  std::string error;
  ASSERT_TRUE(open_listen_socket(unix_address(0600), s, error)) << error;
  EXPECT_EQ(mode_of(s.address.path), 0600u);

  ListenAddress next = unix_address(0640);
  next.allowed_peer_uids = {1000};
  ASSERT_TRUE(same_endpoint(s.address, next));
  EXPECT_FALSE(s.address == next);
  ASSERT_TRUE(adopt_listen_socket(s, next, error)) << error;
  EXPECT_EQ(mode_of(next.path), 0640u);
  EXPECT_EQ(s.address, next);
  close_listen_socket(s);
}

TEST_F(UnixSocketDir, UnknownOwnerFailsAndLeavesNoSocketFile) {
  ListenAddress a = unix_address(0660);
  a.unix_owner = "no-such-user-camproxy";
  ListenSocket s;
  std::string error;
  EXPECT_FALSE(open_listen_socket(a, s, error));
  EXPECT_NE(error.find("unknown user 'no-such-user-camproxy'"), std::string::npos) << error;
  EXPECT_NE(::access(a.path.c_str(), F_OK), 0);
}

TEST(ListenSocket, SameEndpointComparesPathOrHostAndPortOnly) {
  ListenAddress a;
  a.tcp = {"127.0.0.1", 3306};
  ListenAddress b = a;
  b.allowed_peer_uids = {1};
  EXPECT_TRUE(same_endpoint(a, b));
  b.tcp.port = 3307;
  EXPECT_FALSE(same_endpoint(a, b));
  ListenAddress u;
  u.is_unix = true;
  u.path = "/run/x.sock";
  EXPECT_FALSE(same_endpoint(a, u));
}

}  // namespace
}  // namespace camproxy::proxy
