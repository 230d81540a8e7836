// UpstreamConn after login, against a scripted server: camproxy's own commands pipelined,
// COM_CHANGE_USER, COM_QUIT, and the relay (data both ways, back-pressure, the server leaving).
#include <gtest/gtest.h>

#include "protocol/change_user.h"
#include "protocol/constants.h"
#include "proxy/pool/command_replies.h"
#include "proxy/pool/upstream_conn.h"
#include "tests/proxy/upstream_conn_fixture.h"

namespace camproxy::proxy {
namespace {

using namespace testing;  // NOLINT: the harness's step builders read as a script

// Greeting, native login, OK: the steps every test here starts with.
Script logged_in_script(Script then) {
  Script s{
      send(greeting_payload(make_greeting(protocol::kNativePassword))),
      expect_login(protocol::kNativePassword, as_string(protocol::native_scramble(kPasswordBytes, kGreetingNonce))),
      send(ok_payload()),
  };
  s.insert(s.end(), then.begin(), then.end());
  return s;
}

std::vector<uint8_t> joined(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

class UpstreamConnSessionTest : public UpstreamConnTest {};

TEST_F(UpstreamConnSessionTest, RunsItsOwnCommandsPipelined) {
  const std::vector<uint8_t> eof = {0xFE, 0, 0, 0x02, 0};
  const std::vector<uint8_t> column_def = {3, 'd', 'e', 'f', 0, 0,    0, 1, 'v', 0, 0x0c, 0x21,
                                           0, 0,   0,   0,   0, 0xfd, 0, 0, 0,   0, 0};
  auto& server = serve(logged_in_script({
      // All three arrive before the server answers any: one pipelined write.
      expect_prefix(joined({{0x03}, bytes_of("SET @a = 1")})),
      expect_prefix(joined({{0x03}, bytes_of("SELECT 'v'")})),
      expect_prefix(joined({{0x03}, bytes_of("SET @bad")})),
      send_raw(joined({
          framed(ok_payload(), 1),
          framed({0x01}, 1),
          framed(column_def, 2),
          framed(eof, 3),
          framed({0x01, 'v'}, 4),
          framed(eof, 5),
          framed(err_payload(1193, "HY000", "Unknown system variable"), 1),
      })),
      stall(),
  }));
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  conn_->run_commands({make_query("SET @a = 1"), make_query("SELECT 'v'", true), make_query("SET @bad")});
  EXPECT_FALSE(conn_->at_rest());
  ASSERT_TRUE(run_until([&] { return owner_.results.has_value() || owner_.failures > 0; })) << server.error();
  ASSERT_TRUE(owner_.results) << owner_.failure->message;
  const auto& r = *owner_.results;
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[0].ok);
  EXPECT_TRUE(r[1].ok);
  EXPECT_EQ(r[1].column(0), "v");
  EXPECT_FALSE(r[2].ok);
  EXPECT_EQ(r[2].code, 1193);
  EXPECT_TRUE(conn_->at_rest());
  for (size_t i = 1; i < server.received().size(); ++i) EXPECT_EQ(server.received()[i].seq, 0) << i;
  EXPECT_TRUE(owner_.data.empty()) << "command replies are not relayed";
}

// --pool-mode transaction: the server drops every prepared statement at COM_RESET_CONNECTION
// (spec §5.1), so the connection forgets which sessions' statements it has; other commands keep them.
TEST_F(UpstreamConnSessionTest, AResetForgetsTheSessionsPreparedStatements) {
  auto& server = serve(logged_in_script({
      expect_prefix({0x03}),
      send_raw(framed(ok_payload(), 1)),
      expect_prefix({static_cast<uint8_t>(protocol::Command::reset_connection)}),
      send_raw(framed(ok_payload(), 1)),
      stall(),
  }));
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  struct Owner final : StatementOwner {
    bool holds(uint32_t) const override { return true; }
  };
  auto owner = std::make_shared<Owner>();
  conn_->statements().add(owner, 1, 5);
  conn_->run_commands({make_query("DO 1")});
  ASSERT_TRUE(run_until([&] { return owner_.results.has_value() || owner_.failures > 0; })) << server.error();
  EXPECT_EQ(conn_->statements().size(), 1U);
  owner_.results.reset();
  conn_->run_commands({make_command(protocol::Command::reset_connection)});
  EXPECT_EQ(conn_->statements().size(), 0U);
  ASSERT_TRUE(run_until([&] { return owner_.results.has_value() || owner_.failures > 0; })) << server.error();
  EXPECT_TRUE(owner_.results->front().ok);
}

TEST_F(UpstreamConnSessionTest, ChangeUserReauthenticatesWithTheNewPassword) {
  const std::string token = "token-2";
  const std::vector<uint8_t> token_bytes(token.begin(), token.end());
  auto& server = serve(logged_in_script({
      expect("COM_CHANGE_USER",
             [&](const ReceivedPacket& p) {
               if (p.seq != 0) return std::string("seq ") + std::to_string(p.seq);
               if (p.payload.empty() || p.payload[0] != 0x11) return std::string("not COM_CHANGE_USER");
               auto cmd = protocol::decode_change_user(p.payload, conn_->capabilities());
               if (!cmd) return "undecodable: " + cmd.error().message();
               if (cmd->user != "app") return "user " + cmd->user;
               // spec §2.7: scrambled over the greeting's nonce.
               if (cmd->auth_response != as_string(protocol::native_scramble(token_bytes, kGreetingNonce)))
                 return std::string("wrong auth response");
               return std::string();
             }),
      send(ok_payload()),
      stall(),
  }));
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  conn_->change_user(std::make_shared<const auth::SecretString>(token));
  ASSERT_TRUE(run_until([&] { return owner_.ready == 2 || owner_.failures > 0 || server.failed(); }));
  EXPECT_TRUE(server.finished()) << server.error();
  EXPECT_EQ(owner_.ready, 2);
  EXPECT_TRUE(conn_->at_rest());
}

TEST_F(UpstreamConnSessionTest, ARefusedChangeUserIsAServerError) {
  auto& server = serve(logged_in_script({
      expect_prefix({0x11}),
      send(err_payload(1045, "28000", "Access denied")),
      stall(),
  }));
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  conn_->change_user(std::make_shared<const auth::SecretString>("expired"));
  auto f = failure();
  ASSERT_TRUE(f) << server.error();
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::server_error);
  EXPECT_EQ(f->code, 1045);
}

TEST_F(UpstreamConnSessionTest, QuitSaysComQuitAndCloses) {
  auto& server = serve(logged_in_script({expect_exactly("COM_QUIT", {0x01})}));
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  conn_->quit();
  conn_ = nullptr;  // gone once its handles close
  ASSERT_TRUE(run_until([&] { return server.client_gone(); })) << server.error();
  EXPECT_TRUE(server.finished()) << server.error();
  EXPECT_EQ(server.received().back().seq, 0);
  EXPECT_EQ(owner_.failures, 0) << "no event after close";
}

TEST_F(UpstreamConnSessionTest, RelaysBytesBothWaysAfterLogin) {
  const auto ok = framed(ok_payload(), 2);
  const auto first_result = framed({0x01}, 1);
  auto& server = serve({
      send(greeting_payload(make_greeting(protocol::kNativePassword))),
      expect_any("HandshakeResponse41"),
      // The OK and the start of the next reply in one segment: the rest belongs to the relay.
      send_raw(joined({ok, first_result})),
      stall(),
  });
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  ASSERT_TRUE(run_until([&] { return owner_.data.size() == first_result.size(); }));
  EXPECT_EQ(owner_.data, first_result);

  conn_->stop_reading();
  server.send_bytes(std::vector<uint8_t>{'a', 'b'});
  run_for(30);
  EXPECT_EQ(owner_.data.size(), first_result.size()) << "nothing while stopped";
  conn_->start_reading();
  ASSERT_TRUE(run_until([&] { return owner_.data.size() == first_result.size() + 2; }));

  const auto query = framed(joined({{0x03}, bytes_of("SELECT 1")}), 0);
  conn_->write(query);
  ASSERT_TRUE(run_until([&] { return server.received().size() == 2; }));
  EXPECT_EQ(server.received()[1].payload, joined({{0x03}, bytes_of("SELECT 1")}));
  EXPECT_EQ(owner_.failures, 0);
}

TEST_F(UpstreamConnSessionTest, ReportsDrainedAfterABigWrite) {
  auto& server = serve(logged_in_script({stall()}));
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  std::vector<uint8_t> big(8 * 1024 * 1024, 'x');
  big[0] = 0x03;
  // Loopback buffers autotune up to several MiB: write packets until the kernel holds some back.
  size_t packets = 0;
  while (!conn_->has_pending_writes() && packets < 8) {
    conn_->write(framed(big, 0));
    ++packets;
  }
  ASSERT_TRUE(conn_->has_pending_writes()) << "the kernel took " << packets * 8 << " MiB at once";
  EXPECT_EQ(owner_.drained, 0);
  ASSERT_TRUE(run_until([&] { return owner_.drained > 0 && server.received().size() == 1 + packets; }));
  EXPECT_FALSE(conn_->has_pending_writes());
  EXPECT_EQ(owner_.drained, 1);
  for (size_t i = 1; i <= packets; ++i) EXPECT_EQ(server.received()[i].payload.size(), big.size());
}

TEST_F(UpstreamConnSessionTest, TheServerLeavingAfterLoginIsKindClosed) {
  auto& server = serve(logged_in_script({close_connection()}));
  dial(server.port());
  ASSERT_TRUE(logged_in()) << server.error();
  auto f = failure();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, UpstreamFailure::Kind::closed);
  EXPECT_EQ(owner_.failures, 1);
}

}  // namespace
}  // namespace camproxy::proxy
