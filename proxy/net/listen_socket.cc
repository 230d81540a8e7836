#include "proxy/net/listen_socket.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
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

// Mode and owner of the socket file; on failure `fd` (when >= 0) is closed. Neither follows a
// symlink: whoever may write the socket's directory could have put one at the path since the
// bind, pointing at a file of ours (glibc's fchmodat refuses a symlink with EOPNOTSUPP;
// fchownat then changes the link itself).
bool apply_unix_permissions(const ListenAddress& a, int fd, std::string& error) {
  const std::string where = "unix:" + a.path;
  if (::fchmodat(AT_FDCWD, a.path.c_str(), a.unix_mode, AT_SYMLINK_NOFOLLOW) != 0)
    return fail_errno(error, "cannot chmod " + where, fd);
  if (a.unix_owner.empty()) return true;
  uid_t uid = 0;
  gid_t gid = 0;
  if (!resolve_owner(a.unix_owner, uid, gid, error)) {
    error = "cannot give " + where + " to owner '" + a.unix_owner + "': " + error;
    if (fd >= 0) ::close(fd);
    return false;
  }
  if (::fchownat(AT_FDCWD, a.path.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
    return fail_errno(error, "cannot give " + where + " to owner '" + a.unix_owner + "' (needs root or CAP_CHOWN)", fd);
  return true;
}

// A TCP listener's address, resolved once: the first result, as before there were groups.
struct TcpAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

bool resolve_tcp(const HostPort& hp, TcpAddress& out, std::string& error) {
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
  std::memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
  out.len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

// The port field of an AF_INET or AF_INET6 address, in network byte order.
in_port_t& port_field(sockaddr_storage& a) {
  return a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                                 : reinterpret_cast<sockaddr_in*>(&a)->sin_port;
}

// A socket bound to `a`, or -1 with `error`. With `reuse_port` it joins the sockets bound to
// the same address with SO_REUSEPORT (by the same user), otherwise no listener may be there.
int bind_tcp(const TcpAddress& a, bool reuse_port, const std::string& where, std::string& error) {
  int fd = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail_errno(error, "cannot listen on " + where, -1);
    return -1;
  }
  int one = 1;
  // A restart binds while connections of the last run are still in TIME_WAIT.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    fail_errno(error, "cannot listen on " + where + ": SO_REUSEPORT", fd);
    return -1;
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len) != 0) {
    fail_errno(error, "cannot listen on " + where, fd);
    return -1;
  }
  return fd;
}

bool open_tcp_group(const HostPort& hp, int size, std::vector<int>& fds, std::string& error) {
  TcpAddress a;
  if (!resolve_tcp(hp, a, error)) return false;
  const std::string where = hp.to_string();
  // The probe, bound without SO_REUSEPORT, fails while anything listens on the address, the
  // group of another camproxy included; the group's own sockets would share the port with a
  // process of the same user without a word.
  const int probe = bind_tcp(a, false, where, error);
  if (probe < 0) return false;
  if (hp.port == 0) {  // the port the kernel chose, for every socket of the group
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(probe, reinterpret_cast<sockaddr*>(&bound), &len) != 0)
      return fail_errno(error, "cannot listen on " + where + ": getsockname", probe);
    port_field(a.addr) = port_field(bound);
  }
  ::close(probe);
  for (int i = 0; i < std::max(size, 1); ++i) {
    int fd = bind_tcp(a, true, where, error);
    if (fd >= 0 && ::listen(fd, kBacklog) != 0) {
      fail_errno(error, "cannot listen on " + where, fd);
      fd = -1;
    }
    if (fd < 0) {
      for (int opened : fds) ::close(opened);
      fds.clear();
      return false;
    }
    fds.push_back(fd);
  }
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
  // Linux creates the socket file with the socket inode's mode less the umask (unix_bind in
  // net/unix/af_unix.c): set it first, so the file is never more open than asked, even between
  // bind() and the chmod below (which adds back what the umask took).
  if (::fchmod(fd, a.unix_mode) != 0) return fail_errno(error, "cannot chmod unix:" + path, fd);
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

bool open_listen_socket(const ListenAddress& address, int group_size, ListenSocket& out, std::string& error) {
  out.address = address;
  out.fds.clear();
  if (!address.is_unix) return open_tcp_group(address.tcp, group_size, out.fds, error);
  int fd = -1;
  if (!open_unix(address, fd, error)) return false;
  out.fds.push_back(fd);
  return true;
}

void close_listen_socket(ListenSocket& s) {
  if (s.fds.empty()) return;
  for (int fd : s.fds) ::close(fd);
  s.fds.clear();
  if (s.address.is_unix) ::unlink(s.address.path.c_str());
}

std::vector<int> worker_fds(const ListenSocket& s, int index, int workers) {
  const auto size = static_cast<int>(s.fds.size());
  if (size == 0 || workers <= 0) return {};
  if (size < workers) return {s.fds[static_cast<size_t>(index % size)]};
  std::vector<int> mine;
  for (int j = index; j < size; j += workers) mine.push_back(s.fds[static_cast<size_t>(j)]);
  return mine;
}

bool steer_listen_group(int fd, int index) {
  sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, static_cast<uint32_t>(index)}};
  sock_fprog prog{.len = 1, .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) == 0;
}

bool same_endpoint(const ListenAddress& a, const ListenAddress& b) {
  return a.is_unix == b.is_unix && (a.is_unix ? a.path == b.path : a.tcp == b.tcp);
}

bool adopt_listen_socket(ListenSocket& s, const ListenAddress& address, std::string& error) {
  s.address = address;
  return !address.is_unix || apply_unix_permissions(address, -1, error);
}

}  // namespace camproxy::proxy
