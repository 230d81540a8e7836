// Handshake parse/build (protocol/handshake_v10.h, handshake_response.h), once per client login.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "protocol/byte_io.h"
#include "protocol/handshake_response.h"
#include "protocol/handshake_v10.h"
#include "tests/protocol/test_util.h"

namespace camproxy::bench {
namespace {

using protocol::ByteWriter;
using protocol::Result;

// Payloads (frame header removed) from tests/protocol/captures/mariadb_cli_login.hex:
// MariaDB 10.11.19's greeting, and the mariadb CLI's (libmariadb 3.3) HandshakeResponse41
// for camtest with -D appdb and its connection attributes.
constexpr std::string_view kGreetingHex =
    "0a352e352e352d31302e31312e31392d4d6172696144422d302b6465623132753100060000002361436a6a59"
    "5c4300fef7080200ff81150000000000001d0000007854792959677b526a3e3739006d7973716c5f6e617469"
    "76655f70617373776f726400";
constexpr std::string_view kResponseHex =
    "8ca2bf000000100021000000000000000000000000000000000000001d00000063616d7465737400142b4b48"
    "6e3e1aaa2f5ddcecdf338d94035a33a4916170706462006d7973716c5f6e61746976655f70617373776f7264"
    "007f035f6f73054c696e75780c5f636c69656e745f6e616d650a6c69626d617269616462045f706964053133"
    "3433350f5f636c69656e745f76657273696f6e06332e332e3230095f706c6174666f726d067838365f36340c"
    "70726f6772616d5f6e616d65056d7973716c0c5f7365727665725f686f7374093132372e302e302e31";

template <class Msg>
using DecodeFn = Result<Msg> (*)(std::span<const uint8_t>);
template <class Msg>
using EncodeFn = void (*)(const Msg&, ByteWriter&);

template <class Msg>
void bm_decode(benchmark::State& state, std::string_view hex, DecodeFn<Msg> decode) {
  const auto payload = protocol::test::from_hex(hex);
  if (payload.empty() || !decode(payload)) {
    state.SkipWithError("captured payload does not decode");
    return;
  }
  for (auto _ : state) {
    auto msg = decode(payload);
    benchmark::DoNotOptimize(msg);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(payload.size()));
}

template <class Msg>
void bm_encode(benchmark::State& state, std::string_view hex, DecodeFn<Msg> decode, EncodeFn<Msg> encode) {
  const auto payload = protocol::test::from_hex(hex);
  auto msg = decode(payload);
  if (payload.empty() || !msg) {
    state.SkipWithError("captured payload does not decode");
    return;
  }
  std::vector<uint8_t> out;
  for (auto _ : state) {
    out.clear();
    ByteWriter w(out);
    encode(*msg, w);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(out.size()));
}

// Registered by hand: BENCHMARK_CAPTURE cannot name a template instance.
const bool kRegistered = [] {
  using protocol::HandshakeResponse41;
  using protocol::HandshakeV10;
  benchmark::RegisterBenchmark("BM_decode_handshake_v10/mariadb_greeting", bm_decode<HandshakeV10>, kGreetingHex,
                               &protocol::decode_handshake_v10);
  benchmark::RegisterBenchmark("BM_encode_handshake_v10/mariadb_greeting", bm_encode<HandshakeV10>, kGreetingHex,
                               &protocol::decode_handshake_v10, &protocol::encode_handshake_v10);
  benchmark::RegisterBenchmark("BM_decode_handshake_response41/libmariadb", bm_decode<HandshakeResponse41>,
                               kResponseHex, &protocol::decode_handshake_response41);
  benchmark::RegisterBenchmark("BM_encode_handshake_response41/libmariadb", bm_encode<HandshakeResponse41>,
                               kResponseHex, &protocol::decode_handshake_response41,
                               &protocol::encode_handshake_response41);
  return true;
}();

}  // namespace
}  // namespace camproxy::bench
