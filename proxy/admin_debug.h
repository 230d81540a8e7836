#pragma once
// The admin endpoint's introspection answers (docs/operations.md "Introspection"): one line of
// JSON each, built from what the targets report. Never a token, a password or a key: TokenStats
// and TargetConfig's names and addresses are all they read.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "proxy/target.h"

namespace camproxy::proxy {

// GET /debug/targets: name, listen addresses, upstream, instance, region, accounts mode,
// workers and open sessions of each running target.
std::string debug_targets_json(const std::vector<std::unique_ptr<Target>>& targets, int workers_per_target);

// GET /debug/tokens: per target and account, when the token in use was fetched, its next
// rotation, whether the fallback password is in use, the last CAM outcome and the counters.
// `steady_now`/`wall_now` turn the token service's steady times into wall-clock times.
std::string debug_tokens_json(const std::vector<std::unique_ptr<Target>>& targets,
                              std::chrono::steady_clock::time_point steady_now,
                              std::chrono::system_clock::time_point wall_now);

// One account's line of POST /refresh-token: target, account, ok, and when it failed the CAM
// error's code, class and request id; fetch_seconds; joined (the fetch was running already).
std::string refresh_outcome_json(const std::string& target, const RefreshOutcome& outcome);

}  // namespace camproxy::proxy
