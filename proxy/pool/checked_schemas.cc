#include "proxy/pool/checked_schemas.h"

namespace camproxy::proxy {

bool CheckedSchemas::contains(std::string_view account, std::string_view schema) const {
  return entries_.contains(std::pair<std::string, std::string>(account, schema));
}

void CheckedSchemas::add(std::string_view account, std::string_view schema) {
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_.emplace(account, schema);
}

}  // namespace camproxy::proxy
