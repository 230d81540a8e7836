#include "proxy/config/config_file.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "proxy/config/config_options.h"
#include "proxy/config/local_users.h"

namespace camproxy::proxy {
namespace {

constexpr size_t kMaxFileBytes = 1 << 20;  // a config file, not a data set
constexpr size_t kMaxTargets = 256;
constexpr size_t kMaxNameLength = 64;

int line_of(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.is_null() ? 0 : m.line + 1;
}

std::string kind_of(const YAML::Node& n) {
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "nothing";
  return "'" + n.Scalar() + "'";
}

// Target names appear in logs and metric labels.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                    ch == '_' || ch == '.';
    if (!ok) return false;
  }
  return true;
}

// True when some option's key lies under `prefix` ("pool" for "pool.max").
bool is_group(OptionScope scope, const std::string& prefix) {
  for (const auto& o : option_table())
    if (o.scope == scope && o.file_key.starts_with(prefix + ".")) return true;
  return false;
}

class Reader {
 public:
  ConfigFile out;

  void read(const YAML::Node& root) {
    if (!root.IsMap()) {
      error("", root, "expected a map of settings with a 'targets' list, got " + kind_of(root));
      return;
    }
    TargetConfig unused;  // process-wide options never touch it
    bool have_targets = false;
    walk(root, OptionScope::process, "", "", unused, [&](const std::string& key, const YAML::Node& v) {
      if (key != "targets") return false;
      have_targets = true;
      read_targets(v);
      return true;
    });
    if (!have_targets) error("targets", root, "required: a list with at least one target");
  }

  void error(const std::string& path, const YAML::Node& at, const std::string& what) {
    std::string e = path.empty() ? what : path + ": " + what;
    if (int line = line_of(at); line > 0) e += " (line " + std::to_string(line) + ")";
    out.errors.push_back(std::move(e));
  }

 private:
  using Special = std::function<bool(const std::string& key, const YAML::Node& value)>;

  void read_targets(const YAML::Node& list) {
    if (!list.IsSequence() || list.size() == 0) {
      error("targets", list, "expected a list with at least one target, got " + kind_of(list));
      return;
    }
    if (list.size() > kMaxTargets) {
      error("targets", list, "at most " + std::to_string(kMaxTargets) + " targets");
      return;
    }
    for (size_t i = 0; i < list.size(); ++i) read_target(list[i], i, list.size());
  }

  void read_target(const YAML::Node& node, size_t index, size_t count) {
    const std::string path = "targets[" + std::to_string(index) + "]";
    out.config.targets.emplace_back();
    out.target_lines.push_back(line_of(node));
    TargetConfig& t = out.config.targets.back();
    if (!node.IsMap()) {
      error(path, node, "expected a map of target settings, got " + kind_of(node));
      return;
    }
    bool named = false;
    walk(node, OptionScope::target, "", path + ".", t, [&](const std::string& key, const YAML::Node& v) {
      if (key == "name") {
        named = true;
        if (!v.IsScalar() || !valid_name(v.Scalar()))
          error(path + ".name", v,
                "expected a name of letters, digits, '-', '_' or '.' (at most 64), got " + kind_of(v));
        else
          t.name = v.Scalar();
        return true;
      }
      if (key == "accounts") {
        read_accounts(v, path + ".accounts", t);
        return true;
      }
      if (key == "listen") {
        read_listen(v, path + ".listen", t);
        return true;
      }
      if (key == "pool" && v.IsMap()) {
        walk(v, OptionScope::target, "pool.", path + ".pool.", t, [&](const std::string& k, const YAML::Node& u) {
          if (k != "max-by-account") return false;
          read_account_limits(u, path + ".pool.max-by-account", t);
          return true;
        });
        return true;
      }
      if (key == "local-auth" && v.IsMap()) {
        walk(v, OptionScope::target, "local-auth.", path + ".local-auth.", t,
             [&](const std::string& k, const YAML::Node& u) {
               if (k != "users") return false;
               read_local_users(u, path + ".local-auth.users", t);
               return true;
             });
        return true;
      }
      return false;
    });
    if (!named && count > 1) error(path + ".name", node, "required when there are several targets");
  }

  // `listen`: one entry or a list; an entry is an address, or a map with `address` and the
  // settings of that listener alone (OptionScope::listener).
  void read_listen(const YAML::Node& v, const std::string& path, TargetConfig& t) {
    if (!v.IsSequence()) {
      read_listener(v, path, t);
      return;
    }
    if (v.size() == 0) error(path, v, "expected at least one value");
    for (size_t i = 0; i < v.size(); ++i) read_listener(v[i], path + "[" + std::to_string(i) + "]", t);
  }

  void read_listener(const YAML::Node& entry, const std::string& path, TargetConfig& t) {
    const OptionSpec& listen = *find_option_by_file_key(OptionScope::target, "listen");
    if (!entry.IsMap()) {
      apply_one(listen, path, entry, t);
      return;
    }
    const YAML::Node address = entry["address"];
    if (!address) {
      error(path + ".address", entry, "required in a listen entry written as a map");
      return;
    }
    TargetConfig one;  // the listener alone, so that its settings apply to it only
    apply_one(listen, path + ".address", address, one);
    if (one.listen.empty()) return;
    walk(entry, OptionScope::listener, "", path + ".", one,
         [](const std::string& key, const YAML::Node&) { return key == "address"; });
    t.listen.push_back(std::move(one.listen.front()));
  }

  void read_accounts(const YAML::Node& map, const std::string& path, TargetConfig& t) {
    if (!map.IsMap() || map.size() == 0) {
      error(path, map, "expected a map of client user name to CAM account, got " + kind_of(map));
      return;
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      const std::string user = k.IsScalar() ? k.Scalar() : "";
      if (user.empty()) {
        error(path, k, "expected a client user name as the key");
        continue;
      }
      const std::string at = path + "." + user;
      if (!v.IsScalar() || v.Scalar().empty()) {
        error(at, v, "expected a CAM account name, got " + kind_of(v));
        continue;
      }
      if (!t.accounts.emplace(user, v.Scalar()).second) error(at, k, "given twice");
    }
  }

  // pool.max-by-account: CAM account (or "*") -> a number within pool.max's range.
  void read_account_limits(const YAML::Node& map, const std::string& path, TargetConfig& t) {
    if (!map.IsMap() || map.size() == 0) {
      error(path, map, "expected a map of CAM account (or '*') to a number of connections, got " + kind_of(map));
      return;
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
      const std::string account = it->first.IsScalar() ? it->first.Scalar() : "";
      if (account.empty()) {
        error(path, it->first, "expected a CAM account name (or '*') as the key");
        continue;
      }
      const std::string at = path + "." + account;
      const YAML::Node v = it->second;
      int n = 0;
      const std::string text = v.IsScalar() ? v.Scalar() : "";
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || n < 1 || n > 100000) {
        error(at, v, "expected a number from 1 to 100000, got " + (v.IsScalar() ? "'" + text + "'" : kind_of(v)));
        continue;
      }
      if (!t.pool_max_by_account.emplace(account, n).second) error(at, it->first, "given twice");
    }
  }

  // Local authentication's users (local_users.h): name -> the hashes `camproxy hash-password`
  // prints. Only hashes: a plain password belongs in the users file, which others cannot read.
  void read_local_users(const YAML::Node& map, const std::string& path, TargetConfig& t) {
    if (!map.IsMap() || map.size() == 0) {
      error(path, map, "expected a map of user name to password hashes, got " + kind_of(map));
      return;
    }
    LocalUsers check;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const std::string user = it->first.IsScalar() ? it->first.Scalar() : "";
      const YAML::Node v = it->second;
      const std::string at = path + "." + user;
      if (!v.IsScalar() || v.Scalar().starts_with("plain:")) {
        error(at, v,
              "expected *<40 hex>:<64 hex> from camproxy hash-password (plain passwords only in the users file)");
        continue;
      }
      if (auto e = check.add(user, v.Scalar())) {
        error(at, it->first, *e);
        continue;
      }
      t.local_auth.users.push_back({user, v.Scalar()});
    }
  }

  // The keys of `map`, joined to `key_prefix` with '.', name options of `scope`; `special`
  // takes the keys that are not options (only at the top of a target or of the file).
  void walk(const YAML::Node& map, OptionScope scope, const std::string& key_prefix, const std::string& path_prefix,
            TargetConfig& t, const Special& special) {
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      if (!k.IsScalar()) {
        error(path_prefix.empty() ? "" : path_prefix.substr(0, path_prefix.size() - 1), k, "expected a key name");
        continue;
      }
      const std::string key = k.Scalar();
      const std::string path = path_prefix + key;
      if (!seen.insert(key).second) {
        error(path, k, "given twice");
        continue;
      }
      if (v.IsNull()) {  // "key:" and nothing: its own mark is past the line
        error(path, k, "expected a value, got nothing");
        continue;
      }
      if (special && special(key, v)) continue;
      const std::string full = key_prefix + key;
      if (const OptionSpec* opt = find_option_by_file_key(scope, full)) {
        apply(*opt, path, v, t);
      } else if (is_group(scope, full)) {
        if (v.IsMap())
          walk(v, scope, full + ".", path + ".", t, nullptr);
        else
          error(path, v, "expected a map of " + full + ".* settings, got " + kind_of(v));
      } else {
        error(path, k, "unknown key (see docs/config.md)");
      }
    }
  }

  void apply(const OptionSpec& opt, const std::string& path, const YAML::Node& v, TargetConfig& t) {
    if (!v.IsSequence()) {
      apply_one(opt, path, v, t);
      return;
    }
    if (!opt.repeatable) {
      error(path, v, "expected one value, got a list");
      return;
    }
    if (v.size() == 0) error(path, v, "expected at least one value");
    for (size_t i = 0; i < v.size(); ++i) apply_one(opt, path + "[" + std::to_string(i) + "]", v[i], t);
  }

  void apply_one(const OptionSpec& opt, const std::string& path, const YAML::Node& v, TargetConfig& t) {
    if (!v.IsScalar()) {
      error(path, v, "expected a value, got " + kind_of(v));
      return;
    }
    std::string value = v.Scalar();
    if (opt.value_name == "on|off" && (value == "true" || value == "false")) value = value == "true" ? "on" : "off";
    if (auto e = opt.apply(out.config, t, value)) error(path, v, *e);
  }
};

std::string describe_accounts(const TargetConfig& t) {
  if (t.pass_through()) return "pass-through (the client's user name)";
  if (!t.db_user.empty()) return "every client as '" + t.db_user + "'";
  std::string out;
  for (const auto& [user, account] : t.accounts) out += (out.empty() ? "" : ", ") + user + " -> " + account;
  return out + " (other users refused)";
}

}  // namespace

ConfigFile parse_config_text(std::string_view text) {
  Reader r;
  try {
    r.read(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& e) {
    r.out.errors.push_back("not valid YAML or JSON: " + e.msg +
                           (e.mark.is_null() ? "" : " (line " + std::to_string(e.mark.line + 1) + ")"));
  }
  return std::move(r.out);
}

ConfigFile load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  ConfigFile f;
  if (!in) {
    f.errors.push_back("cannot read the config file");
  } else if (text.str().size() > kMaxFileBytes) {
    f.errors.push_back("larger than " + std::to_string(kMaxFileBytes) + " bytes: not a config file");
  } else {
    f = parse_config_text(text.str());
  }
  f.config.config_file = path;
  return f;
}

std::optional<std::string> check_targets_apart(const std::vector<TargetConfig>& targets,
                                               const std::vector<int>& lines) {
  auto at = [&lines](size_t i) {
    return i < lines.size() ? " (line " + std::to_string(lines[i]) + ")" : std::string();
  };
  for (size_t i = 0; i < targets.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const std::string here = "targets[" + std::to_string(i) + "]";
      const std::string there = "targets[" + std::to_string(j) + "]";
      if (targets[i].name == targets[j].name)
        return here + ".name: '" + targets[i].name + "' is already the name of " + there + at(i);
      for (const auto& a : targets[i].listen)
        for (const auto& b : targets[j].listen)
          if (a.to_string() == b.to_string())
            return here + ".listen: " + a.to_string() + " is already a listener of " + there + at(i);
    }
  }
  return std::nullopt;
}

std::string describe_config(const Config& c) {
  std::string out = "configuration OK" + (c.config_file.empty() ? std::string() : ": " + c.config_file) + "\n";
  out += "process: admin " + (c.admin ? c.admin->to_string() : std::string("off")) + ", workers per target " +
         (c.workers > 0 ? std::to_string(c.workers) : std::string("one per core")) + ", log " +
         (c.log_format == LogFormat::json ? "json" : "text") + ", credentials " + c.credential_source + ", CAM " +
         c.cam_endpoint + ", max client connections " + std::to_string(c.max_client_connections) + "\n";
  for (const auto& t : c.targets) {
    std::string listen;
    for (const auto& a : t.listen) listen += (listen.empty() ? "" : ", ") + a.to_string();
    out += "target " + t.name + ":\n";
    out += "  listen: " + listen + "\n";
    out += "  upstream: " + t.upstream.to_string() + " (instance " + t.instance_id + ", region " + t.region +
           "), TLS " + std::string(to_string(t.upstream_tls)) + "\n";
    out += "  accounts: " + describe_accounts(t) + "\n";
    std::string by_account;
    for (const auto& [account, max] : t.pool_max_by_account)
      by_account += (by_account.empty() ? " (" : ", ") + account + " " + std::to_string(max);
    if (!by_account.empty()) by_account += ")";
    out += "  pool: min idle " + std::to_string(t.pool_min_idle) + ", max " + std::to_string(t.pool_max) + by_account +
           "; client TLS " + (t.client_tls ? "on" : "off") + "\n";
    if (t.local_auth.enabled()) {
      out += "  local auth: " +
             (t.local_auth.users_file.empty() ? std::string() : "users file " + t.local_auth.users_file + ", ") +
             std::to_string(t.local_auth.users.size()) + " users in the config\n";
    }
  }
  return out;
}

}  // namespace camproxy::proxy
