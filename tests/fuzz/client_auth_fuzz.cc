// Fuzz target: the client side of the login (protocol/client_auth.h) fed arbitrary server
// packets, as UpstreamConn drives it. Input:
//   int<1> flags: 1 = camproxy has TLS, 2 = TLS required, 4 = COM_CHANGE_USER after the OK,
//                 8 = empty password, 16 = TLS verifies the server, 32 = an operator's RSA key
//   then packets, each int<2> length + payload (a short last one is taken as it is).
// The machine is started when it says greeted, told that TLS is up when it asks for TLS, and
// re-authenticated once (flag 4) when it says done.
//
// Properties: a failed step and the failed state go together, and a failed machine stays
// failed; done only on an OK packet, whose bytes it returns; a secret step is the password in
// clear over TLS that verified the server and nothing else is (issue 17); no failure message of camproxy's own holds
// the password.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "protocol/client_auth.h"
#include "protocol/constants.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using namespace camproxy::protocol;

constexpr std::string_view kPassword = "fuzz-Pw/7c1e9b";
// A throwaway RSA-2048 public key, as --upstream-rsa-key-file would give (the private half was
// never kept: only the encryption path is fuzzed).
constexpr std::string_view kOperatorKey = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzjsBccgOKC/7QONbDdvF
pPSk6Q99Mf7+EwH5/VnM9lDKFfo4YGGljYeQyOZ9QvZoM5ZipVQXFMRyjBIhwvWy
irdeuNNAWaV+3osGc/iwFF8ONs/M/8xtoqQtqz0FjzOO3jiINLGrF8KsdQGM/dED
AamauHOrmBhWO1GE6KBhhDSeVutzP497kyYRFfTUXbX1FreJ6T5FgIuIXoWD9vx9
6QhIQYRcswbfwhl3ZsBlfU3cEg0zb5w7bkGfs2qfNVWTMHJWfJtzjUK5B+TufOU4
4x9Rax9MjDBUb5MKt2hUlGNIBKWuhjIzDuMavK/anE/1W9LPnTBc69Fh378zYg0Q
NQIDAQAB
-----END PUBLIC KEY-----
)";

struct Run {
  ClientAuth& auth;
  std::span<const uint8_t> password;
  bool verified = false;  // the policy says TLS verifies the server
  // The server's own bytes hold the password's text: a message that quotes them (a plugin
  // name, say) is the server's words, not a leak by camproxy.
  bool server_said_password = false;

  void check(const ClientAuthStep& step, std::span<const uint8_t> fed = {}) const {
    CAMPROXY_FUZZ_CHECK((step.kind == ClientAuthStep::Kind::failed) == (auth.state() == ClientAuth::State::failed));
    switch (step.kind) {
      case ClientAuthStep::Kind::failed: check_failure(step.failure); break;
      case ClientAuthStep::Kind::done:
        CAMPROXY_FUZZ_CHECK(!fed.empty() && fed[0] == kOkHeader);
        CAMPROXY_FUZZ_CHECK(step.payload.data() == fed.data() && step.payload.size() == fed.size());
        break;
      case ClientAuthStep::Kind::send: check_secret(step); break;
      case ClientAuthStep::Kind::read: CAMPROXY_FUZZ_CHECK(auth.state() == ClientAuth::State::await_result); break;
      case ClientAuthStep::Kind::start_tls: CAMPROXY_FUZZ_CHECK(auth.state() == ClientAuth::State::tls); break;
      case ClientAuthStep::Kind::greeted: CAMPROXY_FUZZ_CHECK(auth.state() == ClientAuth::State::greeted); break;
    }
  }

  void check_failure(const ClientAuthFailure& f) const {
    if (f.kind == ClientAuthFailure::Kind::server_error) return;  // the server's own words
    CAMPROXY_FUZZ_CHECK(!f.message.empty());
    if (!server_said_password) CAMPROXY_FUZZ_CHECK(f.message.find(kPassword) == std::string::npos);
  }

  void check_secret(const ClientAuthStep& step) const {
    const bool is_clear_password = step.payload.size() == password.size() + 1 &&
                                   std::equal(password.begin(), password.end(), step.payload.begin()) &&
                                   step.payload.back() == 0;
    if (step.secret) CAMPROXY_FUZZ_CHECK(auth.tls() && verified && is_clear_password);
    if (!password.empty()) CAMPROXY_FUZZ_CHECK(step.secret == is_clear_password);
  }

  // Advances past the calls that need no server packet; false when the exchange is over.
  bool ready_for_packet(bool change_user, bool& changed) const {
    if (auth.state() == ClientAuth::State::greeted)
      check(auth.start(LoginRequest{"app", 0, 45, "db", {}, 0}, password));
    if (auth.state() == ClientAuth::State::tls) check(auth.tls_ready());
    if (auth.state() == ClientAuth::State::done && change_user && !changed) {
      changed = true;
      check(auth.change_user(password));
    }
    return auth.wants_packet();
  }
};

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  using camproxy::protocol::ClientAuth;
  InputSplitter in(data, size);
  const uint8_t flags = in.take_u8();
  ClientAuth auth({.tls_available = (flags & 1) != 0,
                   .tls_required = (flags & 2) != 0,
                   .tls_verified = (flags & 16) != 0,
                   .rsa_public_key = (flags & 32) != 0 ? std::string(kOperatorKey) : std::string()});
  const std::span<const uint8_t> password =
      (flags & 8) != 0 ? std::span<const uint8_t>{}
                       : std::span(reinterpret_cast<const uint8_t*>(kPassword.data()), kPassword.size());
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const Run run{auth, password, (flags & 16) != 0, input.find(kPassword) != std::string_view::npos};
  bool changed = false;
  uint8_t seq = 0;
  std::span<const uint8_t> rest = in.rest();
  while (!rest.empty() && run.ready_for_packet((flags & 4) != 0, changed)) {
    InputSplitter frame(rest.data(), rest.size());
    const size_t len = std::min<size_t>(frame.take_u16(), frame.rest().size());
    const auto packet = frame.rest().first(len);
    rest = frame.rest().subspan(len);
    run.check(auth.feed(packet, seq), packet);
    seq = static_cast<uint8_t>(seq + 2);
  }
  if (auth.state() == ClientAuth::State::failed) {
    CAMPROXY_FUZZ_CHECK(auth.feed({}, 0).kind == camproxy::protocol::ClientAuthStep::Kind::failed);
  }
  return 0;
}
