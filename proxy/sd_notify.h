#pragma once
// systemd's notify protocol (sd_notify(3)) without libsystemd: each message is one datagram of
// "KEY=value" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name
// written with a leading '@'). Under any other service manager (no $NOTIFY_SOCKET) it does nothing.
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace camproxy::proxy {

class NotifySocket {
 public:
  NotifySocket() = default;
  // An empty or unusable address (relative path, too long) leaves the socket disabled.
  explicit NotifySocket(std::string_view address);
  static NotifySocket from_environment();  // $NOTIFY_SOCKET
  NotifySocket(NotifySocket&& other) noexcept;
  NotifySocket& operator=(NotifySocket&& other) noexcept;
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  ~NotifySocket();

  bool enabled() const { return fd_ >= 0; }
  // Never blocks: a full or missing receiver loses the message (systemd retries nothing either).
  bool send(std::string_view message) const;

 private:
  int fd_ = -1;
  sockaddr_un address_{};
  socklen_t address_length_ = 0;
};

// Half of $WATCHDOG_USEC (systemd's advice: ping at half the timeout) when the watchdog is
// armed for this process: $WATCHDOG_PID unset or our pid.
std::optional<std::chrono::microseconds> watchdog_interval_from_environment();

// What the control loop tells systemd: READY=1 and STOPPING=1 once each, STATUS= when the
// line changed and at most every kStatusInterval, WATCHDOG=1 every watchdog interval.
class SystemdNotifier {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kStatusInterval{2};

  SystemdNotifier() = default;
  SystemdNotifier(NotifySocket socket, std::optional<std::chrono::microseconds> watchdog_interval)
      : socket_(std::move(socket)), watchdog_interval_(watchdog_interval) {}

  bool enabled() const { return socket_.enabled(); }
  // How often the control loop should call tick(): fine enough for READY=1 to follow
  // readiness closely and for the watchdog.
  std::chrono::milliseconds tick_interval() const;

  void ready();
  void stopping();
  void status(std::string_view line, Clock::time_point now);
  void watchdog(Clock::time_point now);

 private:
  NotifySocket socket_;
  std::optional<std::chrono::microseconds> watchdog_interval_;
  bool ready_sent_ = false;
  bool stopping_sent_ = false;
  std::string last_status_;
  std::optional<Clock::time_point> last_status_at_;
  std::optional<Clock::time_point> last_watchdog_at_;
};

}  // namespace camproxy::proxy
