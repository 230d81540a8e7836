// The admin endpoint's request head (proxy/admin_request.h) and its access rules
// (proxy/admin_access.h): what a browser can send cross-site or after DNS rebinding is refused,
// what `camproxy wait`, curl and the documented POSTs send is let through.
#include <gtest/gtest.h>

#include <string>

#include "proxy/admin_access.h"
#include "proxy/admin_request.h"

namespace camproxy::proxy {
namespace {

TEST(ParseAdminRequest, ReadsTheRequestLineAndTheThreeHeaders) {
  const auto r = parse_admin_request(
      "POST /quitquitquit?x=1 HTTP/1.1\r\nhost:  127.0.0.1:9306 \r\nORIGIN: http://localhost\r\n"
      "X-Camproxy-Admin: 1\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->path, "/quitquitquit");
  EXPECT_EQ(r->host, "127.0.0.1:9306");
  EXPECT_EQ(r->origin, "http://localhost");
  EXPECT_TRUE(r->admin_header);
}

TEST(ParseAdminRequest, NoHeaders) {
  const auto r = parse_admin_request("GET /healthz HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->path, "/healthz");
  EXPECT_FALSE(r->host);
  EXPECT_FALSE(r->origin);
  EXPECT_FALSE(r->admin_header);
}

TEST(ParseAdminRequest, RefusesBadHeads) {
  for (const char* head : {
           "GET\r\n\r\n",                                                             // no target, no version
           "GET /healthz\r\n\r\n",                                                    // no version
           "GET /healthz HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",                         // no colon
           "GET /healthz HTTP/1.1\r\n: x\r\n\r\n",                                    // no name
           "GET /healthz HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n",                       // space before the colon
           "GET /healthz HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",                        // obs-fold
           "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",  // two Hosts
           "GET /healthz HTTP/1.1\r\nOrigin: http://localhost\r\norigin: null\r\n\r\n",
       }) {
    EXPECT_FALSE(parse_admin_request(head)) << head;
  }
}

TEST(LoopbackAuthority, LoopbackNamesWithOrWithoutPort) {
  for (const char* a :
       {"127.0.0.1", "127.0.0.1:9306", "127.8.9.10:1", "localhost", "LocalHost:9306", "[::1]", "[::1]:9306"}) {
    EXPECT_TRUE(is_loopback_authority(a)) << a;
  }
  for (const char* a :
       {"", "evil.example", "evil.example:9306", "10.0.0.1:9306", "::1", "[::1", "[::1]x", "[127.0.0.1]:1",
        "127.0.0.1:", "127.0.0.1:x", "localhost.evil.example", "0.0.0.0:9306", "[::2]:9306"}) {
    EXPECT_FALSE(is_loopback_authority(a)) << a;
  }
}

std::optional<AdminResponse> access(const std::string& head) {
  const auto r = parse_admin_request(head);
  EXPECT_TRUE(r) << head;
  return r ? admin_access_refusal(*r) : std::nullopt;
}

TEST(AdminAccess, LetsThroughWhatCurlWaitAndTheDocumentedPostSend) {
  EXPECT_FALSE(access("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:9306\r\nUser-Agent: curl/7.88\r\n\r\n"));
  EXPECT_FALSE(access("GET /startup HTTP/1.0\r\nHost: [::1]:9306\r\n\r\n"));
  EXPECT_FALSE(access("GET /healthz HTTP/1.0\r\n\r\n"));  // a GET without Host: no browser sends it
  EXPECT_FALSE(access("POST /quitquitquit HTTP/1.1\r\nHost: localhost:9306\r\nX-Camproxy-Admin: 1\r\n\r\n"));
  EXPECT_FALSE(
      access("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1:9306\r\n"
             "X-Camproxy-Admin: 1\r\n\r\n"));
}

TEST(AdminAccess, RefusesACrossSiteForm) {
  const auto r = access(
      "POST /quitquitquit HTTP/1.1\r\nHost: 127.0.0.1:9306\r\nOrigin: http://evil.example\r\n"
      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("Origin 'http://evil.example'"), std::string::npos) << r->body;
}

TEST(AdminAccess, RefusesAPostWithoutTheHeaderEvenFromLoopback) {
  const auto r = access("POST /quitquitquit HTTP/1.1\r\nHost: 127.0.0.1:9306\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("X-Camproxy-Admin: 1"), std::string::npos) << r->body;
}

TEST(AdminAccess, RefusesAPostWithoutHost) {
  const auto r = access("POST /reload HTTP/1.0\r\nX-Camproxy-Admin: 1\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
}

TEST(AdminAccess, RefusesAForeignHostOnEveryPath) {  // DNS rebinding: the page's own name as Host
  for (const char* path : {"/debug/targets", "/debug/tokens", "/metrics", "/healthz"}) {
    const auto r = access(std::string("GET ") + path + " HTTP/1.1\r\nHost: evil.example:9306\r\n\r\n");
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 403);
    EXPECT_NE(r->body.find("Host 'evil.example:9306'"), std::string::npos) << r->body;
  }
}

TEST(AdminAccess, RefusesOpaqueAndForeignOrigins) {
  for (const char* origin :
       {"null", "http://evil.example", "http://127.0.0.1.evil.example", "file://", "ftp://127.0.0.1"}) {
    EXPECT_TRUE(access(std::string("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ") + origin + "\r\n\r\n"))
        << origin;
  }
}

TEST(AdminAccess, QuotesOnlyPrintableBytes) {
  const auto r = access("GET / HTTP/1.1\r\nHost: a\x01\x7f" + std::string(200, 'b') + "\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("'a??b"), std::string::npos) << r->body;
  EXPECT_LT(r->body.size(), 250u);
}

}  // namespace
}  // namespace camproxy::proxy
