// Protobuf reader for AuthTokenInfo (spec/tencentcloud-cam.md §4.4). Hand-written:
// twelve scalar fields do not justify a protobuf dependency and generated code.
#include <cstddef>

#include "auth/token_codec.h"
#include "auth/utf8.h"

namespace camproxy::auth {
namespace {

enum class WireType : std::uint8_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

// Bounds-checked cursor over the message bytes.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> data) : data_(data) {}

  bool done() const { return pos_ == data_.size(); }

  // Up to 10 bytes; the 10th may only carry the top bit of a uint64.
  bool varint(std::uint64_t& out) {
    out = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos_ == data_.size()) return false;
      const std::uint8_t b = data_[pos_++];
      if (i == 9 && b > 1) return false;
      out |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }

  bool bytes(std::size_t n, std::span<const std::uint8_t>& out) {
    if (data_.size() - pos_ < n) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

  bool skip(std::size_t n) {
    std::span<const std::uint8_t> ignored;
    return bytes(n, ignored);
  }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
};

std::string_view as_chars(std::span<const std::uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Stores a varint field; other field numbers (incl. a varint field 8) are unknown here.
void store_varint(AuthTokenInfo& info, std::uint64_t field, std::uint64_t v) {
  switch (field) {
    case 1: info.app_id = v; break;
    case 2: info.uin = v; break;
    case 3: info.owner_uin = v; break;
    case 9: info.create_time = v; break;
    case 11: info.token_type = static_cast<std::uint32_t>(v); break;
    case 12: info.rand_num = static_cast<std::uint32_t>(v); break;
    default: break;
  }
}

std::string* string_field(AuthTokenInfo& info, std::uint64_t field) {
  switch (field) {
    case 4: return &info.req_id;
    case 5: return &info.instance_id;
    case 6: return &info.region;
    case 7: return &info.username;
    case 10: return &info.extra_info;
    default: return nullptr;
  }
}

tl::unexpected<std::error_code> malformed() { return tl::unexpected(make_error_code(TokenErr::protobuf)); }

}  // namespace

// Proto3 rules the vectors exercise: any field order, last value wins, unknown
// fields of wire types 0/1/2/5 skipped, a known field with another wire type is
// treated as unknown, strings must be valid UTF-8, overruns are errors.
Result<AuthTokenInfo> parse_auth_token_info(std::span<const std::uint8_t> message) {
  AuthTokenInfo info;
  Reader in(message);
  while (!in.done()) {
    std::uint64_t key = 0;
    if (!in.varint(key) || key > 0xffffffffu) return malformed();
    const std::uint64_t field = key >> 3;
    if (field == 0) return malformed();
    switch (static_cast<WireType>(key & 7)) {
      case WireType::varint: {
        std::uint64_t v = 0;
        if (!in.varint(v)) return malformed();
        store_varint(info, field, v);
        break;
      }
      case WireType::fixed64:
        if (!in.skip(8)) return malformed();
        break;
      case WireType::fixed32:
        if (!in.skip(4)) return malformed();
        break;
      case WireType::length_delimited: {
        std::uint64_t len = 0;
        std::span<const std::uint8_t> value;
        if (!in.varint(len) || len > message.size() || !in.bytes(len, value)) {
          return malformed();
        }
        std::string* target = string_field(info, field);
        if (target == nullptr && field != 8) break;  // unknown: skipped
        const std::string_view text = as_chars(value);
        if (!is_valid_utf8(text)) return malformed();
        if (field == 8) {
          info.password = SecretString(text);
        } else {
          target->assign(text);
        }
        break;
      }
      default: return malformed();  // groups (3, 4) and reserved wire types 6, 7
    }
  }
  return info;
}

}  // namespace camproxy::auth
