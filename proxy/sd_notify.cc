#include "proxy/sd_notify.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace camproxy::proxy {
namespace {

constexpr std::chrono::milliseconds kMaxTick{250};

std::optional<uint64_t> parse_unsigned(const char* text) {
  if (text == nullptr || *text == '\0') return std::nullopt;
  uint64_t value = 0;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9' || value > (UINT64_MAX - 9) / 10) return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(*p - '0');
  }
  return value;
}

}  // namespace

NotifySocket::NotifySocket(std::string_view address) {
  // sd_notify(3): '@' names a socket in the abstract namespace (a leading NUL byte), anything
  // else must be an absolute path. Both must fit sun_path (no terminator needed when abstract).
  const bool abstract = !address.empty() && address.front() == '@';
  if (address.size() < 2 || (!abstract && address.front() != '/')) return;
  if (address.size() > sizeof(address_.sun_path) - (abstract ? 0 : 1)) return;
  address_.sun_family = AF_UNIX;
  std::memcpy(address_.sun_path, address.data(), address.size());
  if (abstract) address_.sun_path[0] = '\0';
  address_length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + (abstract ? 0 : 1));
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

NotifySocket NotifySocket::from_environment() {
  const char* address = std::getenv("NOTIFY_SOCKET");
  return address == nullptr ? NotifySocket() : NotifySocket(address);
}

NotifySocket::NotifySocket(NotifySocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), address_(other.address_), address_length_(other.address_length_) {}

NotifySocket& NotifySocket::operator=(NotifySocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    address_ = other.address_;
    address_length_ = other.address_length_;
  }
  return *this;
}

NotifySocket::~NotifySocket() {
  if (fd_ >= 0) ::close(fd_);
}

bool NotifySocket::send(std::string_view message) const {
  if (fd_ < 0) return false;
  const auto sent = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                             reinterpret_cast<const sockaddr*>(&address_), address_length_);
  return sent == static_cast<ssize_t>(message.size());
}

std::optional<std::chrono::microseconds> watchdog_interval_from_environment() {
  const auto usec = parse_unsigned(std::getenv("WATCHDOG_USEC"));
  if (!usec || *usec == 0) return std::nullopt;
  if (const char* pid_text = std::getenv("WATCHDOG_PID"); pid_text != nullptr) {
    const auto pid = parse_unsigned(pid_text);
    if (!pid || *pid != static_cast<uint64_t>(::getpid())) return std::nullopt;
  }
  return std::chrono::microseconds(std::max<uint64_t>(*usec / 2, 1));
}

std::chrono::milliseconds SystemdNotifier::tick_interval() const {
  if (!watchdog_interval_) return kMaxTick;
  const auto watchdog = std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog_interval_);
  return std::clamp(watchdog, std::chrono::milliseconds(1), kMaxTick);
}

void SystemdNotifier::ready() {
  if (ready_sent_) return;
  ready_sent_ = socket_.send("READY=1");
}

void SystemdNotifier::stopping() {
  if (stopping_sent_) return;
  stopping_sent_ = socket_.send("STOPPING=1");
}

void SystemdNotifier::status(std::string_view line, Clock::time_point now) {
  if (line == last_status_) return;
  if (last_status_at_ && now - *last_status_at_ < kStatusInterval) return;  // the next tick sends it
  std::string message = "STATUS=" + std::string(line);
  std::replace(message.begin(), message.end(), '\n', ' ');  // one line: a newline starts another KEY=
  if (!socket_.send(message)) return;
  last_status_ = line;
  last_status_at_ = now;
}

void SystemdNotifier::watchdog(Clock::time_point now) {
  if (!watchdog_interval_) return;
  if (last_watchdog_at_ && now - *last_watchdog_at_ < *watchdog_interval_) return;
  if (socket_.send("WATCHDOG=1")) last_watchdog_at_ = now;
}

}  // namespace camproxy::proxy
