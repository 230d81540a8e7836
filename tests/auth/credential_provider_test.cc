// The credential chain (spec/tencentcloud-cam.md §7.6), the env and profile sources
// (§7.1, §7.2) and the refresh time of temporary credentials.
#include "auth/credential_provider.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "credential_test_util.h"
#include "temp_dir.h"
#include "test_http_server.h"

namespace camproxy::auth {
namespace {

using std::chrono::seconds;
using test::TempDir;

using Env = test::FakeEnv;
using test::file_exists;

struct ChainTest : ::testing::Test {
  CredentialResult<std::unique_ptr<CredentialProvider>> make(const Env& env, std::string source = "auto") {
    CredentialOptions options;
    options.source = std::move(source);
    options.metadata_endpoint = "http://127.0.0.1:" + std::to_string(refusing.port());
    options.sts_endpoint = options.metadata_endpoint;
    return make_credential_provider(options, env.lookup());
  }
  CredentialSnapshot fetch_ok(CredentialProvider& provider) {
    auto snapshot = provider.fetch();
    EXPECT_TRUE(snapshot.has_value()) << snapshot.error().message;
    return snapshot ? std::move(*snapshot) : CredentialSnapshot{};
  }

  test::RefusingPort refusing;
  TempDir home;  // $HOME without a .tencentcloud directory unless a test makes one
  const SystemTime now = std::chrono::system_clock::now();
};

TEST_F(ChainTest, EnvironmentComesFirstAndNeverChanges) {
  const std::string profile = home.write("profile", "[default]\nsecret_id = AKIDprofile\nsecret_key = kp\n");
  const Env env({{"TENCENTCLOUD_SECRET_ID", "AKIDenv"},
                 {"TENCENTCLOUD_SECRET_KEY", "kenv"},
                 {"TENCENTCLOUD_TOKEN", "tenv"},
                 {"TENCENTCLOUD_CREDENTIALS_FILE", profile},
                 {"HOME", home.path()}});
  auto provider = make(env);
  ASSERT_TRUE(provider.has_value()) << provider.error().message;
  EXPECT_EQ((*provider)->name(), "env");
  const CredentialSnapshot s = fetch_ok(**provider);
  EXPECT_EQ(s.credential->secret_id, "AKIDenv");
  EXPECT_EQ(s.credential->secret_key.view(), "kenv");
  EXPECT_EQ(s.credential->session_token.view(), "tenv");
  EXPECT_EQ(s.identity, "AKIDenv");
  EXPECT_EQ(s.source, "env");
  EXPECT_FALSE(s.expires_at.has_value());
  EXPECT_FALSE(s.refresh_at.has_value());
  EXPECT_FALSE((*provider)->needs_refresh(s, now + std::chrono::hours(24 * 365)));
}

TEST_F(ChainTest, AHalfSetEnvironmentStopsTheChain) {
  const std::string profile = home.write("profile", "[default]\nsecret_id = AKIDprofile\nsecret_key = kp\n");
  const struct {
    std::map<std::string, std::string> vars;
    AuthErr err;
  } rows[] = {
      {{{"TENCENTCLOUD_SECRET_ID", "AKIDvisible"}}, AuthErr::secret_key_missing},
      {{{"TENCENTCLOUD_SECRET_ID", "AKIDvisible"}, {"TENCENTCLOUD_SECRET_KEY", ""}}, AuthErr::secret_key_missing},
      {{{"TENCENTCLOUD_SECRET_KEY", "ksecretvalue"}}, AuthErr::secret_id_missing},
  };
  for (const auto& row : rows) {
    Env env(row.vars);
    env.set("TENCENTCLOUD_CREDENTIALS_FILE", profile);  // would work, but is not reached
    const auto provider = make(env);
    ASSERT_FALSE(provider.has_value());
    EXPECT_EQ(provider.error().code, make_error_code(row.err));
    EXPECT_FALSE(provider.error().transient);
    EXPECT_EQ(provider.error().message.find("ksecretvalue"), std::string::npos);
  }
}

TEST_F(ChainTest, ForcedSourcesAndUnknownNames) {
  const Env empty({{"HOME", home.path()}});
  EXPECT_EQ(make(empty, "env").error().code, make_error_code(AuthErr::secret_id_missing));
  EXPECT_EQ(make(empty, "tke-oidc").error().code, make_error_code(AuthErr::oidc_env_incomplete));
  const auto cvm = make(empty, "cvm-role");
  EXPECT_EQ(cvm.error().code, make_error_code(AuthErr::metadata_unavailable));
  EXPECT_TRUE(cvm.error().transient);
  if (!file_exists("/etc/tencentcloud/credentials")) {
    const auto profile = make(empty, "profile");
    EXPECT_EQ(profile.error().code, make_error_code(AuthErr::profile_not_found));
    EXPECT_NE(profile.error().message.find(home.path()), std::string::npos);
  }
  const auto unknown = make(empty, "vault");
  EXPECT_EQ(unknown.error().code, make_error_code(AuthErr::credential_source_unknown));
  EXPECT_NE(unknown.error().message.find("vault"), std::string::npos);
}

TEST_F(ChainTest, NothingConfiguredSaysWhatWasLookedAt) {
  if (file_exists("/etc/tencentcloud/credentials")) GTEST_SKIP() << "this machine has a profile";
  const auto provider = make(Env({{"HOME", home.path()}}));
  ASSERT_FALSE(provider.has_value());
  EXPECT_EQ(provider.error().code, make_error_code(AuthErr::no_credential_source));
  const std::string& m = provider.error().message;
  for (const char* part : {"env:", "profile:", "tke-oidc:", "cvm-role:", "TENCENTCLOUD_SECRET_ID",
                           "/.tencentcloud/credentials", "TKE_", "127.0.0.1"}) {
    EXPECT_NE(m.find(part), std::string::npos) << part << " in " << m;
  }
}

TEST_F(ChainTest, ProfileFromOptionVariableOrHome) {
  const std::string a = home.write("a", "[default]\nsecret_id = AKIDa\nsecret_key = ka\n");
  const std::string b = home.write("b", "[default]\nsecret_id = AKIDb\nsecret_key = kb\n");
  ASSERT_EQ(::mkdir(home.file(".tencentcloud").c_str(), 0700), 0);
  home.write(".tencentcloud/credentials", "[default]\nsecret_id = AKIDhome\nsecret_key = kh\n");

  Env env({{"HOME", home.path()}});
  auto from_home = make(env);
  ASSERT_TRUE(from_home.has_value()) << from_home.error().message;
  EXPECT_EQ((*from_home)->name(), "profile");
  EXPECT_EQ(fetch_ok(**from_home).source, "profile:" + home.path() + "/.tencentcloud/credentials");

  env.set("TENCENTCLOUD_CREDENTIALS_FILE", a);
  auto from_variable = make(env);
  ASSERT_TRUE(from_variable.has_value());
  EXPECT_EQ(fetch_ok(**from_variable).identity, "AKIDa");

  CredentialOptions options;  // the explicit option beats the variable
  options.profile_file = b;
  auto from_option = make_credential_provider(options, env.lookup());
  ASSERT_TRUE(from_option.has_value());
  EXPECT_EQ(fetch_ok(**from_option).identity, "AKIDb");
}

TEST_F(ChainTest, ProfileIsReadAgainWhenTheFileChanges) {
  const std::string path = home.write("creds", "[default]\nsecret_id = AKID1\nsecret_key = k1\n");
  auto provider = make(Env({{"TENCENTCLOUD_CREDENTIALS_FILE", path}}));
  ASSERT_TRUE(provider.has_value());
  CredentialProvider& p = **provider;
  CredentialSnapshot s = fetch_ok(p);
  EXPECT_EQ(s.identity, "AKID1");
  EXPECT_FALSE(p.needs_refresh(s, now));
  EXPECT_FALSE(p.needs_refresh(s, now)) << "a stat, not a state change";

  // Replaced by rename (a new inode), as editors and config tools do.
  home.write("creds", "[default]\nsecret_id = AKID2\nsecret_key = k2\n");
  EXPECT_TRUE(p.needs_refresh(s, now));
  s = fetch_ok(p);
  EXPECT_EQ(s.identity, "AKID2");
  EXPECT_EQ(s.credential->secret_key.view(), "k2");
  EXPECT_FALSE(p.needs_refresh(s, now));

  // Rewritten in place with the same size: the mtime tells.
  {
    FILE* f = std::fopen(path.c_str(), "r+");
    ASSERT_NE(f, nullptr);
    std::fputs("[default]\nsecret_id = AKID3\nsecret_key = k3\n", f);
    std::fclose(f);
    const timespec times[2] = {{0, UTIME_OMIT}, {1'000'000'000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  }
  EXPECT_TRUE(p.needs_refresh(s, now));
  EXPECT_EQ(fetch_ok(p).identity, "AKID3");
}

TEST_F(ChainTest, ProfileFollowsAKubernetesSecretSymlinkSwap) {
  // A Secret volume: credentials -> ..data/credentials, ..data -> ..v1 (swapped atomically).
  ASSERT_EQ(::mkdir(home.file("..v1").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(home.file("..v2").c_str(), 0700), 0);
  home.write("..v1/credentials", "[default]\nsecret_id = AKIDv1\nsecret_key = k1\n");
  home.write("..v2/credentials", "[default]\nsecret_id = AKIDv2\nsecret_key = k2\n");
  ASSERT_EQ(::symlink("..v1", home.file("..data").c_str()), 0);
  ASSERT_EQ(::symlink("..data/credentials", home.file("credentials").c_str()), 0);

  auto provider = make(Env({{"TENCENTCLOUD_CREDENTIALS_FILE", home.file("credentials")}}));
  ASSERT_TRUE(provider.has_value());
  CredentialSnapshot s = fetch_ok(**provider);
  EXPECT_EQ(s.identity, "AKIDv1");
  EXPECT_FALSE((*provider)->needs_refresh(s, now));

  ASSERT_EQ(::symlink("..v2", home.file("..data_tmp").c_str()), 0);
  ASSERT_EQ(::rename(home.file("..data_tmp").c_str(), home.file("..data").c_str()), 0);
  EXPECT_TRUE((*provider)->needs_refresh(s, now));
  s = fetch_ok(**provider);
  EXPECT_EQ(s.identity, "AKIDv2");
  EXPECT_FALSE((*provider)->needs_refresh(s, now));
}

TEST_F(ChainTest, BrokenProfileIsReportedOnceUntilItChanges) {
  const std::string path = home.write("creds", "[default]\nsecret_id = AKIDok\nsecret_key = TopSecretKey\n");
  auto provider = make(Env({{"TENCENTCLOUD_CREDENTIALS_FILE", path}}));
  ASSERT_TRUE(provider.has_value());
  const CredentialSnapshot good = fetch_ok(**provider);

  home.write("creds", "[default]\nsecret_id = AKIDok\nTopSecretKey\n");
  EXPECT_TRUE((*provider)->needs_refresh(good, now));
  const auto broken = (*provider)->fetch();
  ASSERT_FALSE(broken.has_value());
  EXPECT_EQ(broken.error().code, make_error_code(AuthErr::profile_malformed));
  EXPECT_NE(broken.error().message.find(path + " line 3"), std::string::npos) << broken.error().message;
  EXPECT_EQ(broken.error().message.find("TopSecretKey"), std::string::npos);
  EXPECT_FALSE((*provider)->needs_refresh(good, now)) << "no retry storm on a broken file";

  home.write("creds", "[default]\nsecret_id = AKIDfixed\nsecret_key = k\n");
  EXPECT_TRUE((*provider)->needs_refresh(good, now));
  EXPECT_EQ(fetch_ok(**provider).identity, "AKIDfixed");

  ASSERT_EQ(::unlink(path.c_str()), 0);
  const auto gone = (*provider)->fetch();
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, make_error_code(AuthErr::profile_not_found));
  home.write("creds", "[default]\nsecret_id = AKIDback\nsecret_key = k\n");
  EXPECT_TRUE((*provider)->needs_refresh(good, now));
  EXPECT_EQ(fetch_ok(**provider).identity, "AKIDback");
}

TEST(RefreshTime, MarginCappedByHalfTheRemainingLifeAndAFloor) {
  const SystemTime t{std::chrono::seconds(1'733'800'000)};
  const struct {
    const char* name;
    std::int64_t expires_in_s, margin_s, refresh_in_ms;
  } rows[] = {
      {"CVM, 1 h left: 300 s early", 3600, 300, (3600 - 300) * 1000},
      {"OIDC 7200 s: 720 s early", 7200, 720, (7200 - 720) * 1000},
      {"CVM, 400 s left: half-life", 400, 300, 200 * 1000},
      {"10 s left", 10, 300, 5000},
      {"1 s left: the 1 s floor", 1, 300, 1000},
      {"already expired: the 1 s floor", -60, 300, 1000},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const SystemTime at = refresh_time(t, t + seconds(row.expires_in_s), seconds(row.margin_s));
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(at - t).count(), row.refresh_in_ms);
  }
}

}  // namespace
}  // namespace camproxy::auth
