// Fuzz target: decode_auth_token (spec/tencentcloud-cam.md §4.3) for a fixed instance, region
// and account, those of the vectors' success cases. Input: one mode byte, then
//   mode bit 0 clear: the token text as CAM would send it;
//   mode bit 0 set:   a plaintext (4-byte prefix + AuthTokenInfo), which the target wraps into a
//                     valid token (bit 1 picks the base64 alphabet), so that fuzzed plaintexts
//                     get past the hash and padding checks no random token can pass.
//
// Properties: a decoded token carries a non-empty password; errors are TokenErr values; a
// wrapped plaintext decodes exactly as the protobuf reader alone reads it, and fails only for
// the reasons that plaintext allows.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "auth/token_codec.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/token_builder.h"

namespace camproxy::fuzz {
namespace {

using auth::TokenErr;

constexpr std::string_view kInstanceId = "cdb-12dd3d";
constexpr std::string_view kRegion = "ap-shanghai";
constexpr std::string_view kUserName = "ReadOnly";
constexpr size_t kOpaquePrefixLen = 4;  // §4.1 X

auth::Result<auth::AuthTokenInfo> decode(std::string_view token) {
  auto info = auth::decode_auth_token(kInstanceId, kRegion, kUserName, token);
  if (info) {
    CAMPROXY_FUZZ_CHECK(!info->password.empty());
  } else {
    CAMPROXY_FUZZ_CHECK(info.error().category() == auth::token_category());
  }
  return info;
}

void check_wrapped(std::span<const uint8_t> plaintext, TokenAlphabet alphabet) {
  const auto info = decode(make_token(kInstanceId, kRegion, kUserName, plaintext, alphabet));
  if (plaintext.size() < kOpaquePrefixLen) {
    CAMPROXY_FUZZ_CHECK(!info && info.error() == TokenErr::plaintext_too_short);
    return;
  }
  const auto expected = auth::parse_auth_token_info(plaintext.subspan(kOpaquePrefixLen));
  if (!expected) {
    CAMPROXY_FUZZ_CHECK(!info && info.error() == TokenErr::protobuf);
  } else if (expected->password.empty()) {
    CAMPROXY_FUZZ_CHECK(!info && info.error() == TokenErr::empty_password);
  } else {
    CAMPROXY_FUZZ_CHECK(info.has_value() && same_token_info(*info, *expected));
  }
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  InputSplitter in(data, size);
  const uint8_t mode = in.take_u8();
  const auto rest = in.rest();
  if ((mode & 1) == 0) {
    decode({reinterpret_cast<const char*>(rest.data()), rest.size()});
  } else {
    check_wrapped(rest, (mode & 2) != 0 ? TokenAlphabet::standard_padded : TokenAlphabet::url_safe_unpadded);
  }
  return 0;
}
