// Helpers shared by the micro-benchmarks: hex literals of captured bytes.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace camproxy::bench {

// "0a352e..." -> bytes. The literals are ours and well-formed; a bad digit yields an empty
// vector, which every benchmark checks before its loop (SkipWithError).
std::vector<uint8_t> from_hex(std::string_view hex);

}  // namespace camproxy::bench
