// The read-only handler of the --http-address listener: what it passes on to the admin
// handler and what it refuses.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/admin_server.h"

namespace camproxy::proxy {
namespace {

// An admin handler that answers 200 for everything and records what reached it.
struct RecordingAdmin {
  std::vector<std::string> seen;
  AdminHandler handler() {
    return [this](std::string_view method, std::string_view path) {
      seen.push_back(std::string(method) + " " + std::string(path));
      return AdminResponse{200, "text/plain", "admin\n"};
    };
  }
};

TEST(ReadOnlyHandler, PassesTheFourProbeAndScrapeGets) {
  RecordingAdmin admin;
  AdminHandler read_only = read_only_handler(admin.handler());
  for (const char* path : {"/startup", "/healthz", "/readyz", "/metrics"}) {
    AdminResponse r = read_only("GET", path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, "admin\n") << path;
  }
  EXPECT_EQ(admin.seen, (std::vector<std::string>{"GET /startup", "GET /healthz", "GET /readyz", "GET /metrics"}));
}

TEST(ReadOnlyHandler, RefusesOtherMethodsWith405) {
  RecordingAdmin admin;
  AdminHandler read_only = read_only_handler(admin.handler());
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD", "get"}) {
    EXPECT_EQ(read_only(method, "/healthz").status, 405) << method;
  }
  EXPECT_EQ(read_only("POST", "/quitquitquit").status, 405);
  EXPECT_EQ(read_only("POST", "/reload").status, 405);
  EXPECT_TRUE(admin.seen.empty());
}

TEST(ReadOnlyHandler, RefusesOtherPathsWith404) {
  RecordingAdmin admin;
  AdminHandler read_only = read_only_handler(admin.handler());
  for (const char* path : {"/quitquitquit", "/debug/tokens", "/debug/targets", "/", "/metrics/", "/healthzz", ""}) {
    EXPECT_EQ(read_only("GET", path).status, 404) << path;
  }
  EXPECT_TRUE(admin.seen.empty());
}

}  // namespace
}  // namespace camproxy::proxy
