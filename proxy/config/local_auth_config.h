#pragma once
// Local authentication settings of one target (docs/config.md): when on, camproxy checks the
// application's password itself, against users it was given, before any database login.
// Off (no users file, no entries): any password is accepted, as camproxy always did.
// Loading and checking live in proxy/config/local_users.h.
#include <string>
#include <vector>

namespace camproxy::proxy {

// One user as a config entry: `credential` is what follows "name:" on a users-file line
// (`*<40 hex>:<64 hex>` from `camproxy hash-password`, or `plain:<password>`).
struct LocalUserEntry {
  std::string name;
  std::string credential;
  bool operator==(const LocalUserEntry&) const = default;
};

struct LocalAuthConfig {
  std::string users_file;             // --users-file; must not be readable by others
  std::vector<LocalUserEntry> users;  // entries from the config file
  bool enabled() const { return !users_file.empty() || !users.empty(); }
  bool operator==(const LocalAuthConfig&) const = default;
};

}  // namespace camproxy::proxy
