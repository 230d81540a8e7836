#pragma once
// What `camproxy status` prints: the admin endpoint's JSON answers (docs/operations.md
// "Introspection") as plain-text tables for a person at a terminal. No I/O here.
#include <string>
#include <vector>

namespace camproxy::proxy {

// Columns padded to their widest cell, two spaces apart, the header first.
std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// The four answers' bodies, as the admin endpoint sent them.
struct StatusAnswers {
  std::string targets, tokens, pools, sessions;
};

// The TARGETS, TOKENS, POOLS and SESSIONS sections; false and `error` naming the answer that
// is not the JSON expected.
bool render_status(const StatusAnswers& answers, std::string& out, std::string& error);

}  // namespace camproxy::proxy
