#include "proxy/listen_socket.h"

#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <vector>

namespace camproxy::proxy {
namespace {

constexpr int kBacklog = 1024;

bool fail_errno(std::string& error, const std::string& what, int fd) {
  error = what + ": " + std::strerror(errno);
  if (fd >= 0) ::close(fd);
  return false;
}

std::optional<uint32_t> numeric_id(const std::string& s) {
  uint32_t id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return id;
}

// "user[:group]", names or numbers, as uid and gid for chown(); -1 leaves one unchanged.
bool resolve_owner(const std::string& owner, uid_t& uid, gid_t& gid, std::string& error) {
  uid = static_cast<uid_t>(-1);
  gid = static_cast<gid_t>(-1);
  const auto colon = owner.find(':');
  const std::string user_name = owner.substr(0, colon);
  const std::string group_name = colon == std::string::npos ? "" : owner.substr(colon + 1);
  std::vector<char> buf(16384);
  if (auto n = numeric_id(user_name)) {
    uid = *n;
  } else {
    passwd pw{};
    passwd* found = nullptr;
    if (getpwnam_r(user_name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      error = "unknown user '" + user_name + "'";
      return false;
    }
    uid = found->pw_uid;
  }
  if (group_name.empty()) return true;
  if (auto n = numeric_id(group_name)) {
    gid = *n;
  } else {
    struct group gr {};
    struct group* found = nullptr;
    if (getgrnam_r(group_name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      error = "unknown group '" + group_name + "'";
      return false;
    }
    gid = found->gr_gid;
  }
  return true;
}

// Mode and owner of the socket file; on failure `fd` (when >= 0) is closed.
bool apply_unix_permissions(const ListenAddress& a, int fd, std::string& error) {
  const std::string where = "unix:" + a.path;
  if (::chmod(a.path.c_str(), a.unix_mode) != 0) return fail_errno(error, "cannot chmod " + where, fd);
  if (a.unix_owner.empty()) return true;
  uid_t uid = 0;
  gid_t gid = 0;
  if (!resolve_owner(a.unix_owner, uid, gid, error)) {
    error = "cannot give " + where + " to owner '" + a.unix_owner + "': " + error;
    if (fd >= 0) ::close(fd);
    return false;
  }
  if (::chown(a.path.c_str(), uid, gid) != 0)
    return fail_errno(error, "cannot give " + where + " to owner '" + a.unix_owner + "' (needs root or CAP_CHOWN)", fd);
  return true;
}

bool open_tcp(const HostPort& hp, int& fd_out, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.port);
  // Numeric addresses and "localhost" need no DNS; a host name of a non-loopback listener
  // (allowed only with local authentication and TLS) is looked up once, at start.
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

bool open_unix(const ListenAddress& a, int& fd_out, std::string& error) {
  const std::string& path = a.path;
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
  // Before listen(): until then a connect() is refused, so no client gets in through the
  // permissions the umask gave.
  if (!apply_unix_permissions(a, fd, error)) {
    ::unlink(path.c_str());
    return false;
  }
  if (::listen(fd, kBacklog) != 0) return fail_errno(error, "cannot listen on unix:" + path, fd);
  fd_out = fd;
  return true;
}

}  // namespace

bool open_listen_socket(const ListenAddress& address, ListenSocket& out, std::string& error) {
  out.address = address;
  return address.is_unix ? open_unix(address, out.fd, error) : open_tcp(address.tcp, out.fd, error);
}

void close_listen_socket(ListenSocket& s) {
  if (s.fd < 0) return;
  ::close(s.fd);
  s.fd = -1;
  if (s.address.is_unix) ::unlink(s.address.path.c_str());
}

bool same_endpoint(const ListenAddress& a, const ListenAddress& b) {
  return a.is_unix == b.is_unix && (a.is_unix ? a.path == b.path : a.tcp == b.tcp);
}

bool adopt_listen_socket(ListenSocket& s, const ListenAddress& address, std::string& error) {
  s.address = address;
  return !address.is_unix || apply_unix_permissions(address, -1, error);
}

}  // namespace camproxy::proxy
