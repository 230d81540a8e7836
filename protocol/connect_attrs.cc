#include "protocol/connect_attrs.h"

#include "protocol/try.h"

namespace camproxy::protocol {

Result<ConnectAttrs> read_connect_attrs(ByteReader& r) {
  std::string_view block;
  CAMPROXY_TRY_ASSIGN(block, r.str_lenenc());
  ByteReader br(as_bytes(block));
  ConnectAttrs attrs;
  while (!br.empty()) {
    std::string_view key;
    std::string_view value;
    CAMPROXY_TRY_ASSIGN(key, br.str_lenenc());
    CAMPROXY_TRY_ASSIGN(value, br.str_lenenc());
    attrs.emplace_back(key, value);
  }
  return attrs;
}

void write_connect_attrs(const ConnectAttrs& attrs, ByteWriter& w) {
  size_t total = 0;
  for (const auto& [key, value] : attrs) {
    total += lenenc_size(key.size()) + key.size() + lenenc_size(value.size()) + value.size();
  }
  w.lenenc(total);
  for (const auto& [key, value] : attrs) {
    w.str_lenenc(key);
    w.str_lenenc(value);
  }
}

}  // namespace camproxy::protocol
