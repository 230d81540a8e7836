// Fuzz target: the application-side login machine (protocol/server_handshake.h, spec §2), the
// code that reads every byte an unauthenticated client sends. Input: int<1> flags (bit 0 TLS
// offered, 1 TLS required, 2 local authentication, 3 the user maps to an account, 4 the password
// verifies, 5 the database is MariaDB: CLIENT_MYSQL clear, every extended capability offered),
// int<1> chunk size (0: the whole stream at once), then the client's byte stream
// (framed packets: HandshakeResponse41 or SSLRequest, auth data, anything that follows).
//
// Properties: no crash whatever the bytes; each action agrees with the state it leaves (send:
// one whole frame at the seq before next_seq(); authenticated: capabilities (standard and MariaDB
// extended) within the ones offered; refuse: a reason); a refused machine ignores further input;
// and the outcome does not depend on how the stream is cut into chunks.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "protocol/packet.h"
#include "protocol/server_handshake.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using namespace camproxy::protocol;
using Action = ServerHandshakeAction;

Nonce fixed_nonce() {
  Nonce n{};
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(0x21 + i);
  return n;
}

struct Outcome {
  std::vector<uint8_t> sent;  // every byte the machine asked to send
  ServerHandshakeState state = ServerHandshakeState::wait_greeting;
  HandshakeRefusal refusal = HandshakeRefusal::none;
  uint8_t next_seq = 0;
  bool operator==(const Outcome&) const = default;
};

void check_send(const ServerHandshake& hs, Outcome& out) {
  const auto frame = hs.output();
  std::vector<uint8_t> scratch;
  const auto decoded = decode_packet(frame, kMaxFramePayload, scratch);
  CAMPROXY_FUZZ_CHECK(decoded.has_value() && decoded->consumed == frame.size());
  CAMPROXY_FUZZ_CHECK(static_cast<uint8_t>(decoded->packet.last_seq_id + 1) == hs.next_seq());
  out.sent.insert(out.sent.end(), frame.begin(), frame.end());
}

// Follows the machine as ClientSession does, with the driver's answers taken from `flags`.
void follow(ServerHandshake& hs, Action a, uint8_t flags, Outcome& out) {
  for (;;) {
    switch (a) {
      case Action::read_more: return;
      case Action::send:
        check_send(hs, out);
        a = hs.step();
        break;
      case Action::start_tls: a = hs.tls_ready(); break;
      case Action::check_user:
        if ((flags & 0x08) == 0) return;  // the driver refuses the user itself
        a = hs.accept_user();
        break;
      case Action::verify_password:
        CAMPROXY_FUZZ_CHECK((flags & 0x04) != 0);
        CAMPROXY_FUZZ_CHECK(hs.password_check().nonce.size() == kNonceSize);
        a = hs.verdict((flags & 0x10) != 0);
        break;
      case Action::authenticated:
        CAMPROXY_FUZZ_CHECK(hs.state() == ServerHandshakeState::authenticated);
        CAMPROXY_FUZZ_CHECK((hs.login().capabilities & ~hs.advertised_capabilities()) == 0);
        CAMPROXY_FUZZ_CHECK((hs.login().mariadb_capabilities & ~hs.advertised_mariadb_capabilities()) == 0);
        return;
      case Action::refuse:
        CAMPROXY_FUZZ_CHECK(hs.state() == ServerHandshakeState::refused);
        CAMPROXY_FUZZ_CHECK(hs.refusal() != HandshakeRefusal::none);
        return;
    }
  }
}

Outcome run(uint8_t flags, size_t chunk, std::span<const uint8_t> stream) {
  ServerHandshake hs(&fixed_nonce);
  GreetingInfo info;
  info.server_version = "8.0.36";
  const bool mariadb = (flags & 0x20) != 0;
  info.upstream_capabilities = mariadb ? 0xFFFFFFFE : 0xFFFFFFFF;
  info.upstream_mariadb_capabilities = mariadb ? 0xFFFFFFFF : 0;
  info.tls_offered = (flags & 0x01) != 0;
  info.tls_required = (flags & 0x02) != 0;
  info.local_auth = (flags & 0x04) != 0;
  Outcome out;
  follow(hs, hs.greet(info), flags, out);
  if (chunk == 0) chunk = stream.size() + 1;
  for (size_t at = 0; at < stream.size(); at += chunk) {
    const bool refused = hs.state() == ServerHandshakeState::refused;
    const Action a = hs.feed(stream.subspan(at, std::min(chunk, stream.size() - at)));
    if (refused) CAMPROXY_FUZZ_CHECK(a == Action::read_more);
    follow(hs, a, flags, out);
    if (hs.state() == ServerHandshakeState::check_user) break;  // the driver refused the user
  }
  out.state = hs.state();
  out.refusal = hs.refusal();
  out.next_seq = hs.next_seq();
  return out;
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  InputSplitter in(data, size);
  const uint8_t flags = in.take_u8();
  const size_t chunk = in.take_u8();
  const auto stream = in.rest();
  const Outcome chunked = run(flags, chunk, stream);
  if (chunk != 0) CAMPROXY_FUZZ_CHECK(chunked == run(flags, 0, stream));
  return 0;
}
