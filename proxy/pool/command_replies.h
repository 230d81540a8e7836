#pragma once
// Commands camproxy sends itself on a database connection (reset before reuse, fix-ups before
// handing a connection to a client, session replay after a reconnect) and the reading of their
// replies. Pure code over whole packets; the connection feeds it.
//
// Commands are pipelined: all are written at once, then one reply per command is read
// (spec/mysql-protocol.md §5.3 "write all, then read all replies").
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/constants.h"

namespace camproxy::proxy {

struct InternalCommand {
  std::vector<uint8_t> payload;  // command byte + arguments
  bool wants_value = false;      // reply is a text resultset whose first row is kept
};

InternalCommand make_command(protocol::Command cmd, std::string_view arg = {});
InternalCommand make_query(std::string_view sql, bool wants_value = false);

struct InternalResult {
  bool ok = false;
  uint16_t code = 0;  // ERR
  std::string sql_state;
  std::string message;
  std::vector<std::optional<std::string>> row;  // wants_value: the first row's columns (nullopt: NULL)
  uint16_t status_flags = 0;                    // of the OK/EOF that ended the reply

  // Column `i` of the first row; nullopt when NULL or absent (no row, fewer columns).
  std::optional<std::string> column(size_t i) const { return i < row.size() ? row[i] : std::nullopt; }
};

class ReplyReader {
 public:
  ReplyReader(uint32_t caps, const std::vector<InternalCommand>& commands);

  enum class Step { more, done, malformed };
  // One whole packet of the server's reply stream.
  Step on_packet(std::span<const uint8_t> payload);
  const std::vector<InternalResult>& results() const { return results_; }

 private:
  enum class Phase { first, columns, columns_eof, rows };
  Step on_first_packet(InternalResult& r, std::span<const uint8_t> p);
  Step on_row_packet(InternalResult& r, std::span<const uint8_t> p);
  Step finish_with_err(InternalResult& r, std::span<const uint8_t> p);
  Step finish_reply();

  uint32_t caps_;
  std::vector<bool> wants_value_;
  std::vector<InternalResult> results_;
  size_t current_ = 0;
  Phase phase_ = Phase::first;
  uint64_t columns_left_ = 0;
  bool row_seen_ = false;  // the current reply's first row was read
};

}  // namespace camproxy::proxy
