#include "auth/small_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace camproxy::auth {
namespace {

FileIdentity identity_of(const struct stat& st) {
  return FileIdentity{
      static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
      static_cast<std::int64_t>(st.st_size),
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + static_cast<std::int64_t>(st.st_mtim.tv_nsec)};
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

tl::expected<SmallFile, FileProblem> read_small_file(const std::string& path, const SmallFileRules& rules) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) {
    return tl::unexpected(errno == ENOENT ? FileProblem::missing : FileProblem::unreadable);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return tl::unexpected(FileProblem::unreadable);
  if (!S_ISREG(st.st_mode)) return tl::unexpected(FileProblem::not_regular);
  if (rules.private_only && (st.st_mode & S_IROTH) != 0) {
    return tl::unexpected(FileProblem::world_readable);
  }
  if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) > rules.max_bytes) {
    return tl::unexpected(FileProblem::too_large);
  }

  // One byte more than allowed, so a file that grew since fstat() is caught.
  SecretString buf = SecretString::zeroed(rules.max_bytes + 1);
  std::size_t used = 0;
  while (used < buf.size()) {
    const ssize_t n = ::read(fd.get(), buf.writable().data() + used, buf.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tl::unexpected(FileProblem::unreadable);
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > rules.max_bytes) return tl::unexpected(FileProblem::too_large);
  buf.truncate(used);
  return SmallFile{std::move(buf), identity_of(st)};
}

std::optional<FileIdentity> file_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return identity_of(st);
}

}  // namespace camproxy::auth
