#pragma once
// Structured, one-line-per-event logging (JSON by default, logfmt-like text optional).
// Callers pass an event name and typed fields; values are escaped here. Never pass a secret:
// there is no field type for SecretString on purpose.
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <variant>

namespace camproxy::proxy {

enum class LogLevel { debug, info, warn, error };
enum class LogFormat { json, text };

struct LogField {
  std::string_view key;
  std::variant<std::string_view, int64_t, uint64_t, double, bool> value;
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, int v) : key(k), value(int64_t{v}) {}
  LogField(std::string_view k, long v) : key(k), value(int64_t{v}) {}
  LogField(std::string_view k, long long v) : key(k), value(int64_t{v}) {}
  LogField(std::string_view k, unsigned v) : key(k), value(uint64_t{v}) {}
  LogField(std::string_view k, unsigned long v) : key(k), value(uint64_t{v}) {}
  LogField(std::string_view k, unsigned long long v) : key(k), value(uint64_t{v}) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
};

void log_configure(LogLevel level, LogFormat format);
bool log_enabled(LogLevel level);
void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

inline void log_debug(std::string_view e, std::initializer_list<LogField> f = {}) {
  if (log_enabled(LogLevel::debug)) log_event(LogLevel::debug, e, f);
}
inline void log_info(std::string_view e, std::initializer_list<LogField> f = {}) { log_event(LogLevel::info, e, f); }
inline void log_warn(std::string_view e, std::initializer_list<LogField> f = {}) { log_event(LogLevel::warn, e, f); }
inline void log_error(std::string_view e, std::initializer_list<LogField> f = {}) { log_event(LogLevel::error, e, f); }

}  // namespace camproxy::proxy
