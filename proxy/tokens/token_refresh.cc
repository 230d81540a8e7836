// TokenService's forced fetch for POST /refresh-token (token_service.h): one fetch per account
// at a time, whoever asked for it, so an operator's refresh racing the background refresh (or
// another operator's) makes one CAM call and every asker gets its outcome.
#include "proxy/ops/log.h"
#include "proxy/tokens/token_service.h"

namespace camproxy::proxy {

bool TokenService::refresh_now(const std::string& account, RefreshDone done) {
  bool start = false;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(account);
    if (closed_ || it == entries_.end()) return false;
    Entry& e = it->second;
    const bool joined = e.in_flight;
    e.refresh_waiters.emplace_back(std::move(done), joined);
    start = !joined && queue_locked(account, e, /*paid=*/false);  // waits for the CAM call budget
  }
  log_info("token_refresh_requested", {{"account", account}, {"joined", !start}});
  if (start) start_pending_fetches();
  return true;
}

std::vector<std::string> TokenService::accounts() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [account, e] : entries_) out.push_back(account);
  return out;
}

void TokenService::answer_refresh_waiters(std::vector<std::pair<RefreshDone, bool>> waiters, RefreshOutcome outcome) {
  for (auto& [done, joined] : waiters) {
    outcome.joined = joined;
    done(outcome);
  }
}

}  // namespace camproxy::proxy
