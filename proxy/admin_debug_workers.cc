#include "proxy/admin_debug_workers.h"

#include <algorithm>
#include <cstdio>

#include "proxy/json_object.h"

namespace camproxy::proxy {
namespace {

void sort_by_worker(std::vector<WorkerSnapshot>& snapshots) {
  std::sort(snapshots.begin(), snapshots.end(), [](const WorkerSnapshot& a, const WorkerSnapshot& b) {
    return a.target != b.target ? a.target < b.target : a.worker < b.worker;
  });
}

// {"complete":...,"missing_workers":...,"<name>":[items]}
std::string answer(std::string_view name, const std::vector<std::string>& items, size_t missing_workers) {
  return JsonObject()
      .add("complete", missing_workers == 0)
      .add("missing_workers", static_cast<int64_t>(missing_workers))
      .raw(name, json_array(items))
      .str();
}

std::string caps_hex(uint32_t caps) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", caps);
  return buf;
}

std::string entry_json(const PoolEntrySnapshot& e) {
  JsonObject out;
  out.add("state", e.state)
      .add("thread_id", static_cast<int64_t>(e.thread_id))
      .raw("age_seconds", json_seconds(e.age_seconds));
  if (e.state == "idle") out.raw("idle_seconds", json_seconds(e.idle_seconds));
  if (e.schema) {
    out.add("schema", *e.schema);
  } else {
    out.raw("schema", "null");
  }
  return out.str();
}

std::string key_json(const PoolKeySnapshot& k) {
  std::vector<std::string> entries;
  for (const auto& e : k.entries) entries.push_back(entry_json(e));
  return JsonObject()
      .add("account", k.account)
      .add("caps", caps_hex(k.caps))
      .add("mariadb_caps", caps_hex(k.mariadb_caps))
      .add("idle", static_cast<int64_t>(k.idle))
      .add("in_use", static_cast<int64_t>(k.in_use))
      .add("warming", static_cast<int64_t>(k.warming))
      .add("learning", static_cast<int64_t>(k.learning))
      .add("cleaning", static_cast<int64_t>(k.cleaning))
      .add("waiting", static_cast<int64_t>(k.waiting))
      .add("borrowing", static_cast<int64_t>(k.borrowing))
      .raw("connections", json_array(entries))
      .str();
}

std::string session_json(const WorkerSnapshot& w, const SessionSnapshot& s) {
  JsonObject out;
  out.add("target", w.target)
      .add("worker", int64_t{w.worker})
      .add("id", static_cast<int64_t>(s.id))
      .add("user", s.user)
      .add("account", s.account)
      .add("peer", s.peer)
      .add("state", s.state);
  if (s.thread_id) {
    out.add("thread_id", static_cast<int64_t>(*s.thread_id));
  } else {
    out.raw("thread_id", "null");
  }
  return out.add("in_transaction", s.in_transaction)
      .raw("age_seconds", json_seconds(s.age_seconds))
      .add("bytes_from_client", static_cast<int64_t>(s.bytes_from_client))
      .add("bytes_to_client", static_cast<int64_t>(s.bytes_to_client))
      .str();
}

}  // namespace

std::string debug_pools_json(std::vector<WorkerSnapshot> snapshots, size_t missing_workers) {
  sort_by_worker(snapshots);
  std::vector<std::string> workers;
  for (const auto& w : snapshots) {
    std::vector<std::string> keys;
    for (const auto& k : w.pool.keys) keys.push_back(key_json(k));
    workers.push_back(JsonObject()
                          .add("target", w.target)
                          .add("worker", int64_t{w.worker})
                          .add("open", static_cast<int64_t>(w.pool.open))
                          .add("target_open", static_cast<int64_t>(w.pool.target_open))
                          .add("target_max", static_cast<int64_t>(w.pool.target_max))
                          .add("target_borrowing", static_cast<int64_t>(w.pool.target_borrowing))
                          .raw("keys", json_array(keys))
                          .str());
  }
  return answer("workers", workers, missing_workers);
}

std::string debug_sessions_json(std::vector<WorkerSnapshot> snapshots, size_t missing_workers) {
  sort_by_worker(snapshots);
  std::vector<std::string> sessions;
  for (const auto& w : snapshots)
    for (const auto& s : w.sessions) sessions.push_back(session_json(w, s));
  return answer("sessions", sessions, missing_workers);
}

}  // namespace camproxy::proxy
