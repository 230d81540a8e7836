// Fuzz target: parse_cam_response (spec/tencentcloud-cam.md §3, §5, §6) for a fixed request,
// the one the vectors' success tokens belong to. Input: the HTTP body, read once as an HTTP 200
// answer and once as a 502 answer.
//
// Properties: every result is well-formed for the caller: a token has a password and a positive
// lifetime; an error has a code and its class matches classify_cam_error(); a non-200 answer is
// always an http_status error; server text that reaches logs and ERR packets (code, message,
// request id, rotation status and message) is bounded and has no control characters.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/cam_response.h"
#include "tests/fuzz/fuzz_check.h"

namespace camproxy::fuzz {
namespace {

using namespace camproxy::auth;

constexpr std::string_view kInstanceId = "cdb-12dd3d";
constexpr std::string_view kRegion = "ap-shanghai";
constexpr std::string_view kUserName = "ReadOnly";
// cam_response.cc caps server text at these sizes before it reaches logs.
constexpr size_t kMaxCodeBytes = 128;
constexpr size_t kMaxTextBytes = 512;
constexpr int kBadGateway = 502;

bool printable(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) return false;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return false;
  }
  return true;
}

void check_result(const CamResult& result, int http_status) {
  if (result) {
    CAMPROXY_FUZZ_CHECK(http_status == 200);
    CAMPROXY_FUZZ_CHECK(!result->password.empty());
    CAMPROXY_FUZZ_CHECK(result->lifetime_ms > 0);
    CAMPROXY_FUZZ_CHECK(printable(result->rotation_status, kMaxCodeBytes));
    CAMPROXY_FUZZ_CHECK(printable(result->rotation_message, kMaxTextBytes));
    CAMPROXY_FUZZ_CHECK(printable(result->request_id, kMaxCodeBytes));
    return;
  }
  const CamError& e = result.error();
  CAMPROXY_FUZZ_CHECK(!e.code.empty());
  CAMPROXY_FUZZ_CHECK(e.http_status == http_status);
  CAMPROXY_FUZZ_CHECK(printable(e.code, kMaxCodeBytes));
  CAMPROXY_FUZZ_CHECK(printable(e.request_id, kMaxCodeBytes));
  CAMPROXY_FUZZ_CHECK(printable(e.message, kMaxCodeBytes + kMaxTextBytes));
  if (e.error_class == ErrorClass::user_notification) {
    CAMPROXY_FUZZ_CHECK(classify_cam_error(e.code) == ErrorClass::user_notification);
  }
  if (http_status != 200) CAMPROXY_FUZZ_CHECK(e.code == client_error::kHttpStatus);
}

}  // namespace
}  // namespace camproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camproxy::fuzz;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (const int status : {200, kBadGateway}) {
    check_result(camproxy::auth::parse_cam_response(status, body, kInstanceId, kRegion, kUserName), status);
  }
  return 0;
}
