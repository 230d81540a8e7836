#include "proxy/pool/pool_idle_limit.h"

#include <algorithm>
#include <charconv>

namespace camproxy::proxy {

std::chrono::milliseconds idle_limit(std::chrono::milliseconds configured,
                                     std::optional<std::chrono::seconds> wait_timeout) {
  using std::chrono::milliseconds;
  if (!wait_timeout) return configured;
  const milliseconds wait = *wait_timeout;
  const milliseconds margin = std::max<milliseconds>(std::chrono::seconds(2), wait / 10);
  const milliseconds below_server = std::max<milliseconds>(std::chrono::seconds(1), wait - margin);
  return std::min(configured, below_server);
}

std::optional<std::chrono::seconds> parse_wait_timeout(std::string_view text) {
  // MariaDB and MySQL cap wait_timeout at 31536000 (one year).
  uint32_t seconds = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc{} || end != text.data() + text.size() || seconds == 0) return std::nullopt;
  return std::chrono::seconds(seconds);
}

}  // namespace camproxy::proxy
