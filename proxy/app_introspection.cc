// The admin endpoint's answers that come later (docs/operations.md "Introspection"):
// GET /debug/pools and /debug/sessions gather snapshots from the workers' threads; POST
// /refresh-token waits for CAM. Only the admin endpoint routes here, never --http-address.
#include <memory>

#include "proxy/admin_debug.h"
#include "proxy/admin_debug_workers.h"
#include "proxy/admin_query.h"
#include "proxy/app.h"
#include "proxy/json_object.h"

namespace camproxy::proxy {
namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kText = "text/plain; charset=utf-8";
// A worker busy for longer than this is left out of the answer (marked partial) rather than
// holding the admin connection.
constexpr std::chrono::milliseconds kSnapshotTimeout{1000};

// The outcomes of one POST /refresh-token, answered once every fetch it waits for is done.
struct RefreshAnswer {
  AdminReply reply;
  size_t remaining = 0;
  bool all_ok = true;
  std::vector<std::string> items;

  void add(std::string item, bool ok) {
    items.push_back(std::move(item));
    all_ok = all_ok && ok;
    if (--remaining == 0) {
      // 502: camproxy is fine, CAM (its upstream) failed at least one fetch.
      reply({all_ok ? 200 : 502, kJson, "{\"refreshed\":" + json_array(items) + "}\n"});
    }
  }
};

}  // namespace

bool App::handle_deferred(const AdminRequest& request, AdminReply reply) {
  if (request.path == "/debug/pools" || request.path == "/debug/sessions") {
    if (request.method != "GET" && request.method != "HEAD") return false;  // 405 as for any other GET path
    answer_from_workers(request.path, std::move(reply));
    return true;
  }
  if (request.path == "/refresh-token") {
    if (request.method != "POST") {
      reply({405, kText, "use POST\n"});
      return true;
    }
    refresh_tokens(request.query, std::move(reply));
    return true;
  }
  return false;
}

void App::answer_from_workers(std::string_view path, AdminReply reply) {
  std::vector<Target*> running;
  for (const auto& t : targets_) running.push_back(t.get());
  for (const auto& r : retiring_) running.push_back(r.target.get());  // draining: its sessions still count
  size_t workers = 0;
  for (auto* t : running) workers += t->worker_count();
  const bool pools = path == "/debug/pools";
  gather_snapshots(
      &loop_, workers, kSnapshotTimeout,
      [&running](const std::shared_ptr<SnapshotBox>& box) {
        for (auto* t : running) t->request_snapshots(box);
      },
      [pools, reply = std::move(reply)](std::vector<WorkerSnapshot> snapshots, size_t missing) {
        std::string body = pools ? debug_pools_json(std::move(snapshots), missing)
                                 : debug_sessions_json(std::move(snapshots), missing);
        reply({200, kJson, body + "\n"});
      });
}

// POST /refresh-token[?account=NAME]: every account of every target, or one (in each target
// that knows it; 404 when none does).
void App::refresh_tokens(std::string_view query, AdminReply reply) {
  auto params = parse_query(query);
  if (!params) {
    reply({400, kText, "bad query: expected account=NAME\n"});
    return;
  }
  std::optional<std::string> only;
  for (const auto& p : *params) {
    if (p.name != "account" || p.value.empty() || only) {
      reply({400, kText, "bad query: the only parameter is account=NAME, once\n"});
      return;
    }
    only = p.value;
  }
  std::vector<std::pair<Target*, std::string>> fetches;
  for (const auto& t : targets_) {
    for (auto& account : t->token_accounts()) {
      if (!only || account == *only) fetches.emplace_back(t.get(), std::move(account));
    }
  }
  if (fetches.empty()) {
    if (only) {
      reply({404, kText, "unknown account: no login or setting has asked for its token\n"});
    } else {
      reply({200, kJson, "{\"refreshed\":[]}\n"});
    }
    return;
  }
  auto answer = std::make_shared<RefreshAnswer>();
  answer->reply = std::move(reply);
  answer->remaining = fetches.size();
  for (auto& [target, account] : fetches) {
    auto on_done = [answer, name = target->name()](const RefreshOutcome& o) {
      answer->add(refresh_outcome_json(name, o), o.ok);
    };
    // An account known a moment ago is known still (entries are never removed).
    if (!target->refresh_token(account, on_done))
      answer->add(refresh_outcome_json(target->name(), closing_outcome(account)), false);
  }
}

}  // namespace camproxy::proxy
