// Fuzz target: the upstream server's auth-phase packets after the first response,
// AuthSwitchRequest and AuthMoreData (spec/mysql-protocol.md §2.5, §3.3). Input: the payload,
// given to both decoders (the header byte tells them apart, as in the upstream login).
//
// Properties: at most one decoder accepts; never need_more; what decodes re-encodes to the
// same message; a nonce taken from the switch's plugin data is exactly its 20 bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/auth_switch.h"
#include "protocol/byte_io.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using namespace camproxy::protocol;

void check_nonce(std::string_view plugin_data) {
  const auto nonce = nonce_from_plugin_data(plugin_data);
  // auth_switch.h: exactly 20 bytes after dropping one trailing NUL.
  const bool ends_in_nul = !plugin_data.empty() && plugin_data.back() == '\0';
  CAMPROXY_FUZZ_CHECK(nonce.has_value() == (plugin_data.size() == (ends_in_nul ? 21U : 20U)));
  if (nonce) {
    const auto bytes = as_bytes(plugin_data);
    CAMPROXY_FUZZ_CHECK(std::equal(nonce->begin(), nonce->end(), bytes.begin()));
  }
}

void check_switch(const AuthSwitchRequest& req) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_auth_switch_request(req, w);
  const auto bytes = exact_copy(out);
  const auto again = decode_auth_switch_request(bytes);
  CAMPROXY_FUZZ_CHECK(again.has_value() && *again == req);
  check_nonce(req.plugin_data);
}

void check_more_data(const AuthMoreData& more, std::span<const uint8_t> payload) {
  CAMPROXY_FUZZ_CHECK(as_bytes(more.data).size() + 1 == payload.size());
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_auth_more_data(more, w);
  CAMPROXY_FUZZ_CHECK(std::equal(out.begin(), out.end(), payload.begin(), payload.end()));
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  using camproxy::protocol::ProtoErr;
  const std::span<const uint8_t> payload(data, size);
  const auto req = camproxy::protocol::decode_auth_switch_request(payload);
  const auto more = camproxy::protocol::decode_auth_more_data(payload);
  CAMPROXY_FUZZ_CHECK(!(req.has_value() && more.has_value()));
  if (req) {
    check_switch(*req);
  } else {
    CAMPROXY_FUZZ_CHECK(req.error() != ProtoErr::need_more);
  }
  if (more) {
    check_more_data(*more, payload);
  } else {
    CAMPROXY_FUZZ_CHECK(more.error() != ProtoErr::need_more);
  }
  return 0;
}
