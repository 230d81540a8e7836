// Helpers for the protocol tests: hex literals and the captured exchanges in captures/.
#pragma once

#include <concepts>
#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace camproxy::protocol::test {

// "0a 35 2e" or "0a352e" -> bytes (spaces ignored). Aborts the test binary on bad hex.
std::vector<uint8_t> from_hex(std::string_view hex);
std::string to_hex(std::span<const uint8_t> bytes);
// The same bytes as a std::string, for the protocol structs' string fields.
std::string bytes_str(std::string_view hex);
inline std::string_view as_string_view(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Names parameterized cases after their `name` member.
struct CaseName {
  template <class P>
  std::string operator()(const ::testing::TestParamInfo<P>& info) const {
    return info.param.name;
  }
};

// gtest prints a parameterized case by its name instead of its raw bytes. ADL looks only in
// the innermost namespace of the table structs: add `using test::PrintTo;` there.
template <class T>
requires std::same_as<decltype(T::name), const char*>
void PrintTo(const T& c, std::ostream* os) { *os << c.name; }

// One frame of a capture, header included.
struct CapturedFrame {
  bool from_client;
  std::vector<uint8_t> frame;
  std::span<const uint8_t> payload() const { return std::span(frame).subspan(4); }
};

// Loads captures/<name> (see capture_relay.py for the format).
std::vector<CapturedFrame> load_capture(std::string_view name);

// The payload of the n-th frame of a capture, copied.
std::vector<uint8_t> capture_payload(std::string_view name, size_t index);

}  // namespace camproxy::protocol::test
