// Which reloaded target settings apply live and which replace the target (docs/config.md).
#include "proxy/target.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

namespace camproxy::proxy {
namespace {

TargetConfig base() {
  TargetConfig t;
  t.name = "orders";
  ListenAddress tcp;
  tcp.tcp = HostPort{"127.0.0.1", 3306};
  t.listen.push_back(tcp);
  t.upstream = HostPort{"10.0.0.5", 3306};
  t.region = "ap-guangzhou";
  t.instance_id = "cdb-1";
  return t;
}

TEST(Target, PoolTimeoutsAndAccountsApplyLive) {
  const std::vector<std::function<void(TargetConfig&)>> live = {
      [](TargetConfig& t) { t.pool_max = 5; },
      [](TargetConfig& t) { t.pool_min_idle = 0; },
      [](TargetConfig& t) { t.pool_idle_timeout = std::chrono::seconds(1); },
      [](TargetConfig& t) { t.pool_max_lifetime = std::chrono::seconds(1); },
      [](TargetConfig& t) { t.connect_timeout = std::chrono::seconds(1); },
      [](TargetConfig& t) { t.handshake_timeout = std::chrono::seconds(1); },
      [](TargetConfig& t) { t.reconnect_window = std::chrono::seconds(1); },
      [](TargetConfig& t) { t.db_user = "other"; },
      [](TargetConfig& t) {
        t.accounts = {{"app", "x"}};
      },
      [](TargetConfig& t) { t.local_auth.users_file = "/etc/camproxy/users"; },  // re-read on SIGHUP
  };
  for (size_t i = 0; i < live.size(); ++i) {
    TargetConfig next = base();
    live[i](next);
    EXPECT_FALSE(next == base()) << i;
    EXPECT_TRUE(can_apply_live(base(), next)) << i;
  }
}

TEST(Target, ListenersUpstreamInstanceAndTlsReplaceTheTarget) {
  const std::vector<std::function<void(TargetConfig&)>> replacing = {
      [](TargetConfig& t) {
        ListenAddress unix_socket;
        unix_socket.is_unix = true;
        unix_socket.path = "/tmp/x.sock";
        t.listen.push_back(unix_socket);
      },
      [](TargetConfig& t) { t.listen[0].allowed_peer_uids = {1000}; },
      [](TargetConfig& t) { t.listen[0].tcp.port = 3307; },
      [](TargetConfig& t) { t.upstream.host = "10.0.0.6"; },
      [](TargetConfig& t) { t.region = "ap-shanghai"; },
      [](TargetConfig& t) { t.instance_id = "cdb-2"; },
      [](TargetConfig& t) { t.fallback_password_file = "/etc/pw"; },
      [](TargetConfig& t) { t.upstream_tls = UpstreamTlsMode::insecure_required; },
      [](TargetConfig& t) { t.upstream_ca_file = "/ca.pem"; },
      [](TargetConfig& t) { t.upstream_server_name = "db.example"; },
      [](TargetConfig& t) { t.client_tls = false; },
      [](TargetConfig& t) { t.client_tls_cert = "/c.pem"; },
      [](TargetConfig& t) { t.client_tls_key = "/k.pem"; },
  };
  for (size_t i = 0; i < replacing.size(); ++i) {
    TargetConfig next = base();
    replacing[i](next);
    EXPECT_FALSE(can_apply_live(base(), next)) << i;
  }
  EXPECT_TRUE(can_apply_live(base(), base()));
}

}  // namespace
}  // namespace camproxy::proxy
