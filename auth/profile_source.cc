// Credential source "profile" (spec/tencentcloud-cam.md §7.2): an INI file, re-read
// when it changes on disk (a Kubernetes Secret update swaps a symlink under it).
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "auth/credential_sources.h"
#include "auth/profile_file.h"
#include "auth/small_file.h"

namespace camproxy::auth {
namespace {

constexpr std::size_t kMaxProfileBytes = 64 * 1024;
constexpr const char* kSystemProfile = "/etc/tencentcloud/credentials";

class ProfileProvider final : public CredentialProvider {
 public:
  // `candidates`: the first that exists is read; a single one when the path was given.
  explicit ProfileProvider(std::vector<std::string> candidates) : candidates_(std::move(candidates)) {}

  CredentialResult<CredentialSnapshot> fetch() override {
    std::lock_guard lock(mu_);
    read_path_ = resolve();
    auto file = read_small_file(read_path_, SmallFileRules{kMaxProfileBytes, false});
    // Remember what was looked at even on failure: a broken file is read again only
    // once it changes, not on every check.
    read_identity_ = file ? std::optional(file->identity) : file_identity(read_path_);
    const std::string where = "credentials profile file " + read_path_;
    if (!file) {
      return tl::unexpected(credential_error(
          file.error() == FileProblem::missing ? AuthErr::profile_not_found : AuthErr::profile_unreadable, where));
    }
    auto credential = parse_profile(file->bytes.view());
    if (!credential) {
      const ProfileSyntaxError& e = credential.error();
      return tl::unexpected(credential_error(e.code, e.line == 0 ? where : where + " line " + std::to_string(e.line)));
    }
    auto shared = std::make_shared<const Credential>(std::move(*credential));
    return CredentialSnapshot{shared, shared->secret_id, "profile:" + read_path_, std::nullopt, std::nullopt};
  }

  bool needs_refresh(const CredentialSnapshot&, SystemTime) const override {
    std::lock_guard lock(mu_);
    const std::string path = resolve();
    return path != read_path_ || file_identity(path) != read_identity_;
  }

  std::string_view name() const override { return "profile"; }

 private:
  std::string resolve() const {
    for (const std::string& path : candidates_) {
      if (file_identity(path)) return path;
    }
    return candidates_.front();
  }

  const std::vector<std::string> candidates_;
  mutable std::mutex mu_;
  std::string read_path_;                      // what the last fetch read
  std::optional<FileIdentity> read_identity_;  // and what it was then (nullopt: missing)
};

}  // namespace

ProbeResult probe_profile(const ProbeContext& context) {
  // A path the operator gave is configured even if it is missing (fetch says so).
  std::string given = context.options.profile_file;
  if (given.empty()) given = env_or_empty(context.env, "TENCENTCLOUD_CREDENTIALS_FILE");
  if (!given.empty()) {
    return SourceProbe{std::make_unique<ProfileProvider>(std::vector<std::string>{given}), {}};
  }
  std::vector<std::string> defaults;
  if (const std::string_view home = env_or_empty(context.env, "HOME"); !home.empty()) {
    defaults.push_back(std::string(home) + "/.tencentcloud/credentials");
  }
  defaults.emplace_back(kSystemProfile);
  for (const std::string& path : defaults) {
    if (file_identity(path)) {
      return SourceProbe{std::make_unique<ProfileProvider>(std::move(defaults)), {}};
    }
  }
  std::string looked;
  for (const std::string& path : defaults) looked += (looked.empty() ? "" : ", ") + path;
  if (context.forced) {
    return tl::unexpected(credential_error(AuthErr::profile_not_found, "looked at " + looked));
  }
  return SourceProbe{nullptr, "no profile file (" + looked + ")"};
}

}  // namespace camproxy::auth
