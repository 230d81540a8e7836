#include "proxy/net/acceptor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "proxy/ops/metrics.h"
#include "tests/proxy/loop_harness.h"

namespace camproxy::proxy {
namespace {

// A listening socket on 127.0.0.1 and an Acceptor on it, on a real loop.
class AcceptorTest : public testing::LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof address_;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address_), &len), 0);
    ASSERT_EQ(acceptor_.start(fd), 0);
  }

  void TearDown() override {
    acceptor_.close();
    for (int fd : accepted_) ::close(fd);
    for (int fd : clients_) ::close(fd);
    LoopTest::TearDown();
  }

  // A client that connects (the kernel completes the handshake into the backlog).
  int connect_client() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address_), sizeof address_), 0);
    clients_.push_back(fd);
    return fd;
  }

  static void on_accepted(void* self, int fd) { static_cast<AcceptorTest*>(self)->accepted_.push_back(fd); }

  sockaddr_in address_{};
  std::vector<int> accepted_;
  std::vector<int> clients_;
  Acceptor acceptor_{loop(), "test", on_accepted, this};
};

TEST_F(AcceptorTest, HandsEveryPendingConnectionToTheCallback) {
  for (int i = 0; i < 3; ++i) connect_client();
  ASSERT_TRUE(run_until([&] { return accepted_.size() == 3; }));
  for (int fd : accepted_) EXPECT_NE(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_FALSE(acceptor_.paused());
}

// libuv's uv_listen would accept and close the pending client here (its "emfile trick"); the
// Acceptor leaves it in the backlog, counts the pause and accepts it once descriptors are free.
TEST_F(AcceptorTest, OutOfDescriptorsPausesAndKeepsTheClientWaiting) {
  Counter& pauses = process_metrics().counter(MetricId::accept_pauses, AcceptPause::process_fd_limit);
  const uint64_t pauses_before = pauses.value();
  const int client = connect_client();
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit none = saved;
  none.rlim_cur = 3;  // every new descriptor's number is above the limit: EMFILE
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &none), 0);
  const bool paused = run_until([&] { return acceptor_.paused(); });
  run_for(3 * Acceptor::kRetryMs);  // retries that fail again while paused
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(paused);
  EXPECT_TRUE(accepted_.empty());
  EXPECT_EQ(pauses.value(), pauses_before + 1) << "one pause, however many retries";
  char byte = 0;
  EXPECT_EQ(::recv(client, &byte, 1, MSG_DONTWAIT), -1) << "the waiting client was not closed";
  EXPECT_EQ(errno, EAGAIN);

  ASSERT_TRUE(run_until([&] { return accepted_.size() == 1; }, 10 * Acceptor::kRetryMs));
  EXPECT_FALSE(acceptor_.paused());
  const char hello = 'h';
  ASSERT_EQ(::send(accepted_[0], &hello, 1, MSG_NOSIGNAL), 1);
  EXPECT_EQ(::recv(client, &byte, 1, 0), 1) << "the accepted socket is the waiting client's";
  EXPECT_EQ(byte, 'h');
}

TEST_F(AcceptorTest, CloseStopsAcceptingAndClosesTheSocket) {
  acceptor_.close();
  acceptor_.close();  // twice is fine
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  EXPECT_NE(::connect(fd, reinterpret_cast<sockaddr*>(&address_), sizeof address_), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  ::close(fd);
  EXPECT_TRUE(accepted_.empty());
}

}  // namespace
}  // namespace camproxy::proxy
