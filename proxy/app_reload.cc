// App::reload, SIGHUP's work (docs/config.md "Reload"): what a new configuration keeps, starts,
// replaces and retires among the running targets, and how a failed start is undone.
#include <algorithm>
#include <cstdlib>
#include <utility>

#include "proxy/app.h"
#include "proxy/config/file_safety.h"
#include "proxy/credential_settings.h"
#include "proxy/json_object.h"
#include "proxy/ops/log.h"

namespace camproxy::proxy {

// What a reload does to the running targets: keep (live changes), or let go (removed or
// replaced); and which configured targets to start (added or replacing).
struct ReloadPlan {
  std::vector<std::unique_ptr<Target>> kept, going;
  std::vector<const TargetConfig*> to_start;
  std::vector<std::string> added, removed, replaced;
};

namespace {

// Process-wide settings a running process keeps (docs/config.md "Reload"): the file's keys.
std::string needs_restart(const Config& now, const Config& next) {
  std::string out;
  auto note = [&out](bool differs, std::string_view key) {
    if (differs) out += (out.empty() ? "" : ", ") + std::string(key);
  };
  auto address = [](const std::optional<HostPort>& a) { return a ? a->to_string() : std::string("off"); };
  note(address(now.admin) != address(next.admin), "admin");
  note(now.admin_quitquitquit != next.admin_quitquitquit, "admin-quitquitquit");
  note(address(now.http_address) != address(next.http_address), "http-address");
  note(now.workers != next.workers, "workers");
  note(now.log_level != next.log_level, "log.level");
  note(now.log_format != next.log_format, "log.format");
  note(now.cam_endpoint != next.cam_endpoint, "cam.endpoint");
  note(now.cam_ca_file != next.cam_ca_file, "cam.ca-file");
  note(now.cam_timeout != next.cam_timeout, "cam.timeout");
  note(now.token_recheck_interval != next.token_recheck_interval, "cam.token-recheck-interval");
  note(now.cam_rate_limit != next.cam_rate_limit, "cam.rate-limit");
  note(now.cam_burst != next.cam_burst, "cam.burst");
  note(now.cam_max_accounts != next.cam_max_accounts, "cam.max-accounts");
  note(now.cam_negative_ttl != next.cam_negative_ttl, "cam.negative-ttl");
  note(now.max_client_connections != next.max_client_connections, "limits.max-client-connections");
  note(now.max_logins_in_progress != next.max_logins_in_progress, "limits.max-logins-in-progress");
  note(now.core_dumps != next.core_dumps, "core-dumps");
  note(now.min_sigterm_delay != next.min_sigterm_delay, "sigterm.min-delay");
  note(now.max_sigterm_delay != next.max_sigterm_delay, "sigterm.max-delay");
  return out;
}

const TargetConfig* find_target(const Config& c, const std::string& name) {
  auto it = std::find_if(c.targets.begin(), c.targets.end(), [&](const TargetConfig& t) { return t.name == name; });
  return it == c.targets.end() ? nullptr : &*it;
}

ReloadPlan plan_reload(std::vector<std::unique_ptr<Target>>& running, const Config& next) {
  ReloadPlan plan;
  for (auto& t : running) {
    const TargetConfig* n = find_target(next, t->name());
    if (n == nullptr) {
      plan.removed.push_back(t->name());
      plan.going.push_back(std::move(t));
    } else if (!can_apply_live(t->config(), *n)) {
      plan.replaced.push_back(t->name());
      plan.going.push_back(std::move(t));
    } else {
      plan.kept.push_back(std::move(t));
    }
  }
  running.clear();
  for (const auto& n : next.targets) {
    if (std::any_of(plan.kept.begin(), plan.kept.end(), [&](const auto& t) { return t->name() == n.name; })) continue;
    plan.to_start.push_back(&n);
    if (std::find(plan.replaced.begin(), plan.replaced.end(), n.name) == plan.replaced.end())
      plan.added.push_back(n.name);
  }
  return plan;
}

}  // namespace

// SIGHUP (docs/config.md "Reload"): parse the command line and the file again; a
// configuration that does not parse or validate changes nothing. Otherwise targets whose
// changes can apply live get them, new targets start, removed ones drain like SIGTERM's
// drain, and a target whose listeners, upstream, instance or TLS changed is replaced: the new
// one starts on the same listen sockets (handed over, never closed) and the old one drains.
ReloadOutcome App::reload() {
  auto not_applied = [](int status, std::string_view outcome, std::string_view why) {
    return ReloadOutcome{status, JsonObject().add("outcome", outcome).add("error", why).str()};
  };
  if (phase_ != Phase::serving) {
    log_warn("reload_ignored", {{"reason", "shutting down"}});
    return not_applied(409, "ignored", "shutting down");
  }
  if (config_.config_file.empty()) {
    constexpr std::string_view kWhy = "no --config file: flags and environment are read only at start";
    log_warn("reload_ignored", {{"reason", kWhy}});
    return not_applied(409, "ignored", kWhy);
  }
  auto refuse = [&](int status, std::string_view event, std::string_view error) {
    log_error(event, {{"file", config_.config_file}, {"error", error}, {"kept", "running configuration"}});
    return not_applied(status, event.substr(event.find('_') + 1), error);
  };
  std::vector<const char*> argv;
  for (const auto& a : args_) argv.push_back(a.c_str());
  ParseResult parsed = parse_command_line(static_cast<int>(argv.size()), argv.data(),
                                          [](const char* name) -> const char* { return std::getenv(name); });
  if (parsed.outcome != ParseOutcome::run) return refuse(422, "reload_rejected", parsed.message);
  const Config next = std::move(parsed.config);
  log_trusted_file_warnings(next);
  std::string error;
  const bool credentials_changed = !same_credential_settings(applied_, next);
  if (credentials_changed && !make_provider(next, error)) return refuse(422, "reload_rejected", error);

  ReloadPlan plan = plan_reload(targets_, next);
  std::vector<ListenSocket> handed_over;
  for (auto& t : plan.going) t->hand_over_sockets(handed_over);
  const Config previous = std::exchange(applied_, next);  // new targets use the new credential settings
  for (const TargetConfig* n : plan.to_start) {
    if (start_target(*n, handed_over, error)) continue;
    applied_ = previous;
    undo_reload(plan, handed_over);
    return refuse(500, "reload_failed", error);
  }
  for (auto& s : handed_over) close_listen_socket(s);  // listeners of removed targets
  for (const auto& t : next.targets) {                 // started ones warned in start_target
    if (std::find(plan.to_start.begin(), plan.to_start.end(), &t) == plan.to_start.end())
      warn_if_upstream_unverified(t);
  }
  for (auto& t : plan.going) retire(std::move(t), "reload");
  const std::vector<std::string> updated = keep_targets(plan, next, credentials_changed);
  const std::string added = join_names(plan.added), removed = join_names(plan.removed),
                    replaced = join_names(plan.replaced), changed = join_names(updated),
                    restart = needs_restart(config_, next);
  const char* credentials = credentials_changed ? "new provider" : "unchanged";
  log_info("reload_applied", {{"file", config_.config_file},
                              {"added", added},
                              {"removed", removed},
                              {"replaced", replaced},
                              {"updated", changed},
                              {"credentials", credentials},
                              {"needs_restart", restart}});
  return {200, JsonObject()
                   .add("outcome", "applied")
                   .add("added", added)
                   .add("removed", removed)
                   .add("replaced", replaced)
                   .add("updated", changed)
                   .add("credentials", credentials)
                   .add("needs_restart", restart)
                   .str()};
}

// The targets a reload keeps get the new settings that apply live; then the running targets are
// put in the file's order (it is the order of /readyz's checks and of the logs). Returns the
// names of those whose settings changed.
std::vector<std::string> App::keep_targets(ReloadPlan& plan, const Config& next, bool credentials_changed) {
  std::vector<std::string> updated;
  std::string error;
  for (auto& t : plan.kept) {
    const TargetConfig& n = *find_target(next, t->name());
    if (credentials_changed) t->replace_credentials(make_provider(next, error));
    if (!(t->config() == n)) {
      updated.push_back(t->name());
      t->apply(n);
    }
    t->reload_local_users();  // the users file may have changed under the same path
  }
  std::vector<std::unique_ptr<Target>> ordered;
  for (const auto& n : next.targets) {
    for (auto* list : {&plan.kept, &targets_}) {
      for (auto& t : *list)
        if (t && t->name() == n.name) ordered.push_back(std::move(t));
    }
  }
  targets_ = std::move(ordered);
  return updated;
}

// A target of the reload could not start: the ones started for it go, the old ones take their
// sockets back and stay.
void App::undo_reload(ReloadPlan& plan, std::vector<ListenSocket>& handed_over) {
  for (auto& t : targets_) {
    t->hand_over_sockets(handed_over);
    t->stop();
    retired_.push_back(std::move(t));
  }
  targets_ = std::move(plan.kept);
  for (auto& t : plan.going) {
    t->take_sockets(handed_over);
    targets_.push_back(std::move(t));
  }
  for (auto& s : handed_over) close_listen_socket(s);
}

}  // namespace camproxy::proxy
