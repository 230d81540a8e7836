#include "proxy/json_object.h"

#include <cstdio>

#include "auth/json_text.h"

namespace camproxy::proxy {

void JsonObject::key(std::string_view key) {
  if (text_.size() > 1) text_ += ',';
  auth::append_json_string(text_, key);
  text_ += ':';
}

JsonObject& JsonObject::add(std::string_view key, std::string_view value) {
  this->key(key);
  auth::append_json_string(text_, value);
  return *this;
}

JsonObject& JsonObject::raw(std::string_view key, std::string_view json) {
  this->key(key);
  text_ += json;
  return *this;
}

std::string json_string(std::string_view s) {
  std::string out;
  auth::append_json_string(out, s);
  return out;
}

std::string json_seconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", seconds);
  return buf;
}

std::string json_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const auto& item : items) out += (out.size() > 1 ? "," : "") + item;
  return out + "]";
}

}  // namespace camproxy::proxy
