// Where camproxy's Tencent Cloud API credential comes from (spec/tencentcloud-cam.md §7)
// and when it must be fetched again.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "auth/credentials.h"
#include "auth/result.h"

namespace camproxy::auth {

using SystemTime = std::chrono::system_clock::time_point;

// A failure to obtain a credential. `code` is an AuthErr for programs and tests;
// `message` is for operators: what failed, where (path, endpoint, role, variable
// names) and what to do. Neither ever holds a key, a session token or file content.
struct CredentialError {
  std::error_code code;
  std::string message;
  bool transient = false;  // network, timeout, HTTP 5xx, throttling: retrying may help
};

template <class T>
using CredentialResult = tl::expected<T, CredentialError>;

struct CredentialSnapshot {
  std::shared_ptr<const Credential> credential;
  std::string identity;                  // the SecretId: part of the token cache key; never the key itself
  std::string source;                    // "env", "profile:<path>", "cvm-role:<role>", "tke-oidc:<role arn>"
  std::optional<SystemTime> expires_at;  // temporary credentials only
  // When to fetch again (temporary credentials only); see refresh_time().
  std::optional<SystemTime> refresh_at;
};

class CredentialProvider {
 public:
  virtual ~CredentialProvider() = default;
  // May block (file I/O, HTTP with the configured timeouts): call it off the event
  // loops. Thread-safe (calls are serialised).
  virtual CredentialResult<CredentialSnapshot> fetch() = 0;
  // True when `current` must be fetched again now: its profile file changed on disk,
  // or `now` reached its refresh_at. Cheap (one or two stat() at most); thread-safe.
  virtual bool needs_refresh(const CredentialSnapshot& current, SystemTime now) const = 0;
  // "env", "profile", "cvm-role" or "tke-oidc".
  virtual std::string_view name() const = 0;
};

struct CredentialOptions {
  std::string source = "auto";  // auto | env | profile | cvm-role | tke-oidc
  std::string profile_file;     // empty: $TENCENTCLOUD_CREDENTIALS_FILE, then the defaults
  std::string metadata_endpoint = "http://metadata.tencentyun.com";
  std::string sts_endpoint = "https://sts.tencentcloudapi.com";
  std::string ca_file;  // for STS over https; empty = system CAs
  std::chrono::milliseconds metadata_timeout{1000}, sts_timeout{10000};
};

// Picks the source. A forced source must be configured (else its error). "auto" is
// the [camproxy] chain of spec §7.6, probed in this order, the first configured wins:
//  1. env: TENCENTCLOUD_SECRET_ID / _SECRET_KEY (+ _SESSION_TOKEN or _TOKEN, §7.1);
//     configured when either is non-empty.
//  2. profile (§7.2): profile_file, else $TENCENTCLOUD_CREDENTIALS_FILE (a path given
//     there is the source even if missing: fetch() says profile_not_found), else the
//     first of ~/.tencentcloud/credentials, /etc/tencentcloud/credentials that exists;
//     INI section [default], keys secret_id and secret_key (see profile_file.h).
//     Re-read when the file on disk changes (needs_refresh).
//  3. tke-oidc (§7.4): configured when any TKE_* variable is set; all four must be.
//     The token file is re-read on every fetch.
//  4. cvm-role (§7.3): configured when the metadata service names a role (HTTP 404
//     or no answer within metadata_timeout: not a CVM with a role). Probing costs
//     one HTTP call; the role name is kept.
// A configured source that is broken stops the chain with its own error; nothing
// configured is AuthErr::no_credential_source, naming what was looked at. The choice
// is made once: later fetches use the same source. May block (see fetch()).
CredentialResult<std::unique_ptr<CredentialProvider>> make_credential_provider(const CredentialOptions& options,
                                                                               const EnvLookup& env);

// When a temporary credential is due for refresh: `margin` before it expires
// (CVM role §7.3: 300 s; OIDC §7.4: DurationSeconds / 10), but never more than half
// its remaining life, and at least 1 s after `fetched_at`, so that a credential
// handed out close to its expiry (or already expired) cannot cause a fetch loop.
SystemTime refresh_time(SystemTime fetched_at, SystemTime expires_at, std::chrono::seconds margin);

}  // namespace camproxy::auth
