#pragma once
// One client session at one moment, for GET /debug/sessions (docs/operations.md
// "Introspection"): plain values copied on the worker's thread, read on the control thread.
// Names, addresses and counters only: never a password, a token or a key.
#include <cstdint>
#include <optional>
#include <string>

namespace camproxy::proxy {

struct SessionSnapshot {
  uint32_t id = 0;                    // the connection id camproxy's greeting gave the application
  std::string user;                   // the user name the application logged in with (empty before its login)
  std::string account;                // the CAM account its database connection logs in as (empty before)
  std::string peer;                   // "host:port" of a TCP client, "unix" for a unix socket client
  std::string state;                  // ClientSession::State
  std::optional<uint32_t> thread_id;  // the database's CONNECTION_ID() of its connection
  std::optional<uint32_t> pool_caps;  // the pool key's capability bits, with a database connection
  uint32_t pool_mariadb_caps = 0;     // and its MariaDB extended capabilities
  bool in_transaction = false;        // as the server's last status flags said
  double age_seconds = 0;
  uint64_t bytes_from_client = 0;
  uint64_t bytes_to_client = 0;
};

}  // namespace camproxy::proxy
