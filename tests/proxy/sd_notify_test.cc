#include "proxy/sd_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace camproxy::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = SystemdNotifier::Clock;

// What systemd does: a datagram socket bound at the address given in $NOTIFY_SOCKET.
class Receiver {
 public:
  explicit Receiver(const std::string& address) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address.data(), address.size());
    const bool abstract = address.front() == '@';
    if (abstract) addr.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + (abstract ? 0 : 1));
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), length), 0) << std::strerror(errno);
    timeval timeout{1, 0};  // bounded wait for a datagram
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~Receiver() { ::close(fd_); }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  // The next datagram, or "" when none arrives within a second.
  std::string next() {
    char buf[512];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  bool nothing_pending() {
    char buf[512];
    return ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT) < 0;
  }

 private:
  int fd_ = -1;
};

std::string temp_socket_path() {
  return (std::filesystem::temp_directory_path() / ("camproxy-notify-" + std::to_string(::getpid()) + ".sock"))
      .string();
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (value == nullptr) {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

TEST(NotifySocket, SendsOneDatagramToThePathInNotifySocket) {
  const auto path = temp_socket_path();
  std::filesystem::remove(path);
  Receiver systemd(path);
  ScopedEnv env("NOTIFY_SOCKET", path.c_str());
  const auto socket = NotifySocket::from_environment();
  ASSERT_TRUE(socket.enabled());
  EXPECT_TRUE(socket.send("READY=1"));
  EXPECT_EQ(systemd.next(), "READY=1");
  std::filesystem::remove(path);
}

TEST(NotifySocket, AtSignNamesAnAbstractSocket) {
  const std::string name = "@camproxy-notify-test-" + std::to_string(::getpid());
  Receiver systemd(name);
  const NotifySocket socket(name);
  ASSERT_TRUE(socket.enabled());
  EXPECT_TRUE(socket.send("STOPPING=1"));
  EXPECT_EQ(systemd.next(), "STOPPING=1");
}

TEST(NotifySocket, DisabledWithoutAUsableAddress) {
  ScopedEnv env("NOTIFY_SOCKET", nullptr);
  EXPECT_FALSE(NotifySocket::from_environment().enabled());
  EXPECT_FALSE(NotifySocket("relative/path").enabled());
  EXPECT_FALSE(NotifySocket("@").enabled());
  EXPECT_FALSE(NotifySocket("/" + std::string(sizeof(sockaddr_un::sun_path), 'x')).enabled());
  EXPECT_FALSE(NotifySocket().send("READY=1"));
}

TEST(NotifySocket, SendToAMissingReceiverFailsWithoutBlocking) {
  const NotifySocket socket("/nonexistent-dir/notify.sock");
  ASSERT_TRUE(socket.enabled());
  EXPECT_FALSE(socket.send("READY=1"));
}

TEST(WatchdogInterval, HalfOfWatchdogUsecForThisProcess) {
  ScopedEnv usec("WATCHDOG_USEC", "20000000");
  {
    ScopedEnv pid("WATCHDOG_PID", nullptr);
    EXPECT_EQ(watchdog_interval_from_environment(), std::chrono::microseconds(10'000'000));
  }
  {
    const auto ours = std::to_string(::getpid());
    ScopedEnv pid("WATCHDOG_PID", ours.c_str());
    EXPECT_EQ(watchdog_interval_from_environment(), std::chrono::microseconds(10'000'000));
  }
  {
    const auto other = std::to_string(::getpid() + 1);
    ScopedEnv pid("WATCHDOG_PID", other.c_str());
    EXPECT_EQ(watchdog_interval_from_environment(), std::nullopt);  // meant for another process
  }
}

TEST(WatchdogInterval, UnsetZeroOrGarbageMeansNoWatchdog) {
  ScopedEnv pid("WATCHDOG_PID", nullptr);
  for (const char* value : {static_cast<const char*>(nullptr), "0", "", "12x", "-5", "99999999999999999999999"}) {
    ScopedEnv usec("WATCHDOG_USEC", value);
    EXPECT_EQ(watchdog_interval_from_environment(), std::nullopt) << (value ? value : "unset");
  }
}

class SystemdNotifierTest : public ::testing::Test {
 protected:
  const std::string name_ = "@camproxy-notifier-test-" + std::to_string(::getpid());
  Receiver systemd_{name_};
};

TEST_F(SystemdNotifierTest, ReadyAndStoppingAreSentOnce) {
  SystemdNotifier notifier(NotifySocket(name_), std::nullopt);
  notifier.ready();
  notifier.ready();
  notifier.stopping();
  notifier.stopping();
  EXPECT_EQ(systemd_.next(), "READY=1");
  EXPECT_EQ(systemd_.next(), "STOPPING=1");
  EXPECT_TRUE(systemd_.nothing_pending());
}

TEST_F(SystemdNotifierTest, StatusWhenChangedAtMostEveryStatusInterval) {
  SystemdNotifier notifier(NotifySocket(name_), std::nullopt);
  const auto t0 = Clock::now();
  notifier.status("ready; open sessions: 0", t0);
  EXPECT_EQ(systemd_.next(), "STATUS=ready; open sessions: 0");
  notifier.status("ready; open sessions: 0", t0 + 5s);  // unchanged: nothing
  notifier.status("ready; open sessions: 1", t0 + 1s);  // changed, too soon: held back
  EXPECT_TRUE(systemd_.nothing_pending());
  notifier.status("ready; open sessions: 2\nREADY=1", t0 + SystemdNotifier::kStatusInterval);
  EXPECT_EQ(systemd_.next(), "STATUS=ready; open sessions: 2 READY=1");  // one line, no injected key
}

TEST_F(SystemdNotifierTest, WatchdogEveryIntervalOnlyWhenArmed) {
  const auto t0 = Clock::now();
  SystemdNotifier unarmed(NotifySocket(name_), std::nullopt);
  unarmed.watchdog(t0);
  EXPECT_TRUE(systemd_.nothing_pending());
  EXPECT_EQ(unarmed.tick_interval(), 250ms);

  SystemdNotifier armed(NotifySocket(name_), std::chrono::microseconds(1'000'000));
  EXPECT_EQ(armed.tick_interval(), 250ms);
  armed.watchdog(t0);
  EXPECT_EQ(systemd_.next(), "WATCHDOG=1");
  armed.watchdog(t0 + 999ms);
  EXPECT_TRUE(systemd_.nothing_pending());
  armed.watchdog(t0 + 1s);
  EXPECT_EQ(systemd_.next(), "WATCHDOG=1");
  EXPECT_EQ(SystemdNotifier(NotifySocket(name_), std::chrono::microseconds(100'000)).tick_interval(), 100ms);
}

}  // namespace
}  // namespace camproxy::proxy
