// CAM endpoint validation: https always, http only to loopback; Host and service.
#include "auth/endpoint.h"

#include <gtest/gtest.h>

namespace camproxy::auth {
namespace {

TEST(Endpoint, AcceptedUrlsAndWhatTheyDerive) {
  const struct {
    std::string_view url, host_header, service, normalised;
    bool loopback;
  } rows[] = {
      {"https://cam.tencentcloudapi.com", "cam.tencentcloudapi.com", "cam", "https://cam.tencentcloudapi.com/", false},
      {"https://cam.tencentcloudapi.com/", "cam.tencentcloudapi.com", "cam", "https://cam.tencentcloudapi.com/", false},
      {"HTTPS://CAM.Internal.TencentCloudAPI.com", "cam.internal.tencentcloudapi.com", "cam",
       "https://cam.internal.tencentcloudapi.com/", false},
      {"https://sts.tencentcloudapi.com:8443", "sts.tencentcloudapi.com:8443", "sts",
       "https://sts.tencentcloudapi.com:8443/", false},
      {"http://127.0.0.1:9000", "127.0.0.1:9000", "cam", "http://127.0.0.1:9000/", true},
      {"http://127.3.4.5:9000/", "127.3.4.5:9000", "cam", "http://127.3.4.5:9000/", true},
      {"http://localhost:9000", "localhost:9000", "cam", "http://localhost:9000/", true},
      {"http://[::1]:9000", "[::1]:9000", "cam", "http://[::1]:9000/", true},
      {"https://10.0.0.1", "10.0.0.1", "cam", "https://10.0.0.1/", false},
      {"https://[2001:db8::1]:443", "[2001:db8::1]:443", "cam", "https://[2001:db8::1]:443/", false},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.url);
    const auto ep = parse_endpoint(row.url);
    ASSERT_TRUE(ep.has_value()) << ep.error().message();
    EXPECT_EQ(ep->host_header, row.host_header);
    EXPECT_EQ(ep->service, row.service);
    EXPECT_EQ(ep->url, row.normalised);
    EXPECT_EQ(ep->loopback, row.loopback);
  }
}

TEST(Endpoint, RejectedUrlsNameTheReason) {
  const struct {
    std::string_view url;
    AuthErr err;
  } rows[] = {
      {"http://cam.tencentcloudapi.com", AuthErr::endpoint_insecure},
      {"http://10.0.0.1:80", AuthErr::endpoint_insecure},
      {"http://128.0.0.1", AuthErr::endpoint_insecure},
      {"http://[::2]:80", AuthErr::endpoint_insecure},
      {"http://localhost.example.com", AuthErr::endpoint_insecure},
      {"ftp://cam.tencentcloudapi.com", AuthErr::endpoint_scheme},
      {"cam.tencentcloudapi.com", AuthErr::endpoint_malformed},
      {"https://", AuthErr::endpoint_malformed},
      {"https://cam.tencentcloudapi.com/path", AuthErr::endpoint_malformed},
      {"https://cam.tencentcloudapi.com/?a=b", AuthErr::endpoint_malformed},
      {"https://user@cam.tencentcloudapi.com", AuthErr::endpoint_malformed},
      {"https://cam.tencentcloudapi.com:", AuthErr::endpoint_malformed},
      {"https://cam.tencentcloudapi.com:0", AuthErr::endpoint_malformed},
      {"https://cam.tencentcloudapi.com:65536", AuthErr::endpoint_malformed},
      {"https://cam.tencentcloudapi.com:+1", AuthErr::endpoint_malformed},
      {"https://cam..com", AuthErr::endpoint_malformed},
      {"https://cam_x.com", AuthErr::endpoint_malformed},
      {"https://[::1", AuthErr::endpoint_malformed},
      {"https://[::1]x", AuthErr::endpoint_malformed},
      {"https://[nothex]:1", AuthErr::endpoint_malformed},
      {"https://::1", AuthErr::endpoint_malformed},
      {"https://cam.tencentcloudapi.com\r\nX-Evil: 1", AuthErr::endpoint_malformed},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.url);
    const auto ep = parse_endpoint(row.url);
    ASSERT_FALSE(ep.has_value());
    EXPECT_EQ(ep.error(), make_error_code(row.err));
  }
  EXPECT_NE(make_error_code(AuthErr::endpoint_insecure).message().find("loopback"), std::string::npos);
}

}  // namespace
}  // namespace camproxy::auth
