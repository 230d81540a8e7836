#pragma once
// --pool-mode transaction: a client's server-side prepared statements, carried from one database
// connection to the next instead of pinning the session (docs/operations.md "Transaction
// pooling"). The client sees camproxy's own statement ids, stable for its whole session; each
// connection records under which server id it has which of them (proxy/pool/conn_statements.h).
// A statement not prepared on the connection the client has now is prepared there again from its
// text before the command that names it (session_statements.cc).
//
// Bounds: at most StatementLimits::max_statements statements (prepares in flight included) and
// StatementLimits::max_text_bytes of their text per client; a prepare beyond either gets the server's own
// error 1461, as a server at max_prepared_stmt_count answers. Long data is not kept: a statement
// with long data sent holds its connection until it is executed, reset or closed.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/pool/conn_statements.h"

namespace camproxy::proxy {

struct StatementLimits {
  size_t max_statements = 1024;
  size_t max_text_bytes = 4 * 1024 * 1024;
};

class StatementMap final : public StatementOwner {
 public:
  using Limits = StatementLimits;
  struct Statement {
    std::string sql;          // the COM_STMT_PREPARE text
    bool replayable = true;   // false: too long to keep (the session is pinned instead)
    bool prepared = false;    // its PREPARE_OK came (false: the prepare is in flight)
    uint16_t num_params = 0;  // from PREPARE_OK
    uint16_t num_columns = 0;
    std::vector<uint8_t> types;  // int<2> per parameter, from the last execute that sent them
    bool long_data = false;      // COM_STMT_SEND_LONG_DATA since its last execute or reset
  };

  explicit StatementMap(Limits limits = {}) : limits_(limits) {}
  StatementMap(const StatementMap&) = delete;
  StatementMap& operator=(const StatementMap&) = delete;
  ~StatementMap();

  // A prepare of `sql` would go beyond the limits.
  bool full(size_t sql_size) const;
  const Limits& limits() const { return limits_; }
  // A new client id for a prepare about to be sent; never 0 and never reused in the session.
  uint32_t reserve(std::string sql, bool replayable);
  // The prepare's reply: PREPARE_OK with these counts, or an ERR (the id is dropped).
  void prepared(uint32_t id, uint16_t num_params, uint16_t num_columns);
  void failed(uint32_t id);
  Statement* find(uint32_t id);
  // COM_STMT_CLOSE: gone here, and stale wherever a connection still has it.
  void forget(uint32_t id);
  // COM_RESET_CONNECTION, COM_CHANGE_USER: the server dropped every statement.
  void clear();

  void set_long_data(Statement& s, bool on);
  // Some statement has long data on the connection, which the server keeps for its next execute:
  // the connection stays with the session until then.
  bool holds_connection() const { return long_data_ != 0; }
  size_t size() const { return statements_.size(); }

  // StatementOwner
  bool holds(uint32_t client_id) const override { return statements_.contains(client_id); }

 private:
  void erase(std::unordered_map<uint32_t, Statement>::iterator it);

  Limits limits_;
  std::unordered_map<uint32_t, Statement> statements_;
  size_t text_bytes_ = 0;
  size_t long_data_ = 0;  // statements with long_data
  uint32_t next_id_ = 1;
};

// What a statement command's reply means to the session (ClientSession::CommandEffects).
struct StatementReply {
  enum class Kind : uint8_t {
    prepare,    // the client's COM_STMT_PREPARE: PREPARE_OK's id becomes client_id on its way
    reprepare,  // camproxy's own prepare of client_id on this connection: the reply is not relayed
    execute,    // COM_STMT_EXECUTE: the server has used (and dropped) the statement's long data
  };
  Kind kind = Kind::execute;
  uint32_t client_id = 0;
};

// An execute's parameter types (spec/mysql-protocol.md §4.3, COM_STMT_EXECUTE): after int<1>
// command, int<4> statement_id, int<1> flags, int<4> iteration_count and, with parameters,
// NULL-bitmap[(n+7)/8] and int<1> new_params_bound_flag come n int<2> types when the flag is 1.
struct ExecuteTypes {
  size_t flag_at = 0;  // offset of new_params_bound_flag in the payload
  bool sent = false;   // the flag is 1: types follow at flag_at + 1
};
// Where the flag is, from a payload prefix; nullopt without parameters or when `prefix` is too short.
std::optional<ExecuteTypes> find_execute_types(std::span<const uint8_t> prefix, uint16_t num_params);

}  // namespace camproxy::proxy
