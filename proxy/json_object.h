#pragma once
// A one-line JSON object built field by field, for the admin endpoint's answers (POST /reload,
// /debug/...). Strings are escaped; `raw` takes a value that is already JSON (a nested object
// or array).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace camproxy::proxy {

class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view value);
  JsonObject& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  JsonObject& add(std::string_view key, int64_t value) { return raw(key, std::to_string(value)); }
  JsonObject& add(std::string_view key, bool value) { return raw(key, value ? "true" : "false"); }
  JsonObject& raw(std::string_view key, std::string_view json);
  std::string str() const { return text_ + "}"; }

 private:
  void key(std::string_view key);
  std::string text_ = "{";
};

// `s` as a quoted, escaped JSON string.
std::string json_string(std::string_view s);

// Seconds as a JSON number with millisecond precision ("12.345").
std::string json_seconds(double seconds);

// A JSON array of values that are already JSON.
std::string json_array(const std::vector<std::string>& items);

}  // namespace camproxy::proxy
