// Reading the replies to camproxy's own commands from captured MariaDB 10.11 streams.
#include "proxy/pool/command_replies.h"

#include <gtest/gtest.h>

#include "../protocol/test_util.h"
#include "protocol/constants.h"

namespace camproxy::proxy {
namespace {

namespace cap = protocol::cap;
using protocol::test::load_capture;

// The server frames of a capture after the login (greeting, response, OK).
std::vector<std::vector<uint8_t>> server_payloads_after_login(std::string_view name) {
  std::vector<std::vector<uint8_t>> out;
  int seen = 0;
  for (const auto& f : load_capture(name)) {
    if (f.from_client) continue;
    if (++seen <= 2) continue;  // greeting, login OK
    out.emplace_back(f.payload().begin(), f.payload().end());
  }
  return out;
}

TEST(ReplyReader, FirstValueOfATextResultset) {
  for (auto [name, caps] : {std::pair{"rt_select_rows_eof.hex", cap::kProtocol41},
                            std::pair{"rt_select_rows_deprecate_eof.hex", cap::kProtocol41 | cap::kDeprecateEof}}) {
    std::vector<InternalCommand> cmds;
    cmds.push_back(make_query("SELECT id, v FROM camdb.t ORDER BY id", true));
    ReplyReader reader(caps, cmds);
    ReplyReader::Step step = ReplyReader::Step::more;
    for (const auto& p : server_payloads_after_login(name)) {
      step = reader.on_packet(p);
      if (step != ReplyReader::Step::more) break;
    }
    ASSERT_EQ(step, ReplyReader::Step::done) << name;
    ASSERT_TRUE(reader.results()[0].ok) << name;
    ASSERT_EQ(reader.results()[0].row.size(), 2u) << name;
    EXPECT_EQ(reader.results()[0].column(0), "1") << name;
    EXPECT_EQ(reader.results()[0].column(1), "one") << name;
    EXPECT_EQ(reader.results()[0].column(2), std::nullopt) << name;
  }
}

TEST(ReplyReader, OkErrAndEofRepliesInPipelineOrder) {
  // PING -> OK, SET_OPTION -> EOF (no DEPRECATE_EOF), INIT_DB of a missing schema -> ERR.
  const std::vector<uint8_t> ok = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
  const std::vector<uint8_t> eof = {0xFE, 0x00, 0x00, 0x02, 0x00};
  std::vector<uint8_t> err = {0xFF, 0x19, 0x04, '#', '4', '2', '0', '0', '0'};
  const std::string msg = "Unknown database 'nope'";
  err.insert(err.end(), msg.begin(), msg.end());
  std::vector<InternalCommand> cmds = {make_command(protocol::Command::ping),
                                       make_command(protocol::Command::set_option, std::string_view("\0\0", 2)),
                                       make_command(protocol::Command::init_db, "nope")};
  ReplyReader reader(cap::kProtocol41, cmds);
  EXPECT_EQ(reader.on_packet(ok), ReplyReader::Step::more);
  EXPECT_EQ(reader.on_packet(eof), ReplyReader::Step::more);
  EXPECT_EQ(reader.on_packet(err), ReplyReader::Step::done);
  EXPECT_TRUE(reader.results()[0].ok);
  EXPECT_EQ(reader.results()[0].status_flags, 2);
  EXPECT_TRUE(reader.results()[1].ok);
  EXPECT_FALSE(reader.results()[2].ok);
  EXPECT_EQ(reader.results()[2].code, 1049);
  EXPECT_EQ(reader.results()[2].sql_state, "42000");
  EXPECT_EQ(reader.results()[2].message, msg);
}

// MariaDB's CACHE_METADATA (spec §3.1) puts int<1> metadata_follows after the column count: 1
// (every text result; rt_cache_metadata_mariadb_eof.hex) or 0, when no column definitions follow
// but the EOF that closes them still does.
TEST(ReplyReader, MariaDbMetadataFollowsByte) {
  const std::vector<uint8_t> column = {0x03, 'd', 'e', 'f'};
  const std::vector<uint8_t> eof = {0xFE, 0x00, 0x00, 0x02, 0x00};
  const std::vector<uint8_t> row = {0x01, '1', 0x03, 'o', 'n', 'e'};
  for (const uint8_t follows : {uint8_t{1}, uint8_t{0}}) {
    SCOPED_TRACE(follows);
    std::vector<InternalCommand> cmds = {make_query("SELECT id, v FROM camdb.t", true)};
    ReplyReader reader(cap::kProtocol41, cmds);
    std::vector<std::vector<uint8_t>> packets = {{0x02, follows}};
    if (follows == 1) packets.insert(packets.end(), {column, column});
    packets.insert(packets.end(), {eof, row, eof});
    ReplyReader::Step step = ReplyReader::Step::more;
    for (const auto& p : packets) {
      ASSERT_EQ(step, ReplyReader::Step::more);
      step = reader.on_packet(p);
    }
    EXPECT_EQ(step, ReplyReader::Step::done);
    EXPECT_EQ(reader.results()[0].column(0), "1");
    EXPECT_EQ(reader.results()[0].column(1), "one");
  }
}

TEST(ReplyReader, NullColumnsOfTheFirstRowAreNullopt) {
  // SELECT DATABASE(), @@wait_timeout with no current database (DEPRECATE_EOF): 2 columns,
  // a row {NULL, "28800"}, OK terminator. Column definitions are skipped, so their bytes do not matter.
  std::vector<InternalCommand> cmds = {make_query("SELECT DATABASE(), @@wait_timeout", true)};
  ReplyReader reader(cap::kProtocol41 | cap::kDeprecateEof, cmds);
  const std::vector<uint8_t> count = {0x02};
  const std::vector<uint8_t> column = {0x03, 'd', 'e', 'f'};
  const std::vector<uint8_t> row = {0xFB, 0x05, '2', '8', '8', '0', '0'};
  const std::vector<uint8_t> second_row = {0x04, 'c', 'a', 'm', 'x', 0x01, '1'};
  const std::vector<uint8_t> end = {0xFE, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
  EXPECT_EQ(reader.on_packet(count), ReplyReader::Step::more);
  EXPECT_EQ(reader.on_packet(column), ReplyReader::Step::more);
  EXPECT_EQ(reader.on_packet(column), ReplyReader::Step::more);
  EXPECT_EQ(reader.on_packet(row), ReplyReader::Step::more);
  EXPECT_EQ(reader.on_packet(second_row), ReplyReader::Step::more);
  EXPECT_EQ(reader.on_packet(end), ReplyReader::Step::done);
  EXPECT_EQ(reader.results()[0].column(0), std::nullopt);
  EXPECT_EQ(reader.results()[0].column(1), "28800");
}

TEST(ReplyReader, RejectsGarbage) {
  std::vector<InternalCommand> cmds = {make_query("SELECT 1", true)};
  ReplyReader reader(cap::kProtocol41, cmds);
  const std::vector<uint8_t> zero_columns = {0x00 + 0xFC, 0x00};  // truncated lenenc
  EXPECT_EQ(reader.on_packet(zero_columns), ReplyReader::Step::malformed);
}

}  // namespace
}  // namespace camproxy::proxy
