// Token decode (auth/token_codec.h) and TC3 signing (auth/tc3_signer.h): the control loop's
// per-refresh cost. Inputs are the first cases of tests/vectors/auth_token.json and
// tests/vectors/tc3_signature.json (synthetic values, no real secrets).
#include <benchmark/benchmark.h>

#include <string_view>

#include "auth/tc3_signer.h"
#include "auth/token_codec.h"

namespace camproxy::bench {
namespace {

// auth_token.json, positive[0] "all_fields_doc_example_account".
constexpr std::string_view kInstanceId = "cdb-12dd3d";
constexpr std::string_view kRegion = "ap-shanghai";
constexpr std::string_view kUserName = "ReadOnly";
constexpr std::string_view kToken =
    "d7ed7e0b34fdc84d2c9f3d92b7a9c4ecf5b56ab3c6cd03e744032c97f7d1cd42-nPYfMqui8yDaZFOncFvOCy7mgo"
    "lJUpV56x8RANEXqvOXwW3DFM17_b-ZJOkMYg9n6UaslObKvEiq79K20_ZUmipa9o4tyHm4kKzS4oopP1rp4C040vppV"
    "ADlVDIpFt1Uz4prZPphrf8qzKF6oYWqXqQL13ywCnpgW7S6TNKzkNVRpA1Oh3KUtqHEPDCoRkPVcNAm7Hk0rbhqO-Xbg"
    "WmKg";
constexpr std::string_view kTokenPassword = "Xk9#mQ2$vL7!pR4@wT6%";

void BM_decode_auth_token(benchmark::State& state) {
  auto first = auth::decode_auth_token(kInstanceId, kRegion, kUserName, kToken);
  if (!first || first->password.view() != kTokenPassword) {
    state.SkipWithError("the vector token does not decode to its password");
    return;
  }
  for (auto _ : state) {
    auto info = auth::decode_auth_token(kInstanceId, kRegion, kUserName, kToken);
    benchmark::DoNotOptimize(info);
  }
}
BENCHMARK(BM_decode_auth_token);

// tc3_signature.json, cases[0] "cam_basic_go_style_body".
constexpr auth::Tc3Input kTc3Input{
    .secret_id = "AKIDcamproxyTESTsecretIdEXAMPLE00001",  // tc3_signature.json case 0 (a vector, not a key)
    .secret_key = "camproxyTESTsecretKeyEXAMPLE0001",
    .service = "cam",
    .host = "cam.tencentcloudapi.com",
    .content_type = "application/json",
    .body = R"({"ResourceId":"cdb-12dd3d","ResourceRegion":"ap-guangzhou","ResourceAccount":"camtest"})",
    .timestamp = 1733802016,
};
constexpr std::string_view kTc3Signature = "41c2abdfe16ad461f7e8da0e3038894729165a51f73eed820d24a0835f0de7ac";

void BM_sign_tc3(benchmark::State& state) {
  if (auth::sign_tc3(kTc3Input).signature != kTc3Signature) {
    state.SkipWithError("the vector request does not sign to its signature");
    return;
  }
  for (auto _ : state) {
    auto signature = auth::sign_tc3(kTc3Input);
    benchmark::DoNotOptimize(signature);
  }
}
BENCHMARK(BM_sign_tc3);

}  // namespace
}  // namespace camproxy::bench
