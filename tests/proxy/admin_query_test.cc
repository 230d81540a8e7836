// The query of an admin request (admin_query.h): parameters in order, percent-decoding, and
// the malformed queries that must be refused rather than guessed at.
#include "proxy/admin_query.h"

#include <gtest/gtest.h>

namespace camproxy::proxy {
namespace {

TEST(AdminQuery, ParametersInOrderPercentDecoded) {
  auto params = parse_query("account=app%5Fro&x=a%2Bb+c&&empty=");
  ASSERT_TRUE(params);
  ASSERT_EQ(params->size(), 3U);
  EXPECT_EQ((*params)[0].name, "account");
  EXPECT_EQ((*params)[0].value, "app_ro");
  EXPECT_EQ((*params)[1].value, "a+b+c");
  EXPECT_EQ((*params)[2].name, "empty");
  EXPECT_EQ((*params)[2].value, "");
  EXPECT_TRUE(parse_query("")->empty());
}

TEST(AdminQuery, MalformedIsRefused) {
  for (const char* bad : {"account", "account=%", "account=%4", "account=%zz", "a=1&b", "%g1=x"})
    EXPECT_FALSE(parse_query(bad)) << bad;
}

}  // namespace
}  // namespace camproxy::proxy
