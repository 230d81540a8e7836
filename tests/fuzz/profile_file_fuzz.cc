// Fuzz target: the credentials profile file parser (spec/tencentcloud-cam.md §7.2), text an
// operator or another program wrote. Input: the file's bytes.
//
// Properties: errors are profile_malformed with the 1-based number of a line of the text, or
// profile_key_missing without one; a parsed credential has a non-empty id and key and no session
// token; written back as a minimal profile it parses to the same credential.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/profile_file.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using namespace camproxy::auth;

size_t line_count(std::string_view text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1; }

void check_error(const ProfileSyntaxError& e, std::string_view text) {
  if (e.code == AuthErr::profile_malformed) {
    CAMPROXY_FUZZ_CHECK(e.line >= 1 && e.line <= line_count(text));
  } else {
    CAMPROXY_FUZZ_CHECK(e.code == AuthErr::profile_key_missing && e.line == 0);
  }
}

void check_round_trip(const Credential& cred) {
  std::string text = "[default]\nsecret_id = ";
  text.append(cred.secret_id).append("\nsecret_key = ").append(cred.secret_key.view());
  text.append("\n");
  const auto again = parse_profile(text);
  cleanse(text);
  CAMPROXY_FUZZ_CHECK(again.has_value());
  CAMPROXY_FUZZ_CHECK(again->secret_id == cred.secret_id);
  CAMPROXY_FUZZ_CHECK(again->secret_key.view() == cred.secret_key.view());
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto cred = camproxy::auth::parse_profile(text);
  if (!cred) {
    check_error(cred.error(), text);
    return 0;
  }
  CAMPROXY_FUZZ_CHECK(!cred->secret_id.empty() && !cred->secret_key.empty());
  CAMPROXY_FUZZ_CHECK(cred->session_token.empty());
  check_round_trip(*cred);
  return 0;
}
