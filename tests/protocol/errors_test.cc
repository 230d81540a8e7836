// ProtoErr as std::error_code.
#include "protocol/errors.h"

#include <gtest/gtest.h>

#include <set>

#include "protocol/result.h"

namespace camproxy::protocol {
namespace {

TEST(ProtoErr, IsAnErrorCodeWithItsOwnCategory) {
  const std::error_code ec = ProtoErr::need_more;
  EXPECT_EQ(ec, ProtoErr::need_more);
  EXPECT_NE(ec, ProtoErr::malformed);
  EXPECT_TRUE(static_cast<bool>(ec));  // no enumerator is 0 (= success)
  EXPECT_STREQ(ec.category().name(), "camproxy.protocol");
  EXPECT_NE(ec, std::make_error_code(std::errc::invalid_argument));
}

TEST(ProtoErr, EveryValueHasADistinctMessage) {
  std::set<std::string> messages;
  for (auto e :
       {ProtoErr::need_more, ProtoErr::malformed, ProtoErr::too_large, ProtoErr::unsupported, ProtoErr::protocol_320,
        ProtoErr::password_too_long, ProtoErr::bad_public_key, ProtoErr::crypto_failed}) {
    messages.insert(make_error_code(e).message());
  }
  EXPECT_EQ(messages.size(), 8u);
  EXPECT_EQ(messages.count("unknown protocol error"), 0u);
}

TEST(Result, FailCarriesTheCode) {
  const Result<int> r = fail(ProtoErr::too_large);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), ProtoErr::too_large);
}

}  // namespace
}  // namespace camproxy::protocol
