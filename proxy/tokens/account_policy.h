#pragma once
// Which accounts a TokenService keeps, refreshes and asks CAM about again (issue 17: a flood of
// client user names in pass-through mode must cost neither memory nor CAM calls without bound).
// Sans-I/O: the caller passes the time and holds its own lock.
//
// - Configured accounts (--db-user NAME, an accounts map) are always kept and refreshed.
// - Others (pass-through, --db-user '*') are refreshed in the background only while logins use
//   them: within `refresh_window` of the last one. One hour: a client that logs in hourly or
//   more keeps its token warm; an idle one costs no CAM call and fetches on its next login.
// - At most `max_accounts` are kept; the least recently used unconfigured one goes first.
// - One CAM refused (a user-notification error) is remembered for `negative_ttl`: logins fail
//   at once without a CAM call, and nothing retries it in the background.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace camproxy::proxy {

struct AccountPolicy {
  size_t max_accounts = 1000;
  std::chrono::milliseconds negative_ttl{60000};
  std::chrono::milliseconds refresh_window{std::chrono::hours(1)};
};

struct AccountUse {
  using Time = std::chrono::steady_clock::time_point;
  bool configured = false;
  Time last_used{};                 // the last login that asked for the account's token
  std::optional<Time> rejected_at;  // CAM's last refusal, until a token or a new credential
};

inline bool refresh_in_background(const AccountUse& u, AccountUse::Time now, const AccountPolicy& p) {
  return u.configured || now - u.last_used <= p.refresh_window;
}

inline bool refusal_remembered(const AccountUse& u, AccountUse::Time now, const AccountPolicy& p) {
  return !u.configured && u.rejected_at && now - *u.rejected_at < p.negative_ttl;
}

// The accounts to drop so that `accounts` (a map whose values have a `use` member) holds at
// most max_accounts, least recently used first; configured and `busy` ones stay (the cache may
// then stay over the bound until they are done).
template <class Map, class Busy>
std::vector<typename Map::key_type> accounts_to_evict(const Map& accounts, const AccountPolicy& p, Busy busy) {
  std::vector<typename Map::key_type> out;
  if (accounts.size() <= p.max_accounts) return out;
  std::vector<std::pair<AccountUse::Time, const typename Map::key_type*>> candidates;
  for (const auto& [key, value] : accounts) {
    if (!value.use.configured && !busy(value)) candidates.emplace_back(value.use.last_used, &key);
  }
  const size_t excess = std::min(accounts.size() - p.max_accounts, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(excess), candidates.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < excess; ++i) out.push_back(*candidates[i].second);
  return out;
}

}  // namespace camproxy::proxy
