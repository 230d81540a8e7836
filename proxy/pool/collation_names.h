#pragma once
// The database's collation ids and names, learned once per process. A handshake carries a
// collation id; giving a pooled connection the client's collation takes SQL, and the only
// statement that accepts an id needs information_schema subqueries (~1.5 ms on MariaDB 10.11),
// while SET NAMES with names costs a plain round trip. One warm connection reads the whole
// table once (UpstreamPool), then every hand-off uses names.
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace camproxy::proxy {

class CollationNames {
 public:
  // True once, for the caller that will read the table.
  bool claim_learning() { return !learning_.exchange(true); }
  // "id:charset:collation,..." as GROUP_CONCAT returns it; malformed entries are skipped.
  void learn(std::string_view table);
  // `SET NAMES 'cs' COLLATE 'name'` for a known id.
  std::optional<std::string> set_names(uint8_t id) const;
  // The collation's name (as @@collation_connection shows it) for a known id.
  std::optional<std::string> name(uint8_t id) const;

 private:
  std::atomic<bool> learning_{false};
  mutable std::mutex mu_;
  struct Entry {
    std::string set_names;
    std::string name;
  };
  std::optional<std::string> field(uint8_t id, std::string Entry::*member) const;

  std::unordered_map<uint8_t, Entry> entries_;
};

}  // namespace camproxy::proxy
