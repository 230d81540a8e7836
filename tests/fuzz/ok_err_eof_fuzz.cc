// Fuzz target: OK / ERR / EOF from the upstream server (spec/mysql-protocol.md §4.1), what the
// relay reads to find command boundaries and status flags.
// Input: int<4> capabilities (little-endian), then the payload, given to every decoder.
//
// Properties: the shape tests (is_*_packet) never accept the same payload twice; never
// need_more; a packet that decodes passes its shape test where that test is meant to be exact;
// whatever decodes re-encodes to the same packet.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/ok_err_eof.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using namespace camproxy::protocol;

void check_ok(const OkPacket& ok, std::span<const uint8_t> payload, uint32_t caps) {
  // With PROTOCOL_41 an OK has at least 7 bytes, so the 00 form must pass the shape test.
  if ((caps & cap::kProtocol41) != 0 && ok.header == kOkHeader) {
    CAMPROXY_FUZZ_CHECK(is_ok_packet(payload, caps));
  }
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_ok(ok, caps, w);
  const auto bytes = exact_copy(out);
  const auto again = decode_ok(bytes, caps);
  CAMPROXY_FUZZ_CHECK(again.has_value() && *again == ok);
}

void check_err(const ErrPacket& err, std::span<const uint8_t> payload, uint32_t caps) {
  CAMPROXY_FUZZ_CHECK(is_err_packet(payload, caps));
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_err(err, caps, w);
  const auto bytes = exact_copy(out);
  const auto again = decode_err(bytes, caps);
  CAMPROXY_FUZZ_CHECK(again.has_value() && *again == err);
}

void check_eof(const EofPacket& eof, std::span<const uint8_t> payload, uint32_t caps) {
  CAMPROXY_FUZZ_CHECK(is_eof_packet(payload, caps & ~cap::kDeprecateEof));
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_eof(eof, w);
  CAMPROXY_FUZZ_CHECK(std::equal(out.begin(), out.end(), payload.begin(), payload.end()));
}

template <class R>
void check_not_need_more(const R& result) {
  if (!result) CAMPROXY_FUZZ_CHECK(result.error() != ProtoErr::need_more);
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  namespace p = camproxy::protocol;
  InputSplitter in(data, size);
  const uint32_t caps = in.take_u32();
  const auto payload = in.rest();

  // The relay classifies a packet by these tests alone: at most one may say yes.
  const int shapes =
      int{p::is_ok_packet(payload, caps)} + int{p::is_err_packet(payload, caps)} + int{p::is_eof_packet(payload, caps)};
  CAMPROXY_FUZZ_CHECK(shapes <= 1);

  const auto ok = p::decode_ok(payload, caps);
  check_not_need_more(ok);
  if (ok) check_ok(*ok, payload, caps);

  const auto err = p::decode_err(payload, caps);
  check_not_need_more(err);
  if (err) check_err(*err, payload, caps);

  const auto eof = p::decode_eof(payload);
  check_not_need_more(eof);
  if (eof) check_eof(*eof, payload, caps);
  return 0;
}
