// Learning collation names from the server's table, and refusing anything odd in it.
#include "proxy/pool/collation_names.h"

#include <gtest/gtest.h>

namespace camproxy::proxy {
namespace {

TEST(CollationNames, KnownIdsBecomeSetNames) {
  CollationNames names;
  EXPECT_TRUE(names.claim_learning());
  EXPECT_FALSE(names.claim_learning());
  EXPECT_FALSE(names.set_names(45).has_value());
  names.learn("8:latin1:latin1_swedish_ci,45:utf8mb4:utf8mb4_general_ci,224:utf8mb4:utf8mb4_unicode_ci");
  EXPECT_EQ(names.set_names(45), "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'");
  EXPECT_EQ(names.set_names(8), "SET NAMES 'latin1' COLLATE 'latin1_swedish_ci'");
  EXPECT_FALSE(names.set_names(255).has_value());
  EXPECT_EQ(names.name(224), "utf8mb4_unicode_ci");
  EXPECT_FALSE(names.name(255).has_value());
}

TEST(CollationNames, SkipsMalformedOrUnsafeEntries) {
  CollationNames names;
  names.learn("x:latin1:latin1_bin,300:a:b,0:a:b,9,10:ok:bad'quote,11:sp ace:x,,12:utf8mb3:utf8mb3_general_ci");
  for (int id : {9, 10, 11, 0}) EXPECT_FALSE(names.set_names(static_cast<uint8_t>(id)).has_value()) << id;
  EXPECT_EQ(names.set_names(12), "SET NAMES 'utf8mb3' COLLATE 'utf8mb3_general_ci'");
}

}  // namespace
}  // namespace camproxy::proxy
