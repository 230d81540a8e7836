#include "test_util.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace camproxy::protocol::test {
namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "test data error: %s\n", what.c_str());
  std::abort();
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> out;
  int high = -1;
  for (char c : hex) {
    if (c == ' ' || c == '\n') continue;
    const int d = hex_digit(c);
    if (d < 0) die("bad hex digit in '" + std::string(hex) + "'");
    if (high < 0) {
      high = d;
    } else {
      out.push_back(static_cast<uint8_t>(high * 16 + d));
      high = -1;
    }
  }
  if (high >= 0) die("odd number of hex digits");
  return out;
}

std::string bytes_str(std::string_view hex) {
  const auto v = from_hex(hex);
  return {v.begin(), v.end()};
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

std::vector<CapturedFrame> load_capture(std::string_view name) {
  const std::string path = std::string(CAMPROXY_TEST_DATA_DIR) + "/captures/" + std::string(name);
  std::ifstream in(path);
  if (!in) die("cannot open " + path);
  std::vector<CapturedFrame> frames;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.find(' ');
    if (space == std::string::npos) die("bad line in " + path);
    const std::string_view dir = std::string_view(line).substr(0, space);
    if (dir != "c2s" && dir != "s2c") die("bad direction in " + path);
    auto frame = from_hex(std::string_view(line).substr(space + 1));
    if (frame.size() < 4) die("short frame in " + path);
    frames.push_back({dir == "c2s", std::move(frame)});
  }
  return frames;
}

std::vector<uint8_t> capture_payload(std::string_view name, size_t index) {
  const auto frames = load_capture(name);
  if (index >= frames.size()) die("no frame " + std::to_string(index) + " in " + std::string(name));
  const auto p = frames[index].payload();
  return {p.begin(), p.end()};
}

}  // namespace camproxy::protocol::test
