// Fuzz target: the AuthTokenInfo protobuf reader alone (spec/tencentcloud-cam.md §4.4), the
// part of token decoding a random token never reaches. Input: the message bytes.
//
// Properties: the only error is TokenErr::protobuf; every string read is valid UTF-8; what
// parses re-encodes (canonically) to a message that parses to the same fields.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "auth/token_codec.h"
#include "auth/utf8.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/token_builder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  namespace auth = camproxy::auth;
  const auto info = auth::parse_auth_token_info(std::span<const uint8_t>(data, size));
  if (!info) {
    CAMPROXY_FUZZ_CHECK(info.error() == auth::TokenErr::protobuf);
    return 0;
  }
  for (const std::string* s : {&info->req_id, &info->instance_id, &info->region, &info->username, &info->extra_info}) {
    CAMPROXY_FUZZ_CHECK(auth::is_valid_utf8(*s));
  }
  CAMPROXY_FUZZ_CHECK(auth::is_valid_utf8(info->password.view()));
  const auto message = exact_copy(encode_auth_token_info(*info));
  const auto again = auth::parse_auth_token_info(message);
  CAMPROXY_FUZZ_CHECK(again.has_value() && same_token_info(*again, *info));
  return 0;
}
