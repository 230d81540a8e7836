"""The --config file in a running process: two targets serving two CAM accounts, account maps
and pass-through, --check-config, and SIGHUP (a target added, a pool resized, a target removed
while a session on it is inside a transaction, a target replaced without refusing a connection,
a broken file that changes nothing)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pymysql
import pytest

import conftest
from camproxy_process import CamProxy, proxy_binary
from testutil import free_port, wait_until


class ConfigProxies:
    """Starts camproxy with a config file (no per-target flags) and stops it at teardown."""

    def __init__(self, mariadb, cam, tmp_path: Path):
        self.mariadb, self.cam, self.tmp_path = mariadb, cam, tmp_path
        self.started: list[CamProxy] = []

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "CAMPROXY_"))}
        env["TENCENTCLOUD_SECRET_ID"] = self.cam.credential.secret_id
        env["TENCENTCLOUD_SECRET_KEY"] = self.cam.credential.secret_key
        return env

    def target(self, name: str, port: int, extra: str = "") -> str:
        """One entry of `targets:` for the session's MariaDB and emulator."""
        return (f"  - name: {name}\n"
                f"    listen: 127.0.0.1:{port}\n"
                f"    upstream: 127.0.0.1:{self.mariadb.port}\n"
                f"    region: {self.cam.region}\n"
                f"    instance-id: {self.cam.instance_id}\n" + extra +
                # The default upstream-tls mode (verify-identity) trusts the test MariaDB's CA.
                ("" if "upstream-tls:" in extra else f"    upstream-tls:\n      ca-file: {self.mariadb.ca_file}\n"))

    def document(self, *targets: str, workers: int = 1) -> str:
        return f"cam:\n  endpoint: {self.cam.endpoint}\nworkers: {workers}\ntargets:\n" + "".join(targets)

    def write(self, text: str) -> Path:
        path = self.tmp_path / "camproxy.yaml"
        path.write_text(text)
        return path

    def start(self, text: str, wait_ready: bool = True) -> CamProxy:
        path = self.write(text)
        admin = free_port()
        log = self.tmp_path / f"camproxy-config-{len(self.started) + 1}.log"
        conftest.kProxyLogs.append(str(log))
        proxy = CamProxy.launch(["--config", str(path), "--admin", f"127.0.0.1:{admin}"], self.env(), log, admin,
                                wait_ready=False)
        self.started.append(proxy)
        if wait_ready:
            proxy.wait_ready()
        return proxy

    def reload(self, proxy: CamProxy, text: str, expect: str) -> None:
        """Rewrites the file, sends SIGHUP and waits for the log line `expect` (reload_applied
        or reload_rejected) to appear once more than before."""
        before = proxy.log_text().count(expect)
        self.write(text)
        os.kill(proxy.pid, signal.SIGHUP)
        wait_until(lambda: proxy.log_text().count(expect) > before, 15, f"{expect} after SIGHUP")

    def stop_all(self) -> None:
        problems = [p for p in (proxy.stop_and_check() for proxy in self.started) if p]
        assert not problems, "\n".join(problems)


@pytest.fixture
def proxies(mariadb, cam, tmp_path):
    factory = ConfigProxies(mariadb, cam, tmp_path)
    yield factory
    factory.stop_all()


def connect(port: int, user: str = "app", **kw):
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password="any", database="camdb",
                           connect_timeout=10, read_timeout=20, **kw)


def current_user(port: int, user: str = "app") -> str:
    with connect(port, user) as conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        return cur.fetchone()[0]


def refused(port: int) -> bool:
    try:
        connect(port).close()
        return False
    except pymysql.err.OperationalError:
        return True


def last_log_line(proxy: CamProxy, event: str) -> str:
    lines = [l for l in proxy.log_text().splitlines() if f'"{event}"' in l]
    assert lines, f"no {event} in the log:\n{proxy.log_tail()}"
    return lines[-1]


def test_two_targets_serve_two_accounts(proxies):
    a, b = free_port(), free_port()
    proxy = proxies.start(proxies.document(
        proxies.target("plain", a, "    account: camtest\n"),
        proxies.target("tls", b, "    account: camtls\n    upstream-tls:\n      mode: required\n")))
    assert current_user(a) == "camtest@%"
    assert current_user(b) == "camtls@%"
    _, body = proxy.admin_get("/metrics")
    text = body.decode()
    assert 'camproxy_token_age_seconds{target="plain",account="camtest"}' in text
    assert 'camproxy_token_age_seconds{target="tls",account="camtls"}' in text
    # Connection ids stay unique across the targets of one process.
    ids = set()
    for port in (a, b, a, b):
        with connect(port) as conn:
            ids.add(conn.thread_id())
    assert len(ids) == 4


def test_account_map_and_pass_through(proxies):
    mapped, passthrough = free_port(), free_port()
    proxies.start(proxies.document(
        proxies.target("mapped", mapped,
                       "    accounts:\n      app: camtest\n      tlsapp: camtls\n"
                       "    upstream-tls:\n      mode: required\n"),
        proxies.target("passthrough", passthrough, "    account: '*'\n")))
    assert current_user(mapped, "app") == "camtest@%"
    assert current_user(mapped, "tlsapp") == "camtls@%"
    with pytest.raises(pymysql.err.OperationalError) as refused_user:
        connect(mapped, "stranger")
    assert refused_user.value.args[0] == 1045
    assert "user 'stranger' is not in the account map" in refused_user.value.args[1]
    assert current_user(passthrough, "camtest") == "camtest@%"


def test_check_config_on_a_good_and_a_bad_file(proxies, tmp_path):
    good = proxies.write(proxies.document(proxies.target("orders", 13306, "    accounts:\n      app: camtest\n")))
    out = subprocess.run([proxy_binary(), "--check-config", str(good)], capture_output=True, text=True, timeout=10,
                         env=proxies.env())
    assert out.returncode == 0, out.stderr
    assert f"configuration OK: {good}" in out.stdout
    assert "target orders:\n  listen: 127.0.0.1:13306\n" in out.stdout
    assert "accounts: app -> camtest (other users refused)" in out.stdout
    assert proxies.cam.credential.secret_key not in out.stdout + out.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n  - name: orders\n    pool:\n      max: ten\n    regoin: x\n")
    out = subprocess.run([proxy_binary(), "--check-config", str(bad)], capture_output=True, text=True, timeout=10,
                         env=proxies.env())
    assert out.returncode == 2
    assert f"camproxy: {bad}: targets[0].pool.max: expected a number from 1 to 100000, got 'ten' (line 4)" in out.stderr
    assert f"camproxy: {bad}: targets[0].regoin: unknown key (see docs/config.md) (line 5)" in out.stderr
    assert out.stdout == ""


def idle_connections(proxy: CamProxy) -> float:
    _, body = proxy.admin_get("/metrics")
    line = [l for l in body.decode().splitlines() if l.startswith("camproxy_upstream_connections_idle ")]
    return float(line[0].split()[1])


def test_sighup_adds_a_target_and_changes_the_pool_size(proxies):
    a, b = free_port(), free_port()
    pool = "    account: camtest\n    pool:\n      min-idle: {}\n"
    proxy = proxies.start(proxies.document(proxies.target("a", a, pool.format(1))))  # b: pool.min-idle 0
    wait_until(lambda: idle_connections(proxy) == 1, 15, "one warm connection")
    assert refused(b)
    proxies.reload(proxy, proxies.document(proxies.target("a", a, pool.format(3)),
                                           proxies.target("b", b, "    account: camtls\n    pool:\n      min-idle: 0\n"
                                                                  "    upstream-tls:\n      mode: required\n")),
                   "reload_applied")
    line = last_log_line(proxy, "reload_applied")
    assert '"added":"b"' in line and '"updated":"a"' in line and '"needs_restart":""' in line, line
    wait_until(lambda: idle_connections(proxy) == 3, 15, "the warm connections of the new pool.min-idle")
    assert current_user(b) == "camtls@%"
    assert current_user(a) == "camtest@%"
    wait_until(lambda: proxy.admin_get("/readyz")[0] == 200, 15, "ready with both targets")


def test_sighup_removing_a_target_drains_its_open_session(proxies):
    a, b = free_port(), free_port()
    both = proxies.document(proxies.target("a", a, "    account: camtest\n"),
                            proxies.target("b", b, "    account: camtest\n"))
    proxy = proxies.start(both)
    conn = connect(b)
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS cfg_drain (id INT PRIMARY KEY)")
    cur.execute("DELETE FROM cfg_drain")
    conn.commit()
    cur.execute("BEGIN")
    cur.execute("INSERT INTO cfg_drain VALUES (1)")
    proxies.reload(proxy, proxies.document(proxies.target("a", a, "    account: camtest\n")), "reload_applied")
    assert '"removed":"b"' in last_log_line(proxy, "reload_applied")
    wait_until(lambda: refused(b), 10, "new connections to the removed target refused")
    # The session inside its transaction finishes it...
    cur.execute("INSERT INTO cfg_drain VALUES (2)")
    conn.commit()
    # ...and is closed right after.
    with pytest.raises((pymysql.err.OperationalError, pymysql.err.InterfaceError)):
        cur.execute("SELECT 1")
        cur.fetchall()
    conn.close()
    with connect(a) as other, other.cursor() as c:
        c.execute("SELECT id FROM cfg_drain ORDER BY id")
        assert c.fetchall() == ((1,), (2,))
    wait_until(lambda: '"target_stopped"' in proxy.log_text(), 10, "the removed target stopped")


# With 2 workers the listener is a group of two SO_REUSEPORT sockets: both are handed over.
@pytest.mark.parametrize("workers", [1, 2])
def test_replacing_a_target_hands_its_listen_socket_over(proxies, workers):
    a = free_port()
    no_tls = "    account: camtest\n    upstream-tls:\n      mode: disable\n"
    proxy = proxies.start(proxies.document(proxies.target("a", a, no_tls), workers=workers))
    refusals: list[str] = []
    logins = 0
    stop = threading.Event()

    def hammer():
        nonlocal logins
        while not stop.is_set():
            try:
                conn = connect(a, autocommit=None)  # no SET autocommit: the login only
            except pymysql.err.MySQLError as exc:  # refused, or failed during the login
                refusals.append(repr(exc))
                continue
            logins += 1
            # An idle session of the old target may be closed by its drain (as on SIGTERM):
            # applications reconnect; what must not happen is a refused connection.
            try:
                conn.close()
            except pymysql.err.MySQLError:
                pass

    with connect(a) as conn, conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        assert cur.fetchone()[1] == ""
    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        # Another upstream TLS mode cannot change live: the target is replaced.
        proxies.reload(proxy, proxies.document(proxies.target("a", a, "    account: camtest\n"
                                                                      "    upstream-tls:\n      mode: required\n"),
                                               workers=workers),
                       "reload_applied")
        wait_until(lambda: '"target_stopped"' in proxy.log_text(), 15, "the replaced target stopped")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert '"replaced":"a"' in last_log_line(proxy, "reload_applied")
    assert refusals == [] and logins > 0
    with connect(a) as conn, conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")  # camproxy's side of the database
        assert cur.fetchone()[1] != ""


def test_broken_file_on_sighup_keeps_the_old_config_and_its_sessions(proxies):
    a = free_port()
    good = proxies.document(proxies.target("a", a, "    account: camtest\n"))
    proxy = proxies.start(good)
    conn = connect(a)
    cur = conn.cursor()
    cur.execute("SELECT 1")
    proxies.reload(proxy, good + "    pool:\n      max: ten\n", "reload_rejected")
    line = last_log_line(proxy, "reload_rejected")
    assert "targets[0].pool.max: expected a number from 1 to 100000, got 'ten'" in line, line
    proxies.reload(proxy, "targets: [\n", "reload_rejected")
    assert "not valid YAML or JSON" in last_log_line(proxy, "reload_rejected")
    cur.execute("SELECT 2")
    assert cur.fetchone() == (2,)
    conn.close()
    assert current_user(a) == "camtest@%"
    assert proxy.admin_get("/readyz")[0] == 200
    assert "reload_applied" not in proxy.log_text()


def test_sighup_changes_the_account_for_new_logins_only(proxies):
    a = free_port()
    proxy = proxies.start(proxies.document(proxies.target("a", a, "    account: camtest\n")))
    old = connect(a)
    proxies.reload(proxy, proxies.document(proxies.target("a", a, "    accounts:\n      app: camtls\n")),
                   "reload_applied")
    assert '"updated":"a"' in last_log_line(proxy, "reload_applied")
    assert current_user(a, "app") == "camtls@%"
    with pytest.raises(pymysql.err.OperationalError) as not_mapped:
        connect(a, "camtest")
    assert not_mapped.value.args[0] == 1045
    with old.cursor() as cur:  # the session logged in before keeps its account
        cur.execute("SELECT CURRENT_USER()")
        assert cur.fetchone()[0] == "camtest@%"
    old.close()


def test_a_reload_that_cannot_start_a_target_is_undone(proxies):
    a, busy = free_port(), free_port()
    no_tls = "    account: camtest\n    upstream-tls:\n      mode: disable\n"
    proxy = proxies.start(proxies.document(proxies.target("a", a, no_tls)))
    with socket.socket() as occupier:
        occupier.bind(("127.0.0.1", busy))
        occupier.listen()
        # "a" would be replaced (another TLS mode) and "b" cannot listen: neither happens.
        proxies.reload(proxy, proxies.document(
            proxies.target("a", a, "    account: camtest\n    upstream-tls:\n      mode: required\n"),
            proxies.target("b", busy, "    account: camtest\n")), "reload_failed")
    line = last_log_line(proxy, "reload_failed")
    assert "target b: " in line and f"127.0.0.1:{busy}" in line, line
    assert "reload_applied" not in proxy.log_text()
    with connect(a) as conn, conn.cursor() as cur:  # the old "a", on its own socket
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        assert cur.fetchone()[1] == ""
    assert proxy.admin_get("/readyz")[0] == 200


def test_sighup_without_a_config_file_changes_nothing(camproxy):
    proxy = camproxy()
    os.kill(proxy.pid, signal.SIGHUP)
    wait_until(lambda: '"reload_ignored"' in proxy.log_text(), 10, "reload_ignored after SIGHUP")
    assert "no --config file" in last_log_line(proxy, "reload_ignored")
    assert current_user(proxy.port, "camtest") == "camtest@%"


def test_sighup_with_new_credential_settings_gives_the_targets_a_new_provider(proxies, tmp_path):
    a = free_port()
    secret_id = proxies.cam.credential.secret_id
    wrong, right = tmp_path / "wrong-credentials", tmp_path / "right-credentials"
    wrong.write_text(f"[default]\nsecret_id = {secret_id}\nsecret_key = wrong-secret-key\n")
    right.write_text(f"[default]\nsecret_id = {secret_id}\nsecret_key = {proxies.cam.credential.secret_key}\n")
    target = proxies.target("a", a, "    account: camtest\n")
    credentials = "credentials:\n  source: profile\n  file: {}\n"
    proxy = proxies.start(credentials.format(wrong) + proxies.document(target), wait_ready=False)
    proxy.wait_healthy()
    wait_until(lambda: b"AuthFailure" in proxy.admin_get("/readyz")[1], 15, "CAM refusing the wrong key")
    proxies.reload(proxy, credentials.format(right) + proxies.document(target), "reload_applied")
    assert '"credentials":"new provider"' in last_log_line(proxy, "reload_applied")
    wait_until(lambda: proxy.admin_get("/readyz")[0] == 200, 20, "a token with the new credential")
    assert current_user(a) == "camtest@%"
