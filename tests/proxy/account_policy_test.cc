// Which CAM accounts a TokenService keeps, refreshes and asks about again
// (proxy/tokens/account_policy.h): sans-I/O, on an injected clock.
#include "proxy/tokens/account_policy.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace camproxy::proxy {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using Time = AccountUse::Time;

const Time t0 = Time() + std::chrono::hours(1000);

struct Cached {
  AccountUse use;
  bool busy = false;
};

std::vector<std::string> evict(const std::map<std::string, Cached>& m, const AccountPolicy& p) {
  return accounts_to_evict(m, p, [](const Cached& c) { return c.busy; });
}

TEST(AccountPolicy, BackgroundRefreshOnlyForConfiguredOrRecentlyUsedAccounts) {
  const AccountPolicy p;  // one hour
  AccountUse passed{false, t0, std::nullopt};
  EXPECT_TRUE(refresh_in_background(passed, t0 + minutes(60), p));
  EXPECT_FALSE(refresh_in_background(passed, t0 + minutes(61), p));
  AccountUse configured{true, t0, std::nullopt};
  EXPECT_TRUE(refresh_in_background(configured, t0 + std::chrono::hours(48), p));
}

TEST(AccountPolicy, RefusalRememberedForTheNegativeTtlUnlessConfigured) {
  const AccountPolicy p;  // 60 s
  AccountUse u{false, t0, t0};
  EXPECT_TRUE(refusal_remembered(u, t0, p));
  EXPECT_TRUE(refusal_remembered(u, t0 + seconds(59), p));
  EXPECT_FALSE(refusal_remembered(u, t0 + seconds(60), p));
  u.rejected_at.reset();  // a token came, or the credential changed
  EXPECT_FALSE(refusal_remembered(u, t0 + seconds(1), p));
  // A configured account keeps its own rule (TokenService's per-account demand limiter).
  EXPECT_FALSE(refusal_remembered(AccountUse{true, t0, t0}, t0 + seconds(1), p));
}

TEST(AccountPolicy, LeastRecentlyUsedUnconfiguredIdleAccountsGoFirst) {
  AccountPolicy p;
  p.max_accounts = 3;
  std::map<std::string, Cached> m;
  m["a"] = {{false, t0 + seconds(5), std::nullopt}};
  m["b"] = {{false, t0 + seconds(1), std::nullopt}};
  m["c"] = {{false, t0 + seconds(3), std::nullopt}};
  EXPECT_TRUE(evict(m, p).empty());  // at the bound
  m["d"] = {{false, t0 + seconds(4), std::nullopt}};
  m["e"] = {{false, t0 + seconds(2), std::nullopt}};
  EXPECT_EQ(evict(m, p), (std::vector<std::string>{"b", "e"}));
  // The configured one and one being fetched stay even when they are the oldest.
  m["b"].use.configured = true;
  m["e"].busy = true;
  EXPECT_EQ(evict(m, p), (std::vector<std::string>{"c", "d"}));
  // Nothing else may go: the cache stays over the bound for now.
  for (auto& [name, c] : m) c.busy = true;
  EXPECT_TRUE(evict(m, p).empty());
}

}  // namespace
}  // namespace camproxy::proxy
