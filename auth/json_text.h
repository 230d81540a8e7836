// Small JSON helpers shared by the CAM, STS and metadata clients: writing a JSON
// string, reading optional fields with simdjson, and making server text safe to log.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/secret.h"

namespace camproxy::auth {

// Appends `s` as a quoted JSON string: raw UTF-8, with '"', '\\' and control
// characters escaped (the Go SDK's compact form, spec/tencentcloud-cam.md §1).
void append_json_string(std::string& out, std::string_view s);

// A string field, or "" when absent or not a string.
std::string_view string_at(simdjson::dom::object obj, std::string_view key);

// A nullable int64 field: absent, null or not an integer -> nullopt.
std::optional<std::int64_t> int64_at(simdjson::dom::object obj, std::string_view key);

// Copies a secret out of a parsed document and wipes the parser's copy (simdjson
// keeps unescaped strings in its own buffer). Call it once per string.
SecretString take_secret(std::string_view parsed);

// Server text goes into logs and MySQL ERR packets: cut to at most `max_bytes`
// (on a UTF-8 boundary) with control characters blanked out.
std::string printable(std::string_view text, std::size_t max_bytes);

}  // namespace camproxy::auth
