// Listen sockets. Unix: one socket, mode and owner applied at open and again when a reload
// hands the socket to a target with other settings for the same path. TCP: a group of
// SO_REUSEPORT sockets, one per worker, behind a probe that keeps a busy address an error.
#include "proxy/net/listen_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

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
  ASSERT_TRUE(open_listen_socket(unix_address(0600), 2, s, error)) << error;
  EXPECT_EQ(s.fds.size(), 1u);  // no group: SO_REUSEPORT does not apply to AF_UNIX
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

TEST_F(UnixSocketDir, ModeIsExactWhateverTheUmask) {
  const mode_t old_umask = ::umask(0077);
  ListenSocket s;
  std::string error;
  const bool opened = open_listen_socket(unix_address(0666), 1, s, error);
  ::umask(old_umask);
  ASSERT_TRUE(opened) << error;
  EXPECT_EQ(mode_of(s.address.path), 0666u);
  close_listen_socket(s);
}

// A symlink put at the socket's path after the bind (by whoever may write the directory) must
// not lend the socket's mode to the file it points at.
TEST_F(UnixSocketDir, ASymlinkAtThePathIsNotFollowed) {
  ListenSocket s;
  std::string error;
  ASSERT_TRUE(open_listen_socket(unix_address(0600), 1, s, error)) << error;
  const std::string target = dir_ + "/precious";
  const int fd = ::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ::fchmod(fd, 0600);
  ::close(fd);
  ASSERT_EQ(::unlink(s.address.path.c_str()), 0);
  ASSERT_EQ(::symlink(target.c_str(), s.address.path.c_str()), 0);

  EXPECT_FALSE(adopt_listen_socket(s, unix_address(0666), error));
  EXPECT_NE(error.find("cannot chmod unix:" + s.address.path), std::string::npos) << error;
  EXPECT_EQ(mode_of(target), 0600u);
  close_listen_socket(s);  // removes the link, not the file
  EXPECT_EQ(mode_of(target), 0600u);
  ::unlink(target.c_str());
}

TEST_F(UnixSocketDir, UnknownOwnerFailsAndLeavesNoSocketFile) {
  ListenAddress a = unix_address(0660);
  a.unix_owner = "no-such-user-camproxy";
  ListenSocket s;
  std::string error;
  EXPECT_FALSE(open_listen_socket(a, 1, s, error));
  EXPECT_NE(error.find("unknown user 'no-such-user-camproxy'"), std::string::npos) << error;
  EXPECT_NE(::access(a.path.c_str(), F_OK), 0);
}

ListenAddress loopback(uint16_t port) {
  ListenAddress a;
  a.tcp = {"127.0.0.1", port};
  return a;
}

uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  return ntohs(a.sin_port);
}

// A plain listener, as another program would open it; -1 when the port is taken.
int plain_listener(uint16_t port, bool reuse_port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  return fd;
}

// Which socket of the group has the one connection in flight waiting: its index, -1 when none
// has it within 5 s, -2 when more than one says so (the fds would then share one queue).
int socket_with_the_connection(const ListenSocket& s) {
  std::vector<pollfd> polls;
  for (int fd : s.fds) polls.push_back({fd, POLLIN, 0});
  if (::poll(polls.data(), polls.size(), 5000) <= 0) return -1;
  int found = -1;
  for (size_t i = 0; i < polls.size(); ++i) {
    if ((polls[i].revents & POLLIN) == 0) continue;
    if (found >= 0) return -2;
    found = static_cast<int>(i);
  }
  return found;
}

TEST(ListenGroup, EachSocketOfTheGroupAcceptsTheConnectionsTheKernelPutsOnIt) {
  ListenSocket s;
  std::string error;
  ASSERT_TRUE(open_listen_socket(loopback(0), 4, s, error)) << error;  // port 0: the kernel's choice
  ASSERT_EQ(s.fds.size(), 4u);
  const uint16_t port = port_of(s.fds[0]);
  ASSERT_NE(port, 0);
  for (int fd : s.fds) EXPECT_EQ(port_of(fd), port);  // one port for the whole group
  std::vector<int> accepted(s.fds.size(), 0);
  // Each connection has its own source port, so its hash puts it on one socket or another;
  // 400 connections leave a socket without one with a probability of about 4 * 0.75^400.
  for (int i = 0; i < 400 && std::count(accepted.begin(), accepted.end(), 0) > 0; ++i) {
    const int client = connect_to(port);
    const int index = socket_with_the_connection(s);
    ASSERT_GE(index, 0) << (index == -1 ? "no socket has the connection" : "several sockets have it");
    const int conn = ::accept4(s.fds[static_cast<size_t>(index)], nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(conn, 0) << std::strerror(errno);
    ++accepted[static_cast<size_t>(index)];
    ::close(client);
    ::close(conn);
  }
  for (size_t i = 0; i < accepted.size(); ++i) EXPECT_GT(accepted[i], 0) << "socket " << i << " got no connection";
  close_listen_socket(s);
}

// steer_listen_group(): every connection goes to the socket named by its place in the group
// (open_listen_socket's order), whichever socket of the group the program is attached through,
// until another program names another socket.
TEST(ListenGroup, SteeringPutsEveryConnectionOnTheNamedSocket) {
  ListenSocket s;
  std::string error;
  ASSERT_TRUE(open_listen_socket(loopback(0), 3, s, error)) << error;
  const uint16_t port = port_of(s.fds[0]);
  for (const int steer_to : {2, 0, 1}) {
    ASSERT_TRUE(steer_listen_group(s.fds[static_cast<size_t>((steer_to + 1) % 3)], steer_to)) << std::strerror(errno);
    for (int i = 0; i < 20; ++i) {
      const int client = connect_to(port);
      ASSERT_EQ(socket_with_the_connection(s), steer_to) << "connection " << i;
      const int conn = ::accept4(s.fds[static_cast<size_t>(steer_to)], nullptr, nullptr, SOCK_CLOEXEC);
      ASSERT_GE(conn, 0) << std::strerror(errno);
      ::close(client);
      ::close(conn);
    }
  }
  close_listen_socket(s);
}

TEST(ListenGroup, AnAddressSomethingListensOnIsInUse) {
  ListenSocket first;
  std::string error;
  ASSERT_TRUE(open_listen_socket(loopback(0), 2, first, error)) << error;
  const uint16_t port = port_of(first.fds[0]);
  const std::string in_use = "cannot listen on 127.0.0.1:" + std::to_string(port) + ": Address already in use";
  // A second camproxy: its group would join the first one's, were it not for the probe.
  ListenSocket second;
  EXPECT_FALSE(open_listen_socket(loopback(port), 2, second, error));
  EXPECT_EQ(error, in_use);
  EXPECT_TRUE(second.fds.empty());
  close_listen_socket(first);

  for (bool reuse_port : {false, true}) {  // another program, SO_REUSEPORT or not
    const int other = plain_listener(port, reuse_port);
    ASSERT_GE(other, 0);
    error.clear();
    EXPECT_FALSE(open_listen_socket(loopback(port), 2, second, error)) << "SO_REUSEPORT " << reuse_port;
    EXPECT_EQ(error, in_use);
    ::close(other);
  }
}

TEST(ListenGroup, ClosingTheGroupFreesThePort) {
  ListenSocket s;
  std::string error;
  ASSERT_TRUE(open_listen_socket(loopback(0), 3, s, error)) << error;
  const uint16_t port = port_of(s.fds[0]);
  close_listen_socket(s);
  EXPECT_TRUE(s.fds.empty());
  const int other = plain_listener(port, false);  // fails while any socket of the group is open
  EXPECT_GE(other, 0) << std::strerror(errno);
  if (other >= 0) ::close(other);
}

int open_fd_count() {
  int n = 0;
  for (int fd = 0; fd < 4096; ++fd) n += ::fcntl(fd, F_GETFD) >= 0 ? 1 : 0;
  return n;
}

TEST(ListenGroup, ASocketThatCannotBeOpenedClosesTheOnesBefore) {
  ListenSocket s;
  std::string error;
  ASSERT_TRUE(open_listen_socket(loopback(0), 1, s, error)) << error;
  const uint16_t port = port_of(s.fds[0]);
  close_listen_socket(s);
  const int fds_before = open_fd_count();
  // An fd limit that leaves 3 numbers free: the probe takes one and frees it, then the first
  // three of the 8 sockets of the group take them and the fourth fails.
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  int limit = 0;
  for (int free_numbers = 0; free_numbers < 3; ++limit) free_numbers += ::fcntl(limit, F_GETFD) < 0 ? 1 : 0;
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(limit);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const bool opened = open_listen_socket(loopback(port), 8, s, error);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_FALSE(opened);
  EXPECT_EQ(error, "cannot listen on 127.0.0.1:" + std::to_string(port) + ": Too many open files");
  EXPECT_TRUE(s.fds.empty());
  EXPECT_EQ(open_fd_count(), fds_before);
  const int other = plain_listener(port, false);  // none of the group's sockets is left bound
  EXPECT_GE(other, 0) << std::strerror(errno);
  if (other >= 0) ::close(other);
}

TEST(ListenGroup, EveryFdHasAWorkerAndEveryWorkerAnFd) {
  for (int size = 1; size <= 5; ++size) {
    for (int workers = 1; workers <= 4; ++workers) {
      ListenSocket s;
      for (int i = 0; i < size; ++i) s.fds.push_back(100 + i);
      std::multiset<int> listened;
      for (int w = 0; w < workers; ++w) {
        const auto mine = worker_fds(s, w, workers);
        EXPECT_FALSE(mine.empty()) << "worker " << w << " of " << workers << ", group of " << size;
        listened.insert(mine.begin(), mine.end());
      }
      for (int fd : s.fds) {
        // As many sockets as workers or more: each socket has one worker.
        const size_t expected = size >= workers ? 1 : static_cast<size_t>(workers / size + (fd - 100 < workers % size));
        EXPECT_EQ(listened.count(fd), expected) << "fd " << fd << ", " << workers << " workers, group of " << size;
      }
    }
  }
  ListenSocket one;
  one.fds = {7};
  EXPECT_EQ(worker_fds(one, 1, 2), std::vector<int>{7});  // a unix socket: every worker listens on it
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
