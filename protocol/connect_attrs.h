// Connection attributes (CLIENT_CONNECT_ATTRS), shared by HandshakeResponse41 and
// COM_CHANGE_USER (spec §2.4, §2.7): lenenc total, then (str<lenenc> key, str<lenenc> value)*.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "protocol/byte_io.h"
#include "protocol/result.h"

namespace camproxy::protocol {

using ConnectAttrs = std::vector<std::pair<std::string, std::string>>;

// Bounds (malformed beyond them): the block must fit the packet, and pairs must fill it exactly.
Result<ConnectAttrs> read_connect_attrs(ByteReader& r);
void write_connect_attrs(const ConnectAttrs& attrs, ByteWriter& w);

}  // namespace camproxy::protocol
