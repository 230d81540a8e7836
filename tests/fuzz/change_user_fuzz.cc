// Fuzz target: COM_CHANGE_USER from an application (spec/mysql-protocol.md §2.7).
// Input: int<4> capabilities negotiated at login (little-endian), then the payload.
//
// Properties: never need_more; whatever decodes re-encodes to bytes that decode to the same
// command (after the defaults the encoder writes for absent trailing fields) and re-encode
// identically.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/byte_io.h"
#include "protocol/change_user.h"
#include "protocol/constants.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using namespace camproxy::protocol;

// What encode_change_user() writes for fields the packet left out (change_user.h).
ComChangeUser with_encoder_defaults(ComChangeUser cmd, uint32_t caps) {
  cmd.collation = cmd.collation.value_or(uint16_t{0});
  if ((caps & cap::kPluginAuth) != 0) cmd.auth_plugin_name = cmd.auth_plugin_name.value_or("");
  return cmd;
}

std::vector<uint8_t> encode(const ComChangeUser& cmd, uint32_t caps) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_change_user(cmd, caps, w);
  return out;
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  InputSplitter in(data, size);
  const uint32_t caps = in.take_u32();
  const auto cmd = camproxy::protocol::decode_change_user(in.rest(), caps);
  if (!cmd) {
    CAMPROXY_FUZZ_CHECK(cmd.error() != camproxy::protocol::ProtoErr::need_more);
    return 0;
  }
  const auto bytes = exact_copy(encode(*cmd, caps));
  const auto again = camproxy::protocol::decode_change_user(bytes, caps);
  CAMPROXY_FUZZ_CHECK(again.has_value());
  CAMPROXY_FUZZ_CHECK(*again == with_encoder_defaults(*cmd, caps));
  CAMPROXY_FUZZ_CHECK(encode(*again, caps) == bytes);
  return 0;
}
