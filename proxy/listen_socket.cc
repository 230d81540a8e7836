#include "proxy/listen_socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace camproxy::proxy {
namespace {

constexpr int kBacklog = 1024;
constexpr mode_t kUnixSocketMode = 0660;  // owner and group only (spec §2.8)

bool fail_errno(std::string& error, const std::string& what, int fd) {
  error = what + ": " + std::strerror(errno);
  if (fd >= 0) ::close(fd);
  return false;
}

bool open_tcp(const HostPort& hp, int& fd_out, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.port);
  // Only loopback names pass config validation, so this look-up never leaves the machine.
  if (int rc = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    error = "cannot resolve " + hp.host + ": " + gai_strerror(rc);
    return false;
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return fail_errno(error, "socket", -1);
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = ::bind(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0) return fail_errno(error, "cannot listen on " + hp.to_string(), fd);
  if (::listen(fd, kBacklog) != 0) return fail_errno(error, "cannot listen on " + hp.to_string(), fd);
  fd_out = fd;
  return true;
}

bool open_unix(const std::string& path, int& fd_out, std::string& error) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    error = "unix socket path too long: " + path;
    return false;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = "cannot listen on unix:" + path + ": the path exists and is not a socket";
      return false;
    }
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    if (live) {
      error = "cannot listen on unix:" + path + ": another process is listening there";
      return false;
    }
    ::unlink(path.c_str());
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno(error, "socket", -1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail_errno(error, "cannot listen on unix:" + path, fd);
  if (::chmod(path.c_str(), kUnixSocketMode) != 0) return fail_errno(error, "chmod unix:" + path, fd);
  if (::listen(fd, kBacklog) != 0) return fail_errno(error, "cannot listen on unix:" + path, fd);
  fd_out = fd;
  return true;
}

}  // namespace

bool open_listen_socket(const ListenAddress& address, ListenSocket& out, std::string& error) {
  out.address = address;
  return address.is_unix ? open_unix(address.path, out.fd, error) : open_tcp(address.tcp, out.fd, error);
}

void close_listen_socket(ListenSocket& s) {
  if (s.fd < 0) return;
  ::close(s.fd);
  s.fd = -1;
  if (s.address.is_unix) ::unlink(s.address.path.c_str());
}

}  // namespace camproxy::proxy
