#include "tests/proxy/pool_test_support.h"

#include "auth/secret.h"

namespace camproxy::proxy::testing {

FakePoolEnv::FakePoolEnv(uv_loop_t* loop) : loop_(loop) {
  config_.upstream.host = "127.0.0.1";
  config_.upstream_tls = UpstreamTlsMode::disable;
  config_.db_user = std::string(kPassThroughAccount);  // each client's user name is its account
  config_.pool_min_idle = 0;                           // no warm-up dials: every connection is the test's
  collations_.claim_learning();                        // the collation table is not read here
  auto state = std::make_shared<TokenState>();
  state->generation = 7;
  state->password = std::make_shared<const auth::SecretString>("token-7");
  state->expires_at = std::chrono::steady_clock::now() + std::chrono::hours(1);
  token_ = std::move(state);
}

// The replies of a one-row text resultset (pool_test_support.h).
std::vector<Step> resultset(std::vector<std::optional<std::string>> row) {
  const std::vector<uint8_t> eof = {0xfe, 0, 0, 0x02, 0};
  std::vector<Step> steps = {send({static_cast<uint8_t>(row.size())})};
  for (size_t i = 0; i < row.size(); ++i) steps.push_back(send(bytes_of("column definition")));
  steps.push_back(send(eof));
  std::vector<uint8_t> values;
  for (const auto& v : row) {
    if (!v) {
      values.push_back(0xfb);
      continue;
    }
    values.push_back(static_cast<uint8_t>(v->size()));
    values.insert(values.end(), v->begin(), v->end());
  }
  steps.push_back(send(values));
  steps.push_back(send(eof));
  return steps;
}

Step expect_command(protocol::Command cmd, std::string_view text) {
  std::vector<uint8_t> prefix = {static_cast<uint8_t>(cmd)};
  prefix.insert(prefix.end(), text.begin(), text.end());
  return expect_prefix(std::move(prefix));
}

}  // namespace camproxy::proxy::testing
