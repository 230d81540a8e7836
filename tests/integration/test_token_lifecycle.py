"""The CAM token lifecycle (issue: token lifecycle and every credential source): calls only
around rotations, single-flight refresh on 1045, CAM outages survived with backoff, the
fallback password file, no retry storm on user errors, and each credential source against
the emulators."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pymysql
import pytest

from cam_client import EmulatorProcess
from camproxy_process import ProxyStartError
from credential_emulators import metadata_child, sts_child
from testutil import free_port, wait_until

kInstance = "cdb-camproxy1"
kRegion = "ap-guangzhou"


def login(port, user="camtest", **kw):
    conn = pymysql.connect(host="127.0.0.1", port=port, user=user, password="any", connect_timeout=15,
                           read_timeout=15, **kw)
    with conn.cursor() as cur:
        cur.execute("SELECT 'Success!'")
        assert cur.fetchone() == ("Success!",)
    return conn


def calls(emulator) -> int:
    return emulator.control.stats()["calls_total"]


@pytest.fixture
def account(mariadb):
    """A fresh CAM-enabled account of its own, so a test's emulator may rotate it freely."""
    name = f"life{os.getpid() % 1000}{int(time.monotonic() * 1000) % 100000}"
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY 'not-known-yet-Aa1'")
        cur.execute(f"GRANT SELECT ON *.* TO '{name}'@'%'")
    yield name
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")


@pytest.fixture
def own_emulator(mariadb, cam, tmp_path, account):
    """A CAM emulator owning `account`, with the rotation period a test asks for."""
    started = []

    def start(rotation_seconds=3600):
        args = ["--credential", f"{cam.credential.secret_id}:{cam.credential.secret_key}",
                "--account", f"{kInstance}:{kRegion}:{account}",
                "--mysql-host", "127.0.0.1", "--mysql-port", str(mariadb.port),
                "--mysql-user", mariadb.admin_user, "--mysql-password", mariadb.admin_password,
                "--rotation-seconds", str(rotation_seconds)]
        started.append(EmulatorProcess(args, tmp_path / f"cam-{len(started)}.log").start())
        return started[-1]

    yield start
    for e in started:
        e.stop()


# -- steady state ----------------------------------------------------------------------------------
def test_steady_state_calls_cam_about_once_per_rotation(camproxy, own_emulator, account):
    emulator = own_emulator(rotation_seconds=60)
    proxy = camproxy(db_user=account, cam_endpoint=emulator.endpoint)
    errors, logins = [], 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # a client now and then, throughout five rotations
        try:
            login(proxy.port, account).close()
            logins += 1
        except pymysql.err.MySQLError as e:
            errors.append(e.args)
        time.sleep(2)
    total = calls(emulator)
    assert errors == []
    assert logins > 100
    # One call at start, then one per rotation (5 in 300 s); a login that lands between a
    # rotation and the refresh may add a 1045-triggered one.
    assert 5 <= total <= 9, total


# -- reactive refresh --------------------------------------------------------------------------------
def test_forced_refresh_between_two_logins_costs_one_call(camproxy, cam):
    proxy = camproxy("--pool-min-idle", "0")
    first = login(proxy.port)  # holds its connection: the next login needs a new one
    before = calls(cam)
    cam.control.rotate("camtest")
    login(proxy.port).close()
    assert calls(cam) == before + 1
    first.close()


def test_200_concurrent_logins_after_a_forced_refresh_make_one_call(camproxy, cam):
    proxy = camproxy("--pool-min-idle", "0", "--pool-max", "600")
    warm = login(proxy.port)
    before = calls(cam)
    cam.control.rotate("camtest")
    conns, errors = [], []
    barrier = threading.Barrier(200)

    def one():
        barrier.wait(30)
        try:
            conns.append(login(proxy.port))
        except pymysql.err.MySQLError as e:
            errors.append(e.args)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(conns) == 200
    assert calls(cam) == before + 1
    for c in conns:
        c.close()
    warm.close()


# -- CAM outages -------------------------------------------------------------------------------------
def test_cam_outage_with_a_valid_token_backs_off_and_recovers(camproxy, cam):
    proxy = camproxy("--token-recheck-interval", "1s")
    wait_until(lambda: calls(cam) >= 2, 10, "the 1 s re-checks to start")
    start = calls(cam)
    t_start = time.monotonic()
    for mode in ("InternalError", "hang", "http500"):  # one outage of ~24 s, three kinds of failure
        cam.control.fail(mode, delay_ms=500 if mode == "hang" else None)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8:
            login(proxy.port).close()  # the token is still valid: logins go on
            time.sleep(0.5)
        cam.control.clear()
    made = calls(cam) - start
    seconds = time.monotonic() - t_start
    # A fixed 1 s re-check would call ~24 times; backoff (1, 2, 4, 8, 16 s with jitter) far fewer.
    assert 2 <= made <= seconds / 2.5, (made, seconds)
    before = calls(cam)
    wait_until(lambda: calls(cam) >= before + 2, 70, "calls to resume at the re-check pace after recovery")
    login(proxy.port).close()


def test_expired_token_with_cam_down_uses_the_fallback_file(camproxy, own_emulator, account, mariadb, tmp_path):
    emulator = own_emulator(rotation_seconds=3)
    fallback = tmp_path / "fallback.pwd"
    fallback.write_text("Fallback-Pw-1234\n")
    fallback.chmod(0o600)
    with_file = camproxy("--pool-min-idle", "0", "--fallback-password-file", str(fallback),
                         db_user=account, cam_endpoint=emulator.endpoint)
    without = camproxy("--pool-min-idle", "0", db_user=account, cam_endpoint=emulator.endpoint)
    emulator.stop()  # CAM unreachable; its rotations stop too
    with mariadb.admin() as admin, admin.cursor() as cur:  # the operator's emergency password
        cur.execute(f"ALTER USER '{account}'@'%' IDENTIFIED BY 'Fallback-Pw-1234'")
    time.sleep(4)  # the tokens (lifetime <= 3 s) have expired: the condition under test
    login(with_file.port, account).close()
    with pytest.raises(pymysql.err.MySQLError) as info:
        login(without.port, account)
    assert info.value.args[0] == 1045 and "no CAM token" in info.value.args[1]
    assert "fallback_password_in_use" in with_file.log_text()


def test_world_readable_fallback_file_is_refused_at_start(camproxy, tmp_path):
    fallback = tmp_path / "fallback.pwd"
    fallback.write_text("pw\n")
    fallback.chmod(0o644)
    with pytest.raises(ProxyStartError) as info:
        camproxy.start("--fallback-password-file", str(fallback), expect_exit=True)
    assert "readable by others" in str(info.value)


# -- user errors: no retry storm, recovery when fixed ---------------------------------------------------
def test_wrong_key_in_a_profile_file_no_storm_then_fixed_file_recovers(camproxy, cam, tmp_path):
    profile = tmp_path / "credentials"
    profile.write_text(f"[default]\nsecret_id = {cam.credential.secret_id}\nsecret_key = wrong-key\n")
    proxy = camproxy("--credential-source", "profile", "--credentials-file", str(profile),
                     env={"TENCENTCLOUD_SECRET_ID": None, "TENCENTCLOUD_SECRET_KEY": None}, wait_ready=False)
    before = calls(cam)
    for _ in range(20):
        with pytest.raises(pymysql.err.MySQLError) as info:
            login(proxy.port)
        assert "AuthFailure.SignatureFailure" in info.value.args[1]
    assert calls(cam) - before <= 3, "20 failing logins must not mean 20 CAM calls"
    profile.write_text(f"[default]\nsecret_id = {cam.credential.secret_id}\nsecret_key = {cam.credential.secret_key}\n")
    wait_until(lambda: proxy.admin_get("/readyz")[0] == 200, 20, "camproxy to notice the fixed file")
    login(proxy.port).close()


def test_data_flow_auth_close_no_storm(camproxy, cam):
    cam.control.disable("camtls")
    proxy = camproxy(db_user="camtls", wait_ready=False)
    before = calls(cam)
    for _ in range(20):
        with pytest.raises(pymysql.err.MySQLError) as info:
            login(proxy.port, "camtls")
        assert "ResourceNotFound.DataFlowAuthClose" in info.value.args[1]
    assert calls(cam) - before <= 3


# -- credential sources ------------------------------------------------------------------------------------
def test_tke_oidc_credential_that_expires_during_the_test(camproxy, cam, tmp_path):
    token_file = tmp_path / "oidc.jwt"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.test-web-identity.sig")
    role = "qcs::cam::uin/100000000001:roleName/camproxy-test"
    with sts_child(tmp_path / "sts.log", provider_id="oidc-provider", role_arn=role, token_file=str(token_file),
                   cam_endpoint=cam.endpoint, extra=("--lifetime-seconds", "4")) as sts:
        env = {"TENCENTCLOUD_SECRET_ID": None, "TENCENTCLOUD_SECRET_KEY": None, "TKE_REGION": kRegion,
               "TKE_PROVIDER_ID": "oidc-provider", "TKE_WEB_IDENTITY_TOKEN_FILE": str(token_file),
               "TKE_ROLE_ARN": role}
        proxy = camproxy("--credential-source", "tke-oidc", "--sts-endpoint", sts.endpoint, "--pool-min-idle", "0",
                         env=env)
        first = login(proxy.port)
        issued = sts.control.get("stats")["calls_total"] if "calls_total" in sts.control.get("stats") else None
        time.sleep(5)  # the temporary credential expired: the condition under test
        cam.control.rotate("camtest")  # forces a CAM call, which needs a fresh credential
        login(proxy.port).close()
        first.close()
        if issued is not None:
            assert sts.control.get("stats")["calls_total"] > issued


def test_cvm_role_credentials(camproxy, cam, tmp_path):
    with metadata_child(tmp_path / "metadata.log", role="CVM_QcsRole", cam_endpoint=cam.endpoint) as metadata:
        env = {"TENCENTCLOUD_SECRET_ID": None, "TENCENTCLOUD_SECRET_KEY": None}
        proxy = camproxy("--credential-source", "cvm-role", "--metadata-endpoint", metadata.endpoint, env=env)
        login(proxy.port).close()
