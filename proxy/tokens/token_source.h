#pragma once
// What a login needs of an account's CAM token, and nothing more: the current snapshot, asking
// for a new one, and reporting one the database refused. TokenService (token_service.h) is the
// process's; a unit test gives a session a fake one with a token of its own.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "auth/cam_response.h"
#include "auth/secret.h"

namespace camproxy::proxy {

using SteadyTime = std::chrono::steady_clock::time_point;

struct TokenState {
  uint64_t generation = 0;                             // grows with every published snapshot
  std::shared_ptr<const auth::SecretString> password;  // null: no token
  SteadyTime expires_at{};
  bool from_fallback_file = false;
  // A user-notification error: no background retries until the credential changes; logins may
  // still trigger a rate-limited attempt (the operator may have fixed the console setting).
  bool stopped = false;
  std::optional<auth::CamError> error;  // the last fetch's failure, if it failed

  bool usable(SteadyTime now) const { return password != nullptr && now < expires_at; }
};

// What a login's request for a token comes to.
enum class TokenDemand {
  wait,      // a fetch is running or queued: wait for the next snapshot
  rejected,  // CAM refused the account and may not be asked again yet: fail with its error
  limited,   // the process-wide CAM call budget has nothing to spare: fail, try again later
};

// Every call may come from any thread. A caller that waits for a new snapshot learns of it
// from its own wake-up (a worker's: SessionEnv::add_token_waiter), not from this interface.
class TokenSource {
 public:
  virtual ~TokenSource() = default;

  // The account's latest snapshot (nullptr: none yet); counts as a use of the account (the
  // token service refreshes only accounts in use: account_policy.h).
  virtual std::shared_ptr<const TokenState> current(const std::string& account) = 0;
  // Fetch a token unless a fetch is running or a snapshot newer than `seen_generation` exists.
  virtual TokenDemand request(const std::string& account, uint64_t seen_generation) = 0;
  // The database refused the token of `rejected_generation` with 1045. False when the
  // per-account rate limit denies a refetch (the caller fails the login).
  virtual bool request_after_rejection(const std::string& account, uint64_t rejected_generation) = 0;
};

}  // namespace camproxy::proxy
