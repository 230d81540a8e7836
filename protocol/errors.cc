#include "protocol/errors.h"

#include <string>

namespace camproxy::protocol {
namespace {

class ProtoCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "camproxy.protocol"; }

  std::string message(int value) const override {
    switch (static_cast<ProtoErr>(value)) {
      case ProtoErr::need_more: return "need more bytes";
      case ProtoErr::malformed: return "malformed packet";
      case ProtoErr::too_large: return "packet too large";
      case ProtoErr::unsupported: return "unsupported protocol feature";
      case ProtoErr::protocol_320: return "client uses the pre-4.1 protocol";
      case ProtoErr::password_too_long: return "password too long for RSA encryption";
      case ProtoErr::bad_public_key: return "invalid RSA public key";
      case ProtoErr::crypto_failed: return "cryptographic operation failed";
    }
    return "unknown protocol error";
  }
};

}  // namespace

const std::error_category& proto_category() noexcept {
  static const ProtoCategory category;
  return category;
}

std::error_code make_error_code(ProtoErr e) noexcept { return {static_cast<int>(e), proto_category()}; }

}  // namespace camproxy::protocol
