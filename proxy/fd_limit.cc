#include "proxy/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace camproxy::proxy {
namespace {

// An unlimited hard limit cannot be the soft one (the kernel caps it at fs.nr_open, 1048576 by
// default): ask for that much instead.
constexpr rlim_t kUnlimitedCap = 1 << 20;

}  // namespace

std::string raise_open_files_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return std::string("unknown: ") + std::strerror(errno);
  const rlim_t before = lim.rlim_cur;
  const rlim_t wanted = lim.rlim_max == RLIM_INFINITY ? kUnlimitedCap : lim.rlim_max;
  if (before != RLIM_INFINITY && before >= wanted) return std::to_string(before);
  lim.rlim_cur = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
    return std::to_string(before) + " (could not raise to " + std::to_string(wanted) + ": " + std::strerror(errno) +
           ")";
  return std::to_string(wanted) + " (raised from " + std::to_string(before) + ")";
}

}  // namespace camproxy::proxy
