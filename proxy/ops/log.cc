#include "proxy/ops/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "auth/json_text.h"

namespace camproxy::proxy {
namespace {

std::atomic<LogLevel> g_level{LogLevel::info};
std::atomic<LogFormat> g_format{LogFormat::json};

std::string_view level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

using auth::append_json_string;

// Text format quotes a value only when it would otherwise be ambiguous.
void append_text_value(std::string& out, std::string_view s) {
  bool plain = !s.empty();
  for (unsigned char c : s) {
    if (c <= ' ' || c == '"' || c == '=' || c >= 0x7f) plain = false;
  }
  if (plain) {
    out += s;
  } else {
    append_json_string(out, s);
  }
}

void append_value(std::string& out, const LogField& f, bool json) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          json ? append_json_string(out, v) : append_text_value(out, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else {
          out += std::to_string(v);
        }
      },
      f.value);
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

void log_configure(LogLevel level, LogFormat format) {
  g_level.store(level);
  g_format.store(format);
}

bool log_enabled(LogLevel level) { return level >= g_level.load(std::memory_order_relaxed); }

void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (!log_enabled(level)) return;
  const bool json = g_format.load(std::memory_order_relaxed) == LogFormat::json;
  std::string line;
  line.reserve(160);
  if (json) {
    line += "{\"ts\":\"" + timestamp() + "\",\"level\":\"";
    line += level_name(level);
    line += "\",\"event\":";
    append_json_string(line, event);
    for (const auto& f : fields) {
      line.push_back(',');
      append_json_string(line, f.key);
      line.push_back(':');
      append_value(line, f, true);
    }
    line += "}\n";
  } else {
    line += timestamp() + " " + std::string(level_name(level)) + " " + std::string(event);
    for (const auto& f : fields) {
      line.push_back(' ');
      line += f.key;
      line.push_back('=');
      append_value(line, f, false);
    }
    line.push_back('\n');
  }
  // One write(2) per line keeps lines from different threads whole.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace camproxy::proxy
