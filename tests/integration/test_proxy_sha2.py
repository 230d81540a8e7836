"""camproxy logging in to a caching_sha2_password server (what TencentDB for MySQL 8.0 uses):
fast auth, full auth over verified TLS, and full auth on plain TCP with the server's RSA key
given by the operator (--upstream-rsa-key-file; never the key the server sends); and a CAM
rotation, which evicts the server's cache and forces full authentication again.

The upstream is tests/tools/sha2_server.py (proven against PyMySQL and mysql2 in
test_sha2_upstream.py); a CAM emulator of this module owns the account's password there."""

from __future__ import annotations

import os

import pymysql
import pytest

from cam_client import EmulatorProcess
from camproxy_process import CamProxy
from sha2_server import Sha2Server, write_throwaway_pki
from testutil import free_port

kInstance = "cdb-sha2test"
kRegion = "ap-guangzhou"
kAccount = "camsha2"
kAdmin, kAdminPassword = "root", "sha2-admin-pw"
kSecretId, kSecretKey = "AKID-camproxy-sha2-module-0001", "camproxySha2ModuleSecretKey000001"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return write_throwaway_pki(tmp_path_factory.mktemp("sha2-pki"))


@pytest.fixture(scope="module")
def upstream(pki):
    server = Sha2Server({kAccount: "initial-unknown-password", kAdmin: kAdminPassword}, admins=[kAdmin],
                        tls_cert=str(pki.cert), tls_key=str(pki.key)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plain_with_key(upstream, tmp_path_factory):
    """Plain TCP with the server's public key as the operator gives it."""
    path = tmp_path_factory.mktemp("sha2-key") / "server-public.pem"
    path.write_bytes(upstream.public_key_pem)
    return ("--upstream-tls", "disable", "--upstream-rsa-key-file", str(path))


@pytest.fixture(scope="module")
def emulator(upstream, tmp_path_factory):
    log = tmp_path_factory.mktemp("sha2-cam") / "cam_emulator.log"
    args = ["--credential", f"{kSecretId}:{kSecretKey}", "--account", f"{kInstance}:{kRegion}:{kAccount}",
            "--mysql-host", "127.0.0.1", "--mysql-port", str(upstream.port),
            "--mysql-user", kAdmin, "--mysql-password", kAdminPassword, "--rotation-seconds", "3600"]
    with EmulatorProcess(args, log) as process:
        yield process


@pytest.fixture
def start_proxy(upstream, emulator, tmp_path, pki):
    proxies = []

    def start(*extra):
        admin = free_port()
        args = ["--upstream", f"127.0.0.1:{upstream.port}", "--region", kRegion, "--instance-id", kInstance,
                "--listen", f"127.0.0.1:{free_port()}", "--db-user", kAccount,
                "--cam-endpoint", emulator.endpoint, "--admin", f"127.0.0.1:{admin}", *extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
        env.update(TENCENTCLOUD_SECRET_ID=kSecretId, TENCENTCLOUD_SECRET_KEY=kSecretKey)
        proxy = CamProxy.launch(args, env, tmp_path / f"camproxy-{len(proxies)}.log", admin,
                                listen_port=int(args[args.index("--listen") + 1].rsplit(":", 1)[1]))
        proxies.append(proxy)
        return proxy

    yield start
    problems = [p for p in (proxy.stop_and_check() for proxy in proxies) if p]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def connect(proxy):
    return pymysql.connect(host="127.0.0.1", port=proxy.port, user=kAccount, password="whatever",
                           connect_timeout=10, read_timeout=10)


def select_through(proxy) -> str:
    with connect(proxy) as conn, conn.cursor() as cur:
        cur.execute("SELECT 'Success!'")
        return cur.fetchone()[0]


def delta(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in ("fast_auth", "full_auth_tls", "full_auth_rsa", "failures")}


# --pool-min-idle 0: no warm-up, so each test's first client makes camproxy log in.
kNoWarmUp = ("--pool-min-idle", "0")


def test_rsa_full_auth_then_fast_auth_on_plain_tcp(upstream, start_proxy, plain_with_key):
    upstream.flush_cache()
    before = upstream.counters()
    assert select_through(start_proxy(*plain_with_key, *kNoWarmUp)) == "Success!"
    first = upstream.counters()
    assert delta(before, first) == {"fast_auth": 0, "full_auth_tls": 0, "full_auth_rsa": 1, "failures": 0}
    assert first["key_requests"] == before["key_requests"], "the server's own key was asked for"
    assert upstream.last_login["tls"] is False
    # A second camproxy (the first one's connection is pooled) logs in on the warm server cache.
    assert select_through(start_proxy(*plain_with_key, *kNoWarmUp)) == "Success!"
    assert delta(first, upstream.counters()) == {"fast_auth": 1, "full_auth_tls": 0, "full_auth_rsa": 0,
                                                 "failures": 0}


def test_full_auth_on_plain_tcp_without_the_operators_key_is_refused(upstream, start_proxy):
    upstream.flush_cache()
    proxy = start_proxy("--upstream-tls", "disable", *kNoWarmUp)
    assert "upstream_tls_unverified" in proxy.log_text()
    before = upstream.counters()
    with pytest.raises(pymysql.err.MySQLError) as info:
        connect(proxy).close()
    code, message = info.value.args[0], info.value.args[1]
    assert code == 9007, message
    assert "--upstream-rsa-key-file" in message and "--upstream-tls verify-identity" in message
    after = upstream.counters()
    assert after["key_requests"] == before["key_requests"] and after["full_auth_rsa"] == before["full_auth_rsa"]


def test_full_auth_over_tls_sends_the_token_inside_tls(upstream, start_proxy, pki):
    upstream.flush_cache()
    proxy = start_proxy("--upstream-tls", "verify-ca", "--upstream-ca-file", str(pki.ca), *kNoWarmUp)
    before = upstream.counters()
    assert select_through(proxy) == "Success!"
    assert delta(before, upstream.counters()) == {"fast_auth": 0, "full_auth_tls": 1, "full_auth_rsa": 0,
                                                  "failures": 0}
    assert upstream.last_login["tls"] is True
    # camproxy asked only for what it may: never QUERY_ATTRIBUTES or compression.
    flags = upstream.last_login["client_flags"]
    assert flags & (1 << 27) == 0 and flags & (1 << 5) == 0


def test_rotation_evicts_the_cache_and_the_proxy_recovers_with_one_retry(upstream, emulator, start_proxy,
                                                                         plain_with_key):
    proxy = start_proxy(*plain_with_key, *kNoWarmUp)
    with connect(proxy):  # holds the only pooled connection: the next client needs a new login
        calls = emulator.control.stats()["calls_total"]
        emulator.control.rotate(kAccount)  # "Refresh Password": the cached token is now wrong
        before = upstream.counters()
        assert select_through(proxy) == "Success!"  # 1045, one refetch, retry: invisible to the client
        after = upstream.counters()
    assert after["failures"] - before["failures"] == 1
    assert after["full_auth_rsa"] - before["full_auth_rsa"] == 1
    assert emulator.control.stats()["calls_total"] == calls + 1
