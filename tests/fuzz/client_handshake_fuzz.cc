// Fuzz target: the client's first reply (spec/mysql-protocol.md §2.3, §2.4), the packet an
// application sends before it has authenticated. Input: the payload (its capabilities are its
// own first four bytes).
//
// Properties: is_ssl_request() and the two decoders agree; a payload decoder never says
// need_more; whatever decodes re-encodes to bytes that decode to the same message (after the
// defaults the encoder writes for absent trailing fields) and re-encode identically.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/byte_io.h"
#include "protocol/constants.h"
#include "protocol/handshake_response.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using namespace camproxy::protocol;

void check_ssl_request(std::span<const uint8_t> payload) {
  const auto req = decode_ssl_request(payload);
  CAMPROXY_FUZZ_CHECK(req.has_value());
  // An SSLRequest is not a HandshakeResponse41: the session must not take it for a login.
  const auto as_response = decode_handshake_response41(payload);
  CAMPROXY_FUZZ_CHECK(!as_response.has_value());
  CAMPROXY_FUZZ_CHECK(as_response.error() == ProtoErr::malformed || as_response.error() == ProtoErr::protocol_320);

  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_ssl_request(*req, w);
  CAMPROXY_FUZZ_CHECK(out.size() == kSslRequestSize);
  const auto bytes = exact_copy(out);
  CAMPROXY_FUZZ_CHECK(is_ssl_request(bytes));
  const auto again = decode_ssl_request(bytes);
  CAMPROXY_FUZZ_CHECK(again.has_value() && *again == *req);
}

// What the encoder writes for trailing fields the packet left out (handshake_response.h).
HandshakeResponse41 with_encoder_defaults(HandshakeResponse41 resp) {
  if ((resp.capabilities & cap::kConnectWithDb) != 0) resp.database = resp.database.value_or("");
  if ((resp.capabilities & cap::kPluginAuth) != 0) {
    resp.auth_plugin_name = resp.auth_plugin_name.value_or("");
  }
  if ((resp.capabilities & cap::kZstdCompression) != 0) {
    resp.zstd_level = resp.zstd_level.value_or(uint8_t{3});
  }
  return resp;
}

std::vector<uint8_t> encode(const HandshakeResponse41& resp) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_handshake_response41(resp, w);
  return out;
}

void check_round_trip(const HandshakeResponse41& resp) {
  const auto bytes = exact_copy(encode(resp));
  CAMPROXY_FUZZ_CHECK(!is_ssl_request(bytes));
  const auto again = decode_handshake_response41(bytes);
  CAMPROXY_FUZZ_CHECK(again.has_value());
  CAMPROXY_FUZZ_CHECK(*again == with_encoder_defaults(resp));
  CAMPROXY_FUZZ_CHECK(encode(*again) == bytes);
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  const std::span<const uint8_t> payload(data, size);
  if (camproxy::protocol::is_ssl_request(payload)) {
    check_ssl_request(payload);
    return 0;
  }
  CAMPROXY_FUZZ_CHECK(!camproxy::protocol::decode_ssl_request(payload).has_value());
  const auto resp = camproxy::protocol::decode_handshake_response41(payload);
  if (!resp) {
    CAMPROXY_FUZZ_CHECK(resp.error() != camproxy::protocol::ProtoErr::need_more);
    return 0;
  }
  check_round_trip(*resp);
  return 0;
}
