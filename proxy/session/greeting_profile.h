#pragma once
// What the greeting camproxy sends applications mirrors from the database's own greeting
// (spec/mysql-protocol.md §2.1): learnt by a target's first session, then shared by all.
#include <cstdint>
#include <string>

namespace camproxy::proxy {

struct GreetingProfile {
  std::string server_version;
  uint32_t capabilities = 0;
  uint32_t mariadb_capabilities = 0;  // MariaDB extended bits (capabilities without CLIENT_MYSQL)
  uint8_t collation = 0;
  uint16_t status_flags = 0;
};

}  // namespace camproxy::proxy
