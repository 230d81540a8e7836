#pragma once
// The users local authentication knows, kept as the two hashes MySQL itself keeps, so the
// plain password need not be: SHA1(SHA1(pw)) for mysql_native_password and
// SHA256(SHA256(pw)) for caching_sha2_password's fast path (spec/mysql-protocol.md §2.6).
//
// Users file (--users-file), one user a line, blank lines and '#' comments skipped:
//   name:*<40 hex>:<64 hex>   SHA1(SHA1(pw)) as MySQL writes it, then SHA256(SHA256(pw))
//                             (what `camproxy hash-password NAME` prints)
//   name:plain:<password>     the password itself, to the end of the line
// A name holds no ':' and no control character. Errors name the file and line, never the
// credential.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/config/local_auth_config.h"

namespace camproxy::proxy {

struct LocalUserHashes {
  std::array<uint8_t, 20> native{};  // SHA1(SHA1(pw))
  std::array<uint8_t, 32> sha2{};    // SHA256(SHA256(pw))
};

enum class LocalAuthPlugin { native_password, caching_sha2_password };

class LocalUsers {
 public:
  // Reads the users file (regular, at most 1 MiB, not readable by others) and the config's
  // entries. nullptr with a readable `error` on failure.
  static std::shared_ptr<const LocalUsers> load(const LocalAuthConfig& config, std::string& error);
  // Parses users-file text; `source` names it in errors ("users file /x", "config").
  std::optional<std::string> add_text(std::string_view text, std::string_view source);
  std::optional<std::string> add(std::string_view name, std::string_view credential);

  // The client's scramble `response` to `nonce`. An unknown user is checked against a
  // random decoy so that it costs what a wrong password costs.
  bool verify(std::string_view user, LocalAuthPlugin plugin, std::span<const uint8_t, 20> nonce,
              std::span<const uint8_t> response) const;
  size_t size() const { return users_.size(); }

  LocalUsers();

 private:
  std::unordered_map<std::string, LocalUserHashes> users_;
  LocalUserHashes decoy_;
};

// nullopt for a name a users file can hold (not empty, no ':', no control character).
std::optional<std::string> check_user_name(std::string_view name);

// The users-file line for `name` with the hashes of `password` (camproxy hash-password).
std::string users_file_line(std::string_view name, std::span<const uint8_t> password);

}  // namespace camproxy::proxy
