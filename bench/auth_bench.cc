// Token decode (auth/token_codec.h) and TC3 signing (auth/tc3_signer.h): the control loop's
// per-refresh cost. Inputs are read from the first cases of tests/vectors/auth_token.json and
// tests/vectors/tc3_signature.json (synthetic values from the vendor's algorithm).
#include <benchmark/benchmark.h>

#include <string>

#include "auth/tc3_signer.h"
#include "auth/token_codec.h"
#include "tests/vector_file.h"

namespace camproxy::bench {
namespace {

using auth::test::load_vectors;
using auth::test::str;

simdjson::dom::element first_case(std::string_view file, std::string_view list) {
  simdjson::dom::element first;
  if (load_vectors(file)[list].at(0).get(first) != simdjson::SUCCESS) return {};
  return first;
}

// auth_token.json, positive[0] "all_fields_doc_example_account".
void BM_decode_auth_token(benchmark::State& state) {
  const auto c = first_case("auth_token.json", "positive");
  const simdjson::dom::element in = c["inputs"].value();
  const std::string instance = str(in, "instance_id"), region = str(in, "region"), user = str(in, "user_name"),
                    token = str(in, "token");
  auto first = auth::decode_auth_token(instance, region, user, token);
  if (!first || first->password.view() != str(c["expected"].value(), "password")) {
    state.SkipWithError("the vector token does not decode to its password");
    return;
  }
  for (auto _ : state) {
    auto info = auth::decode_auth_token(instance, region, user, token);
    benchmark::DoNotOptimize(info);
  }
}
BENCHMARK(BM_decode_auth_token);

// tc3_signature.json, cases[0] "cam_basic_go_style_body".
void BM_sign_tc3(benchmark::State& state) {
  const auto c = first_case("tc3_signature.json", "cases");
  const simdjson::dom::element in = c["inputs"].value();
  const std::string id = str(in, "secret_id"), key = str(in, "secret_key"), service = str(in, "service"),
                    host = str(in, "host"), content_type = str(in, "content_type"), body = str(in, "body");
  const auth::Tc3Input input{id, key, service, host, content_type, body, auth::test::i64(in, "timestamp")};
  if (auth::sign_tc3(input).signature != str(c["expected"].value(), "signature")) {
    state.SkipWithError("the vector request does not sign to its signature");
    return;
  }
  for (auto _ : state) {
    auto signature = auth::sign_tc3(input);
    benchmark::DoNotOptimize(signature);
  }
}
BENCHMARK(BM_sign_tc3);

}  // namespace
}  // namespace camproxy::bench
