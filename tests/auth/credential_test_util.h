// Helpers for the credential source tests: a fake environment and the metadata/STS
// answers of tests/vectors/cam_responses.json.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "auth/credentials.h"
#include "test_http_server.h"

namespace camproxy::auth::test {

class FakeEnv {
 public:
  explicit FakeEnv(std::map<std::string, std::string> vars = {}) : vars_(std::move(vars)) {}
  void set(const std::string& name, std::string value) { vars_[name] = std::move(value); }
  // Valid while this object lives.
  EnvLookup lookup() const;

 private:
  std::map<std::string, std::string> vars_;
};

// The HTTP status and body of a "related_credential_source_responses" case.
Reply credential_source_reply(std::string_view name);

bool file_exists(const char* path);

}  // namespace camproxy::auth::test
