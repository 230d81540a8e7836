#include "credential_test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/vector_file.h"

namespace camproxy::auth::test {

EnvLookup FakeEnv::lookup() const {
  return [this](const char* name) -> const char* {
    const auto it = vars_.find(name);
    return it == vars_.end() ? nullptr : it->second.c_str();
  };
}

Reply credential_source_reply(std::string_view name) {
  for (simdjson::dom::element c : arr(load_vectors("cam_responses.json"), "related_credential_source_responses")) {
    if (str(c, "name") == name) return {static_cast<int>(i64(c, "http_status")), str(c, "body")};
  }
  ADD_FAILURE() << "no vector " << name;
  return {};
}

bool file_exists(const char* path) { return ::access(path, F_OK) == 0; }

}  // namespace camproxy::auth::test
