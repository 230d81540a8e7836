// The pool's idle limit: below the server's wait_timeout, never above the configured value.
#include "proxy/pool/pool_idle_limit.h"

#include <gtest/gtest.h>

namespace camproxy::proxy {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(PoolIdleLimit, ConfiguredValueWhileTheServerIsUnknownOrSlower) {
  EXPECT_EQ(idle_limit(minutes(5), std::nullopt), minutes(5));
  EXPECT_EQ(idle_limit(minutes(5), seconds(28800)), minutes(5));  // MariaDB's and MySQL's default
  EXPECT_EQ(idle_limit(seconds(30), seconds(60)), seconds(30));
}

TEST(PoolIdleLimit, StaysAMarginBelowAShortWaitTimeout) {
  EXPECT_EQ(idle_limit(minutes(5), seconds(120)), seconds(108));  // a tenth
  EXPECT_EQ(idle_limit(minutes(5), seconds(10)), seconds(8));     // at least 2 s
  EXPECT_EQ(idle_limit(minutes(5), seconds(5)), seconds(3));
  EXPECT_EQ(idle_limit(minutes(5), seconds(2)), seconds(1));  // never below 1 s
  EXPECT_EQ(idle_limit(minutes(5), seconds(1)), seconds(1));
  EXPECT_EQ(idle_limit(milliseconds(500), seconds(5)), milliseconds(500));
}

TEST(PoolIdleLimit, ParsesOnlyAPositiveNumberOfSeconds) {
  EXPECT_EQ(parse_wait_timeout("28800"), seconds(28800));
  EXPECT_EQ(parse_wait_timeout("5"), seconds(5));
  for (std::string_view bad : {"", "0", "-1", "12s", " 5", "99999999999"}) {
    EXPECT_EQ(parse_wait_timeout(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace camproxy::proxy
