#include "proxy/memory_trim.h"

#include <gtest/gtest.h>

namespace camproxy::proxy {
namespace {

TEST(MemoryTrim, AfterABurstHasEnded) {
  EXPECT_TRUE(should_trim(1000, 0));
  EXPECT_TRUE(should_trim(1000, 500));
  EXPECT_TRUE(should_trim(kTrimAfterSessionsGone, 0));
}

TEST(MemoryTrim, NotWhileTheBurstLastsOrForSmallSwings) {
  EXPECT_FALSE(should_trim(1000, 501));                      // most sessions still open
  EXPECT_FALSE(should_trim(kTrimAfterSessionsGone - 1, 0));  // too little freed to matter
  EXPECT_FALSE(should_trim(300, 290));                       // steady traffic
  EXPECT_FALSE(should_trim(0, 0));
}

}  // namespace
}  // namespace camproxy::proxy
