// Local authentication's users: the file format and its errors, and scramble checks against
// vectors computed independently (Python hashlib; MySQL's documented PASSWORD('password')).
#include "proxy/config/local_users.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace camproxy::proxy {
namespace {

// hashlib: sha1(sha1(b"secret-pw")), sha256(sha256(b"secret-pw")).
constexpr const char* kSecretPwNative = "*B87675491D86B74664F2EA1D3A7060E82A810802";
constexpr const char* kSecretPwSha2 = "4870A019BE3AF92239DC9807901128F58CC21D657B1528B1C1DC24CFEA3CE5A7";
// hashlib, nonce bytes 1..20: what a client with password "secret-pw" answers.
constexpr const char* kNativeScramble = "1e58b73f68d9dafb7b3e186a5419a21c9e153b15";
constexpr const char* kSha2Scramble = "702fa0e474391a0956d714f772bc509eee0b17df5d3148085e353830a638211c";

std::vector<uint8_t> unhex(std::string_view h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

std::array<uint8_t, 20> test_nonce() {
  std::array<uint8_t, 20> n{};
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(i + 1);
  return n;
}

std::string hashed_line(const std::string& name) { return name + ":" + kSecretPwNative + ":" + kSecretPwSha2 + "\n"; }

class TempFile {
 public:
  TempFile(const std::string& text, mode_t mode) {
    char tmpl[] = "/tmp/camproxy_users_XXXXXX";
    const int fd = ::mkstemp(tmpl);
    path_ = tmpl;
    ::close(fd);
    std::ofstream(path_) << text;
    ::chmod(path_.c_str(), mode);
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(LocalUsers, HashedAndPlainLinesBothVerify) {
  LocalUsers users;
  ASSERT_EQ(users.add_text("# comment\n\n" + hashed_line("alice") + "bob:plain:secret-pw\r\n", "test"), std::nullopt);
  EXPECT_EQ(users.size(), 2u);
  const auto nonce = test_nonce();
  const auto native = unhex(kNativeScramble);
  const auto sha2 = unhex(kSha2Scramble);
  for (const char* user : {"alice", "bob"}) {
    EXPECT_TRUE(users.verify(user, LocalAuthPlugin::native_password, nonce, native)) << user;
    EXPECT_TRUE(users.verify(user, LocalAuthPlugin::caching_sha2_password, nonce, sha2)) << user;
  }
}

TEST(LocalUsers, WrongPasswordUnknownUserAndWrongPluginAreRefused) {
  LocalUsers users;
  ASSERT_EQ(users.add_text(hashed_line("alice"), "test"), std::nullopt);
  const auto nonce = test_nonce();
  auto native = unhex(kNativeScramble);
  const auto sha2 = unhex(kSha2Scramble);
  EXPECT_FALSE(users.verify("mallory", LocalAuthPlugin::native_password, nonce, native));
  EXPECT_FALSE(users.verify("alice", LocalAuthPlugin::caching_sha2_password, nonce, native));  // wrong size
  EXPECT_FALSE(users.verify("alice", LocalAuthPlugin::native_password, nonce, sha2));
  EXPECT_FALSE(users.verify("alice", LocalAuthPlugin::native_password, nonce, {}));  // empty password
  native[0] ^= 1;
  EXPECT_FALSE(users.verify("alice", LocalAuthPlugin::native_password, nonce, native));
  auto other_nonce = nonce;
  other_nonce[0] = 99;
  EXPECT_FALSE(users.verify("alice", LocalAuthPlugin::caching_sha2_password, other_nonce, sha2));
}

TEST(LocalUsers, MySqlDocumentedPasswordHashIsAccepted) {
  // MySQL's PASSWORD('password') = *2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19 (mysql.user).
  LocalUsers users;
  const std::string line = users_file_line("x", {reinterpret_cast<const uint8_t*>("password"), 8});
  EXPECT_EQ(line.substr(0, 43), "x:*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19");
  EXPECT_EQ(users.add_text(line, "test"), std::nullopt);
}

TEST(LocalUsers, UsersFileLineMatchesHashlib) {
  const std::string line = users_file_line("alice", {reinterpret_cast<const uint8_t*>("secret-pw"), 9});
  EXPECT_EQ(line + "\n", hashed_line("alice"));
}

TEST(LocalUsers, BadLinesNameTheLineAndNeverTheCredential) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"alice\n", "test line 1: expected name:credential"},
      {"# c\n:plain:secret-pw\n", "test line 2: empty user name"},
      {"alice:plain:\n", "line 1: empty password for user 'alice'"},
      {"alice:*B87675491D86B74664F2EA1D3A7060E82A81080:" + std::string(kSecretPwSha2), "expected *<40 hex>:<64 hex>"},
      {"alice:*B87675491D86B74664F2EA1D3A7060E82A810802", "expected *<40 hex>:<64 hex>"},
      {"alice:B87675491D86B74664F2EA1D3A7060E82A810802:" + std::string(kSecretPwSha2), "expected *<40 hex>"},
      {"alice:*Z87675491D86B74664F2EA1D3A7060E82A810802:" + std::string(kSecretPwSha2), "expected *<40 hex>"},
      {"alice:hunter2-secret\n", "expected *<40 hex>"},
      {hashed_line("alice") + "alice:plain:x\n", "line 2: user 'alice' given twice"},
      {"al\tice:plain:x\n", "control character"},
  };
  for (const auto& c : cases) {
    LocalUsers users;
    auto e = users.add_text(c.text, "test");
    ASSERT_TRUE(e.has_value()) << c.text;
    EXPECT_NE(e->find(c.expected), std::string::npos) << *e;
    EXPECT_EQ(e->find("hunter2-secret"), std::string::npos) << *e;
    EXPECT_EQ(e->find("B8767549"), std::string::npos) << *e;
  }
}

TEST(LocalUsers, LoadReadsTheFileAndTheConfigEntries) {
  TempFile file(hashed_line("alice"), 0600);
  LocalAuthConfig config;
  config.users_file = file.path();
  config.users.push_back({"bob", "plain:secret-pw"});
  std::string error;
  auto users = LocalUsers::load(config, error);
  ASSERT_NE(users, nullptr) << error;
  EXPECT_EQ(users->size(), 2u);
  EXPECT_TRUE(users->verify("bob", LocalAuthPlugin::native_password, test_nonce(), unhex(kNativeScramble)));
}

TEST(LocalUsers, LoadRefusesAFileOthersCanReadAMissingOneAndNoUsers) {
  std::string error;
  {
    TempFile file(hashed_line("alice"), 0644);
    EXPECT_EQ(LocalUsers::load({file.path(), {}}, error), nullptr);
    EXPECT_NE(error.find("readable by others"), std::string::npos) << error;
  }
  EXPECT_EQ(LocalUsers::load({"/nonexistent/users", {}}, error), nullptr);
  EXPECT_NE(error.find("users file /nonexistent/users: no such file"), std::string::npos) << error;
  {
    TempFile file("# nobody yet\n", 0600);
    EXPECT_EQ(LocalUsers::load({file.path(), {}}, error), nullptr);
    EXPECT_NE(error.find("no user is configured"), std::string::npos) << error;
  }
  EXPECT_EQ(LocalUsers::load({"", {{"bob", "nope"}}}, error), nullptr);
  EXPECT_NE(error.find("local user: user 'bob'"), std::string::npos) << error;
}

}  // namespace
}  // namespace camproxy::proxy
