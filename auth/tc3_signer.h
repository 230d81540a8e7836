// TC3-HMAC-SHA256 request signing (spec/tencentcloud-cam.md §2).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace camproxy::auth {

// Everything the signature covers. `host` and `content_type` are the header values
// exactly as sent; `body` the exact bytes sent; `timestamp` Unix seconds, the same
// value as the X-TC-Timestamp header. The method is always POST and the path "/".
struct Tc3Input {
  std::string_view secret_id, secret_key, service, host, content_type, body;
  std::int64_t timestamp = 0;
};

// An additional signed header (§2.4, the API documentation's form).
struct Tc3Header {
  std::string_view name, value;
};

struct Tc3Signature {
  std::string date;  // UTC date of the timestamp, YYYY-MM-DD
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // 64 lower-case hex chars
  std::string authorization;  // value of the Authorization header
};

// Signs `content-type;host` with the values as sent, as every official SDK does.
Tc3Signature sign_tc3(const Tc3Input& input);

// General form: also signs `extra` headers. Their names are lower-cased and their
// values trimmed and lower-cased, and all signed headers are sorted by name, as the
// API documentation's worked example does; content-type and host stay as sent.
// An extra header named content-type or host is ignored (those are always signed).
Tc3Signature sign_tc3(const Tc3Input& input, std::span<const Tc3Header> extra);

// UTC calendar date of a Unix timestamp, YYYY-MM-DD (§2.1: never local time).
std::string utc_date(std::int64_t timestamp);

}  // namespace camproxy::auth
