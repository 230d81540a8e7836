#include "proxy/session/statement_map.h"

namespace camproxy::proxy {

StatementMap::~StatementMap() {
  if (!statements_.empty()) note_statements_forgotten();
}

bool StatementMap::full(size_t sql_size) const {
  return statements_.size() >= limits_.max_statements || text_bytes_ + sql_size > limits_.max_text_bytes;
}

uint32_t StatementMap::reserve(std::string sql, bool replayable) {
  const uint32_t id = next_id_++;
  if (next_id_ == 0xFFFFFFFF) next_id_ = 1;  // 0xFFFFFFFF names MariaDB's last prepared statement
  text_bytes_ += sql.size();
  Statement& s = statements_[id];
  s.sql = std::move(sql);
  s.replayable = replayable;
  return id;
}

void StatementMap::prepared(uint32_t id, uint16_t num_params, uint16_t num_columns) {
  const auto it = statements_.find(id);
  if (it == statements_.end()) return;
  it->second.prepared = true;
  it->second.num_params = num_params;
  it->second.num_columns = num_columns;
}

void StatementMap::failed(uint32_t id) {
  const auto it = statements_.find(id);
  if (it != statements_.end()) erase(it);
}

StatementMap::Statement* StatementMap::find(uint32_t id) {
  const auto it = statements_.find(id);
  return it == statements_.end() ? nullptr : &it->second;
}

void StatementMap::forget(uint32_t id) {
  const auto it = statements_.find(id);
  if (it == statements_.end()) return;
  erase(it);
  note_statements_forgotten();
}

void StatementMap::clear() {
  if (statements_.empty()) return;
  statements_.clear();
  text_bytes_ = 0;
  long_data_ = 0;
  note_statements_forgotten();
}

void StatementMap::erase(std::unordered_map<uint32_t, Statement>::iterator it) {
  set_long_data(it->second, false);
  text_bytes_ -= it->second.sql.size();
  statements_.erase(it);
}

void StatementMap::set_long_data(Statement& s, bool on) {
  if (s.long_data != on) on ? ++long_data_ : --long_data_;
  s.long_data = on;
}

std::optional<ExecuteTypes> find_execute_types(std::span<const uint8_t> prefix, uint16_t num_params) {
  if (num_params == 0) return std::nullopt;
  const size_t flag_at = 1 + 4 + 1 + 4 + (static_cast<size_t>(num_params) + 7) / 8;
  if (prefix.size() <= flag_at) return std::nullopt;
  return ExecuteTypes{.flag_at = flag_at, .sent = prefix[flag_at] == 1};
}

}  // namespace camproxy::proxy
