#include "auth/json_text.h"

#include <openssl/crypto.h>

#include <cstdio>

namespace camproxy::auth {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out.append(buf);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string_view string_at(simdjson::dom::object obj, std::string_view key) {
  std::string_view value;
  if (obj[key].get(value) != simdjson::SUCCESS) return {};
  return value;
}

std::optional<std::int64_t> int64_at(simdjson::dom::object obj, std::string_view key) {
  std::int64_t value = 0;
  if (obj[key].get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

SecretString take_secret(std::string_view parsed) {
  SecretString secret(parsed);
  if (!parsed.empty()) OPENSSL_cleanse(const_cast<char*>(parsed.data()), parsed.size());
  return secret;
}

std::string printable(std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes) {
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
    text = text.substr(0, cut);
  }
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return out;
}

}  // namespace camproxy::auth
