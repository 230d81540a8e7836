#include "proxy/config/config_values.h"

#include <charconv>

namespace camproxy::proxy {
namespace {

std::optional<uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view s) {
  HostPort hp;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {  // [v6]:port
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    hp.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    hp.host = std::string(s.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) return std::nullopt;  // bare IPv6 needs brackets
    port = s.substr(colon + 1);
  }
  auto p = parse_port(port);
  if (!p || hp.host.empty()) return std::nullopt;
  hp.port = *p;
  return hp;
}

namespace {

// Durations up to a year: longer is a typo, and far longer would overflow the multiplication
// below (found by the config_file fuzz target).
constexpr long long kMaxDurationMs = 366LL * 24 * 3600 * 1000;

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || v < 0) return std::nullopt;
  std::string_view unit(p, static_cast<size_t>(s.data() + s.size() - p));
  long long unit_ms = 0;
  if (unit == "ms")
    unit_ms = 1;
  else if (unit == "s" || unit.empty())
    unit_ms = 1000;
  else if (unit == "m")
    unit_ms = 60000;
  else if (unit == "h")
    unit_ms = 3600000;
  if (unit_ms == 0 || v > kMaxDurationMs / unit_ms) return std::nullopt;
  return std::chrono::milliseconds(v * unit_ms);
}

std::string format_duration(std::chrono::milliseconds d) {
  const long long ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace camproxy::proxy
