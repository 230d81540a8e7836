// Fuzz target: the upstream server's greeting, HandshakeV10 (spec/mysql-protocol.md §2.1, §3.1).
// Input: the payload.
//
// Properties: never need_more; whatever decodes re-encodes (in the MySQL 8 form) to bytes that
// decode to the same greeting and re-encode identically.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/byte_io.h"
#include "protocol/handshake_v10.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

std::vector<uint8_t> encode(const protocol::HandshakeV10& hs) {
  std::vector<uint8_t> out;
  protocol::ByteWriter w(out);
  protocol::encode_handshake_v10(hs, w);
  return out;
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  const auto hs = camproxy::protocol::decode_handshake_v10(std::span<const uint8_t>(data, size));
  if (!hs) {
    CAMPROXY_FUZZ_CHECK(hs.error() != camproxy::protocol::ProtoErr::need_more);
    return 0;
  }
  const auto bytes = exact_copy(encode(*hs));
  const auto again = camproxy::protocol::decode_handshake_v10(bytes);
  CAMPROXY_FUZZ_CHECK(again.has_value() && *again == *hs);
  CAMPROXY_FUZZ_CHECK(encode(*again) == bytes);
  return 0;
}
