#include "proxy/status_report.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>

namespace camproxy::proxy {
namespace {

using simdjson::dom::element;

// One cell: strings as they are, numbers as numbers (seconds with one decimal), booleans as
// yes/no, null and absent as "-".
std::string cell(element parent, const char* key) {
  element v;
  if (parent[key].get(v) != simdjson::SUCCESS || v.is_null()) return "-";
  if (v.is_string()) return std::string(std::string_view(v.get_string().value_unsafe()));
  if (v.is_bool()) return v.get_bool().value_unsafe() ? "yes" : "no";
  if (v.is_int64()) return std::to_string(v.get_int64().value_unsafe());
  if (v.is_uint64()) return std::to_string(v.get_uint64().value_unsafe());
  if (v.is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v.get_double().value_unsafe());
    return buf;
  }
  return "?";
}

std::string joined(element parent, const char* key) {
  simdjson::dom::array items;
  if (parent[key].get(items) != simdjson::SUCCESS) return "-";
  std::string out;
  for (element item : items) {
    std::string_view s;
    if (item.get(s) == simdjson::SUCCESS) out += (out.empty() ? "" : ",") + std::string(s);
  }
  return out;
}

// The array `key` of the JSON document `body`.
bool items_of(simdjson::dom::parser& parser, const std::string& body, const char* key, simdjson::dom::array& out,
              element& doc) {
  return parser.parse(body).get(doc) == simdjson::SUCCESS && doc[key].get(out) == simdjson::SUCCESS;
}

std::string partial_note(element doc) {
  int64_t missing = 0;
  if (doc["missing_workers"].get(missing) != simdjson::SUCCESS || missing == 0) return "";
  return "(partial: " + std::to_string(missing) + " worker(s) did not answer in time)\n";
}

std::string section(const std::string& title, const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows, const std::string& note = "") {
  return title + "\n" + note + (rows.empty() ? "(none)\n" : render_table(header, rows));
}

}  // namespace

std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  auto measure = [&width](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  auto line = [&width](const std::vector<std::string>& row) {
    std::string out;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string& c = i < row.size() ? row[i] : std::string();
      out += c;
      if (i + 1 < width.size()) out += std::string(width[i] - c.size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header);
  for (const auto& r : rows) out += line(r);
  return out;
}

bool render_status(const StatusAnswers& answers, std::string& out, std::string& error) {
  simdjson::dom::parser parser;
  simdjson::dom::array items;
  element doc;
  std::vector<std::vector<std::string>> rows;

  if (!items_of(parser, answers.targets, "targets", items, doc)) {
    error = "/debug/targets is not the JSON expected";
    return false;
  }
  for (element t : items) {
    element accounts;
    const std::string mode = t["accounts"].get(accounts) == simdjson::SUCCESS ? cell(accounts, "mode") : "-";
    rows.push_back({cell(t, "name"), joined(t, "listen"), cell(t, "upstream"), cell(t, "instance_id"),
                    cell(t, "region"), mode, cell(t, "workers"), cell(t, "open_sessions")});
  }
  out =
      section("TARGETS", {"NAME", "LISTEN", "UPSTREAM", "INSTANCE", "REGION", "ACCOUNTS", "WORKERS", "SESSIONS"}, rows);

  if (!items_of(parser, answers.tokens, "tokens", items, doc)) {
    error = "/debug/tokens is not the JSON expected";
    return false;
  }
  rows.clear();
  for (element t : items) {
    rows.push_back({cell(t, "target"), cell(t, "account"), cell(t, "fetched_at"), cell(t, "age_seconds"),
                    cell(t, "next_rotation_in_seconds"), cell(t, "fallback_in_use"), cell(t, "last_cam_outcome"),
                    cell(t, "fetch_ok"), cell(t, "fetch_retryable"), cell(t, "fetch_rejected")});
  }
  out += "\n" + section("TOKENS",
                        {"TARGET", "ACCOUNT", "FETCHED", "AGE_S", "ROTATES_IN_S", "FALLBACK", "LAST_CAM", "OK",
                         "RETRYABLE", "REJECTED"},
                        rows);

  if (!items_of(parser, answers.pools, "workers", items, doc)) {
    error = "/debug/pools is not the JSON expected";
    return false;
  }
  rows.clear();
  for (element w : items) {
    simdjson::dom::array keys;
    if (w["keys"].get(keys) != simdjson::SUCCESS) continue;
    for (element k : keys) {
      rows.push_back({cell(w, "target"), cell(w, "worker"), cell(k, "account"), cell(k, "caps"),
                      cell(k, "mariadb_caps"), cell(k, "idle"), cell(k, "in_use"), cell(k, "warming"),
                      cell(k, "learning"), cell(k, "cleaning"), cell(k, "waiting")});
    }
  }
  out += "\n" + section("POOLS",
                        {"TARGET", "WORKER", "ACCOUNT", "CAPS", "MARIADB_CAPS", "IDLE", "IN_USE", "WARMING", "LEARNING",
                         "CLEANING", "WAITING"},
                        rows, partial_note(doc));

  if (!items_of(parser, answers.sessions, "sessions", items, doc)) {
    error = "/debug/sessions is not the JSON expected";
    return false;
  }
  rows.clear();
  for (element s : items) {
    rows.push_back({cell(s, "target"), cell(s, "worker"), cell(s, "id"), cell(s, "user"), cell(s, "peer"),
                    cell(s, "state"), cell(s, "thread_id"), cell(s, "in_transaction"), cell(s, "age_seconds"),
                    cell(s, "bytes_from_client"), cell(s, "bytes_to_client")});
  }
  out += "\n" + section("SESSIONS",
                        {"TARGET", "WORKER", "ID", "USER", "PEER", "STATE", "THREAD", "IN_TRX", "AGE_S", "BYTES_IN",
                         "BYTES_OUT"},
                        rows, partial_note(doc));
  return true;
}

}  // namespace camproxy::proxy
