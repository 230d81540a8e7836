// One assertion per row of the client error table: code, SQLSTATE, and a message that names
// what the operator needs and nothing secret.
#include "proxy/session/client_errors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace camproxy::proxy {
namespace {

struct Row {
  ClientError kind;
  uint16_t code;
  const char* sql_state;
  const char* must_contain;
};

TEST(ClientErrors, EveryKindHasItsCodeStateAndMessage) {
  const Row rows[] = {
      {ClientError::cam_rejected, 1045, "28000", "CAM refused"},
      {ClientError::cam_unavailable, 1045, "28000", "no CAM token"},
      {ClientError::cam_rate_limited, 1226, "42000", "--cam-rate-limit"},
      {ClientError::upstream_unreachable, 9001, "08S01", "cannot connect to the database db:3306"},
      {ClientError::upstream_tls, 9002, "08S01", "--upstream-tls"},
      {ClientError::upstream_auth_rejected, 1045, "28000", "refused the CAM token of account 'acct'"},
      {ClientError::upstream_protocol, 9003, "08S01", "unexpected answer"},
      {ClientError::upstream_unsafe_auth, 9007, "08S01", "refused to log in to the database db:3306 as account 'acct'"},
      {ClientError::no_account, 1045, "28000", "--db-user"},
      {ClientError::user_not_mapped, 1045, "28000", "user 'DETAIL' is not in the account map"},
      {ClientError::compression_refused, 1158, "08S01", "compression"},
      {ClientError::old_auth_protocol, 1251, "08004", "authentication protocol"},
      {ClientError::bad_handshake, 1043, "08S01", "Bad handshake: DETAIL"},
      {ClientError::handshake_timeout, 1043, "08S01", "in time"},
      {ClientError::packet_too_large, 1153, "08S01", "bigger"},
      {ClientError::tls_not_offered, 1043, "08S01", "TLS"},
      {ClientError::no_connection_free, 9008, "08004", "no database connection free after waiting"},
      {ClientError::too_many_clients, 1040, "08004", "--max-client-connections"},
      {ClientError::lost_during_command, 9004, "08S01", "may or may not have completed"},
      {ClientError::lost_with_state, 9005, "08S01", "cannot be re-created (DETAIL)"},
      {ClientError::unsupported_command, 1235, "42000", "does not support DETAIL"},
      {ClientError::unknown_thread, 1094, "HY000", "Unknown thread id: DETAIL"},
      {ClientError::kill_refused, 1095, "HY000", "refused to kill connection DETAIL"},
      {ClientError::kill_denied, 1095, "HY000", "You are not owner of thread DETAIL"},
      {ClientError::peer_refused, 9006, "28000", "uid DETAIL may not connect"},
      {ClientError::local_auth_denied, 1045, "28000", "Access denied for user 'app'"},
      {ClientError::too_many_statements, 1461, "42000", "max_prepared_stmt_count statements (current value: DETAIL)"},
      {ClientError::unknown_statement, 1243, "HY000", "Unknown prepared statement handler (DETAIL)"},
      {ClientError::tls_required, 3159, "HY000", "must use TLS"},
  };
  ClientErrorContext ctx{"acct", "cdb-x", "ap-guangzhou", "db:3306", "DETAIL", "app"};
  for (const Row& r : rows) {
    OwnedErr e = make_client_error(r.kind, ctx);
    EXPECT_EQ(e.code, r.code) << r.must_contain;
    EXPECT_EQ(e.sql_state, r.sql_state) << r.must_contain;
    EXPECT_NE(e.message.find(r.must_contain), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find('{'), std::string::npos) << "unfilled placeholder: " << e.message;
    // spec: client-library codes (2000-2999) are rejected by MariaDB Connector/C.
    EXPECT_FALSE(e.code >= 2000 && e.code < 3000) << e.message;
  }
}

TEST(ClientErrors, CamMessagesNameAccountInstanceAndRegion) {
  OwnedErr e = make_client_error(ClientError::cam_rejected, {"camtest", "cdb-12dd3d", "ap-shanghai", "h:1",
                                                             "AuthFailure.SignatureFailure: bad", "app"});
  EXPECT_NE(e.message.find("'camtest'"), std::string::npos);
  EXPECT_NE(e.message.find("cdb-12dd3d"), std::string::npos);
  EXPECT_NE(e.message.find("ap-shanghai"), std::string::npos);
  EXPECT_NE(e.message.find("AuthFailure.SignatureFailure"), std::string::npos);
}

// The reason camproxy_client_connections_failed_total counts each kind under (docs/metrics.md).
TEST(ClientErrors, EveryKindCountsUnderItsReason) {
  using F = ClientFailure;
  const std::pair<ClientError, std::optional<F>> rows[] = {
      {ClientError::cam_rejected, F::cam},
      {ClientError::cam_unavailable, F::cam},
      {ClientError::cam_rate_limited, F::cam},
      {ClientError::upstream_unreachable, F::upstream},
      {ClientError::upstream_tls, F::upstream},
      {ClientError::upstream_auth_rejected, F::upstream},
      {ClientError::upstream_protocol, F::upstream},
      {ClientError::upstream_unsafe_auth, F::upstream},
      {ClientError::no_account, F::client_protocol},
      {ClientError::user_not_mapped, F::client_protocol},
      {ClientError::compression_refused, F::client_protocol},
      {ClientError::old_auth_protocol, F::client_protocol},
      {ClientError::bad_handshake, F::client_protocol},
      {ClientError::handshake_timeout, F::handshake_timeout},
      {ClientError::packet_too_large, F::client_protocol},
      {ClientError::tls_not_offered, F::client_protocol},
      {ClientError::no_connection_free, F::pool_full},
      {ClientError::too_many_clients, F::client_protocol},
      {ClientError::too_many_logins, F::client_protocol},
      {ClientError::lost_during_command, F::upstream},
      {ClientError::lost_with_state, F::upstream},
      {ClientError::unsupported_command, std::nullopt},  // answers a command; the session goes on
      {ClientError::unknown_thread, std::nullopt},
      {ClientError::kill_refused, std::nullopt},
      {ClientError::kill_denied, std::nullopt},
      {ClientError::peer_refused, F::peer_refused},
      {ClientError::local_auth_denied, F::local_auth},
      {ClientError::too_many_statements, std::nullopt},
      {ClientError::unknown_statement, std::nullopt},
      {ClientError::tls_required, F::client_tls},
  };
  static_assert(std::size(rows) == kClientErrorCount);
  for (const auto& [kind, reason] : rows) {
    EXPECT_EQ(login_failure_reason(kind), reason) << make_client_error(kind, {}).message;
  }
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The reverse of the metric table's DocIsCurrent: every reason docs/metrics.md documents is
// counted somewhere, by a row of the ERR table or by a `ClientFailure::<reason>` in proxy/.
TEST(ClientErrors, EveryDocumentedFailureReasonHasAnEmittingPath) {
  std::string sources;
  const auto root = std::filesystem::path(CAMPROXY_TEST_DATA_DIR) / "../../proxy";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".cc" || ext == ".h")) sources += read_text(entry.path());
  }
  ASSERT_NE(sources.find("ClientFailure"), std::string::npos) << "no sources under " << root;
  for (size_t i = 0; i < FixedLabel<ClientFailure>::kValues.size(); ++i) {
    const auto reason = static_cast<ClientFailure>(i);
    const std::string_view name = FixedLabel<ClientFailure>::kValues[i].value;
    bool emitted = sources.find("ClientFailure::" + std::string(name)) != std::string::npos;
    for (size_t k = 0; k < kClientErrorCount; ++k) {
      emitted = emitted || login_failure_reason(static_cast<ClientError>(k)) == reason;
    }
    EXPECT_TRUE(emitted) << "reason=\"" << name << "\" is documented but nothing counts it";
  }
}

}  // namespace
}  // namespace camproxy::proxy

namespace camproxy::proxy {
namespace {

// camproxy_client_errors_total counts each ERR under its code: every code of the table must be
// a value of the metric's fixed label (metrics.h ClientErrCode).
TEST(ClientErrors, EveryCodeIsALabelOfTheErrorsMetric) {
  for (size_t i = 0; i < kClientErrorCount; ++i) {
    const auto kind = static_cast<ClientError>(i);
    const auto label = error_code_label(kind);
    ASSERT_TRUE(label) << "kind " << i << " code " << make_client_error(kind, {}).code;
    EXPECT_EQ(label_value(*label), std::to_string(make_client_error(kind, {}).code));
  }
}

}  // namespace
}  // namespace camproxy::proxy
