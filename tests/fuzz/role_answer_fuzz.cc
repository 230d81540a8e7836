// Fuzz target: the answers that carry temporary credentials (auth/role_credentials.h;
// spec/tencentcloud-cam.md §7.3 metadata service, §7.4 STS). Input: a mode byte (bit 0 clear:
// parse_metadata_role_answer, set: parse_sts_answer), then the HTTP body.
//
// Properties: a credential has an id and token fit for HTTP headers, a key, an expiry after
// the epoch and a refresh time between the fetch and the expiry (or one second after the fetch
// for an already expired one), and the source names the role; an error has the parser's own
// codes, starts with the caller's context, and its message is bounded and free of control
// characters (it reaches logs and ERR packets); a metadata error is always transient.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/credential_sources.h"
#include "auth/role_credentials.h"
#include "auth/utf8.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using namespace camproxy::auth;

constexpr std::string_view kRole = "camproxy-role";
const std::string kContext = "fuzz answer";
// Context + the parser's own words + the bounded server text (code, message, request id).
constexpr size_t kMaxMessageBytes = 1024;
constexpr std::chrono::seconds kMargin{300};
const SystemTime kFetchedAt{std::chrono::seconds(1'800'000'000)};

bool printable(std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return false;
  }
  return true;
}

void check(const CredentialResult<CredentialSnapshot>& result, bool sts) {
  if (result) {
    const CredentialSnapshot& s = *result;
    CAMPROXY_FUZZ_CHECK(s.credential != nullptr);
    const Credential& c = *s.credential;
    CAMPROXY_FUZZ_CHECK(!c.secret_id.empty() && is_printable_ascii(c.secret_id));
    CAMPROXY_FUZZ_CHECK(!c.secret_key.empty());
    CAMPROXY_FUZZ_CHECK(!c.session_token.empty() && is_printable_ascii(c.session_token.view()));
    CAMPROXY_FUZZ_CHECK(s.identity == c.secret_id);
    CAMPROXY_FUZZ_CHECK(s.source == std::string(sts ? "tke-oidc:" : "cvm-role:") + std::string(kRole));
    CAMPROXY_FUZZ_CHECK(s.expires_at && s.expires_at->time_since_epoch().count() > 0);
    CAMPROXY_FUZZ_CHECK(s.refresh_at && *s.refresh_at > kFetchedAt);
    CAMPROXY_FUZZ_CHECK(*s.refresh_at <= std::max(*s.expires_at, kFetchedAt + std::chrono::seconds(1)));
    return;
  }
  const CredentialError& e = result.error();
  if (sts) {
    CAMPROXY_FUZZ_CHECK(e.code == make_error_code(AuthErr::sts_bad_answer) ||
                        e.code == make_error_code(AuthErr::sts_rejected));
  } else {
    CAMPROXY_FUZZ_CHECK(e.code == make_error_code(AuthErr::metadata_bad_answer));
    CAMPROXY_FUZZ_CHECK(e.transient);
  }
  CAMPROXY_FUZZ_CHECK(e.message.starts_with(kContext));
  CAMPROXY_FUZZ_CHECK(e.message.size() <= kMaxMessageBytes);
  CAMPROXY_FUZZ_CHECK(printable(e.message));
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  camproxy::fuzz::InputSplitter in(data, size);
  const bool sts = (in.take_u8() & 1) != 0;
  const auto rest = in.rest();
  const std::string_view body(reinterpret_cast<const char*>(rest.data()), rest.size());
  check(sts ? camproxy::auth::parse_sts_answer(body, kRole, kContext, kFetchedAt, kMargin)
            : camproxy::auth::parse_metadata_role_answer(body, kRole, kContext, kFetchedAt, kMargin),
        sts);
  return 0;
}
