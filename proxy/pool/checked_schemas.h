#pragma once
// The schemas a worker has seen each account log in to (or USE at a checkout) on a real database
// connection, for --pool-mode transaction's connection-free login (docs/operations.md
// "Transaction pooling"): a login naming a schema listed for its account is answered without a
// connection; any other takes one first, so that a schema that does not exist or is not allowed
// fails at login with the server's own 1049 or 1044, as on a direct connection.
//
// Per worker (one thread: no lock) and per target (a replaced target's pools start empty).
// Bounded: at kMaxEntries the list starts over, and each account's next login per schema checks
// again.
#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace camproxy::proxy {

class CheckedSchemas {
 public:
  static constexpr size_t kMaxEntries = 1024;

  bool contains(std::string_view account, std::string_view schema) const;
  void add(std::string_view account, std::string_view schema);

 private:
  std::set<std::pair<std::string, std::string>, std::less<>> entries_;
};

}  // namespace camproxy::proxy
