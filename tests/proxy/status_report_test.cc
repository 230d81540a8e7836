// `camproxy status`'s tables (status_report.h) from the admin endpoint's documented answers.
#include "proxy/status_report.h"

#include <gtest/gtest.h>

namespace camproxy::proxy {
namespace {

TEST(RenderTable, ColumnsPaddedToTheWidestCellWithoutTrailingSpaces) {
  EXPECT_EQ(render_table({"A", "LONG"}, {{"xyz", "1"}, {"", "22"}}),
            "A    LONG\n"
            "xyz  1\n"
            "     22\n");
}

StatusAnswers documented_answers() {
  StatusAnswers a;
  a.targets =
      R"({"targets":[{"name":"default","listen":["127.0.0.1:3306","/run/c.sock"],"upstream":"10.0.0.12:3306",)"
      R"("instance_id":"cdb-1","region":"ap-guangzhou","accounts":{"mode":"db-user","account":"app"},"workers":2,)"
      R"("open_sessions":1}]})";
  a.tokens = R"({"tokens":[{"target":"default","account":"app","fetched_at":null,"next_rotation":null,)"
             R"("fallback_in_use":false,"last_cam_outcome":"InternalError","last_fetch_seconds":0.041,"fetch_ok":0,)"
             R"("fetch_retryable":2,"fetch_rejected":0,"fallback_uses":0}]})";
  a.pools =
      R"({"complete":false,"missing_workers":1,"workers":[{"target":"default","worker":0,"open":1,"keys":[)"
      R"({"account":"app","caps":"0x000a8200","mariadb_caps":"0x0000001c","idle":1,"in_use":0,"warming":0,"learning":0,"cleaning":0,)"
      R"("waiting":0,"connections":[]}]}]})";
  a.sessions = R"({"complete":true,"missing_workers":0,"sessions":[]})";
  return a;
}

TEST(RenderStatus, EverySectionFromTheDocumentedAnswers) {
  std::string out, error;
  ASSERT_TRUE(render_status(documented_answers(), out, error)) << error;
  EXPECT_EQ(out,
            "TARGETS\n"
            "NAME     LISTEN                      UPSTREAM        INSTANCE  REGION        ACCOUNTS  WORKERS  SESSIONS\n"
            "default  127.0.0.1:3306,/run/c.sock  10.0.0.12:3306  cdb-1     ap-guangzhou  db-user   2        1\n"
            "\nTOKENS\n"
            "TARGET   ACCOUNT  FETCHED  AGE_S  ROTATES_IN_S  FALLBACK  LAST_CAM       OK  RETRYABLE  REJECTED\n"
            "default  app      -        -      -             no        InternalError  0   2          0\n"
            "\nPOOLS\n"
            "(partial: 1 worker(s) did not answer in time)\n"
            "TARGET   WORKER  ACCOUNT  CAPS        MARIADB_CAPS  IDLE  IN_USE  WARMING  LEARNING  CLEANING  WAITING\n"
            "default  0       app      0x000a8200  0x0000001c    1     0       0        0         0         0\n"
            "\nSESSIONS\n"
            "(none)\n");
}

TEST(RenderStatus, AnAnswerThatIsNotTheExpectedJsonIsNamed) {
  StatusAnswers a = documented_answers();
  a.sessions = "not found\n";
  std::string out, error;
  EXPECT_FALSE(render_status(a, out, error));
  EXPECT_EQ(error, "/debug/sessions is not the JSON expected");
  a = documented_answers();
  a.targets = R"({"tokens":[]})";
  EXPECT_FALSE(render_status(a, out, error));
  EXPECT_EQ(error, "/debug/targets is not the JSON expected");
}

}  // namespace
}  // namespace camproxy::proxy
