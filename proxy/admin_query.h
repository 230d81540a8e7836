#pragma once
// The query of an admin request ("account=app%5Fro&x=1"), read by name.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace camproxy::proxy {

struct QueryParam {
  std::string name;
  std::string value;
};

// The parameters of `query` in order, percent-decoded ('+' stays '+'); nullopt when a '%' is
// not followed by two hex digits or a parameter has no '='.
std::optional<std::vector<QueryParam>> parse_query(std::string_view query);

}  // namespace camproxy::proxy
