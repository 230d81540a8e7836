#include "proxy/admin_debug.h"

#include <ctime>

#include "proxy/json_object.h"

namespace camproxy::proxy {
namespace {

// "2026-12-07T14:30:05Z"
std::string utc_time(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// How a client's user name becomes a CAM account (TargetConfig::account_for).
std::string accounts_json(const TargetConfig& t) {
  JsonObject out;
  if (t.pass_through()) return out.add("mode", "pass-through").str();
  if (!t.db_user.empty()) return out.add("mode", "db-user").add("account", t.db_user).str();
  JsonObject map;
  for (const auto& [user, account] : t.accounts) map.add(user, account);
  return out.add("mode", "map").raw("accounts", map.str()).str();
}

std::string target_json(const Target& target, int workers) {
  const TargetConfig& c = target.config();
  std::vector<std::string> listen;
  for (const auto& l : c.listen) listen.push_back(json_string(l.to_string()));
  return JsonObject()
      .add("name", c.name)
      .raw("listen", json_array(listen))
      .add("upstream", c.upstream.to_string())
      .add("instance_id", c.instance_id)
      .add("region", c.region)
      .raw("accounts", accounts_json(c))
      .add("workers", int64_t{workers})
      .add("open_sessions", static_cast<int64_t>(target.open_sessions()))
      .str();
}

std::string token_json(const std::string& target, const TokenStats& s, std::chrono::steady_clock::time_point steady_now,
                       std::chrono::system_clock::time_point wall_now) {
  auto wall = [&](std::chrono::steady_clock::time_point t) {
    return utc_time(wall_now + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - steady_now));
  };
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  JsonObject out;
  out.add("target", target).add("account", s.account);
  if (s.fetched_at) {
    out.add("fetched_at", wall(*s.fetched_at)).raw("age_seconds", json_seconds(secs(steady_now - *s.fetched_at)));
  } else {
    out.raw("fetched_at", "null");
  }
  if (s.expires_at) {
    out.add("next_rotation", wall(*s.expires_at))
        .raw("next_rotation_in_seconds", json_seconds(secs(*s.expires_at - steady_now)));
  } else {
    out.raw("next_rotation", "null");
  }
  return out.add("fallback_in_use", s.fallback_in_use)
      .add("last_cam_outcome", s.last_outcome)
      .raw("last_fetch_seconds", json_seconds(s.last_fetch_seconds))
      .add("fetch_ok", static_cast<int64_t>(s.fetch_ok))
      .add("fetch_retryable", static_cast<int64_t>(s.fetch_retryable))
      .add("fetch_rejected", static_cast<int64_t>(s.fetch_rejected))
      .add("fallback_uses", static_cast<int64_t>(s.fallback_uses))
      .str();
}

}  // namespace

std::string debug_targets_json(const std::vector<std::unique_ptr<Target>>& targets, int workers_per_target) {
  std::vector<std::string> items;
  for (const auto& t : targets) items.push_back(target_json(*t, workers_per_target));
  return JsonObject().raw("targets", json_array(items)).str();
}

std::string debug_tokens_json(const std::vector<std::unique_ptr<Target>>& targets,
                              std::chrono::steady_clock::time_point steady_now,
                              std::chrono::system_clock::time_point wall_now) {
  std::vector<std::string> items;
  for (const auto& t : targets)
    for (const auto& s : t->token_stats()) items.push_back(token_json(t->name(), s, steady_now, wall_now));
  return JsonObject().raw("tokens", json_array(items)).str();
}

std::string refresh_outcome_json(const std::string& target, const RefreshOutcome& outcome) {
  JsonObject out;
  out.add("target", target).add("account", outcome.account).add("ok", outcome.ok);
  if (!outcome.ok) {
    out.add("error_code", outcome.code).add("error_class", outcome.error_class).add("request_id", outcome.request_id);
  }
  return out.raw("fetch_seconds", json_seconds(outcome.seconds)).add("joined", outcome.joined).str();
}

}  // namespace camproxy::proxy
