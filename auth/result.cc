#include "auth/result.h"

namespace camproxy::auth {
namespace {

class AuthCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "camproxy.auth"; }

  std::string message(int value) const override {
    switch (static_cast<AuthErr>(value)) {
      case AuthErr::secret_id_missing:
        return "TENCENTCLOUD_SECRET_ID is not set or is empty";
      case AuthErr::secret_key_missing:
        return "TENCENTCLOUD_SECRET_KEY is not set or is empty";
      case AuthErr::endpoint_malformed:
        return "CAM endpoint is not a URL of the form scheme://host[:port][/]";
      case AuthErr::endpoint_scheme:
        return "CAM endpoint must start with https:// (or http:// for a loopback host)";
      case AuthErr::endpoint_insecure:
        return "CAM endpoint uses plain http:// to a host that is not loopback; use https://";
      case AuthErr::bad_option:
        return "CAM client option out of range (timeout, language or request client)";
      case AuthErr::ca_file_unreadable:
        return "CAM client CA file cannot be read";
      case AuthErr::curl_init:
        return "libcurl could not be initialised";
    }
    return "unknown auth error";
  }
};

}  // namespace

const std::error_category& auth_category() noexcept {
  static const AuthCategory category;
  return category;
}

}  // namespace camproxy::auth
