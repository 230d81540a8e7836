"""Who may use camproxy (issue 5, listeners): unix socket mode and owner, the SO_PEERCRED
peer-uid allow-list, local authentication (users file, mysql_native_password and
caching_sha2_password clients, 1045 from camproxy itself), and non-loopback listeners, which
need local authentication and TLS to clients."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap

import pymysql
import pytest

from camproxy_process import proxy_binary
from client_scenarios import cli_sha2_plugin_dir
from testutil import free_port, wait_until

kPassword = "Local-Pw-5678"  # the suite-wide secret scan (conftest.py) looks for it too
kNobody = 65534
kClientTimeout = 30


# -- helpers --------------------------------------------------------------------------------
def hashlib_line(user: str, password: str) -> str:
    """A users-file line computed without camproxy: MySQL's *SHA1(SHA1(pw)), then SHA256(SHA256(pw))."""
    native = hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()
    sha2 = hashlib.sha256(hashlib.sha256(password.encode()).digest()).hexdigest().upper()
    return f"{user}:*{native}:{sha2}"


@pytest.fixture
def users_file(tmp_path):
    """app (hashed, from `camproxy hash-password`) and ops (plain), readable by the owner only."""
    done = subprocess.run([proxy_binary(), "hash-password", "app"], input=kPassword + "\n", capture_output=True,
                          text=True, timeout=kClientTimeout)
    assert done.returncode == 0, done.stderr
    assert done.stdout == hashlib_line("app", kPassword) + "\n"
    path = tmp_path / "users"
    path.write_text(f"# camproxy users\n{done.stdout}ops:plain:{kPassword}\n")
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def shared_dir():
    """A directory other uids can reach (pytest's tmp_path is 0700), for sockets they dial."""
    path = tempfile.mkdtemp(prefix="camproxy-access-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def connect(port=None, unix_socket=None, host="127.0.0.1", user="app", password=kPassword, **kwargs):
    target = dict(unix_socket=unix_socket) if unix_socket else dict(host=host, port=port)
    return pymysql.connect(user=user, password=password, connect_timeout=10, read_timeout=20, **target, **kwargs)


def select_user(conn) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        return cur.fetchone()[0]


def login_error(**kwargs) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as info:
        connect(**kwargs).close()
    return info.value.args[0], info.value.args[1]


def failed_count(proxy, reason: str) -> float:
    status, body = proxy.admin_get("/metrics")
    assert status == 200
    prefix = f'camproxy_client_connections_failed_total{{reason="{reason}"}} '
    for line in body.decode().splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return 0.0


def mariadb_cli(port: int, user: str, password: str, *options: str, host: str = "127.0.0.1"):
    cmd = ["mariadb", "--no-defaults", f"--host={host}", f"--port={port}", f"--user={user}", f"--password={password}",
           "--batch", "--skip-column-names", "--connect-timeout=10", *options, "-e", "SELECT CURRENT_USER()"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kClientTimeout)


def start_fails(*args: str) -> tuple[int, str]:
    """Runs camproxy expecting a refused start; returns (exit status, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "CAMPROXY_"))}
    env.update(TENCENTCLOUD_SECRET_ID="AKID-access-test", TENCENTCLOUD_SECRET_KEY="access-test-key")
    done = subprocess.run([proxy_binary(), "--upstream", "127.0.0.1:1", "--region", "ap-guangzhou", "--instance-id",
                           "cdb-x", "--db-user", "app", "--cam-endpoint", "http://127.0.0.1:1", "--admin", "off", *args],
                          capture_output=True, text=True, timeout=kClientTimeout, env=env)
    assert done.returncode != 0, f"camproxy started: {done.stderr}"
    return done.returncode, done.stderr


def run_as(uid: int, code: str) -> subprocess.CompletedProcess:
    """Python `code` as another uid (the suite runs as root; setpriv is util-linux)."""
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c",
                           textwrap.dedent(code)], capture_output=True, text=True, timeout=kClientTimeout)


def login_as_uid(uid: int, socket_path: str) -> subprocess.CompletedProcess:
    return run_as(uid, f"""
        import pymysql
        try:
            pymysql.connect(unix_socket={socket_path!r}, user="camtest", password="x", connect_timeout=10).close()
            print("connected")
        except pymysql.err.MySQLError as exc:
            print(exc.args[0], exc.args[1])
    """)


needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="needs root and setpriv to act as another uid")


# -- unix sockets ---------------------------------------------------------------------------
@needs_root
def test_unix_socket_mode_and_owner_are_applied(camproxy, shared_dir):
    path = os.path.join(shared_dir, "owned.sock")
    camproxy("--listen", f"unix:{path}", "--unix-socket-mode", "0600", "--unix-socket-owner", f"{kNobody}:{kNobody}")
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (st.st_uid, st.st_gid) == (kNobody, kNobody)
    # The owner it was given can use it; with 0600 nobody else but root could.
    assert login_as_uid(kNobody, path).stdout.strip() == "connected"


def test_unix_socket_default_mode_is_0660(camproxy, tmp_path):
    path = str(tmp_path / "default.sock")
    camproxy("--listen", f"unix:{path}")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660


def test_unknown_socket_owner_is_a_startup_error(tmp_path):
    status, stderr = start_fails("--listen", f"unix:{tmp_path}/x.sock", "--unix-socket-owner", "no-such-user-5b")
    assert status == 1
    assert "cannot give unix:" in stderr and "unknown user 'no-such-user-5b'" in stderr
    assert not os.path.exists(tmp_path / "x.sock")


@needs_root
def test_peer_uid_allow_list_admits_listed_uid_and_refuses_others(camproxy, shared_dir):
    path = os.path.join(shared_dir, "allow.sock")
    proxy = camproxy("--listen", f"unix:{path}", "--unix-socket-mode", "0666", "--allow-peer-uid", "0",
                     tcp_listener=False)
    with connect(unix_socket=path, user="camtest", password="x") as conn:  # root, on the list
        assert select_user(conn) == "camtest@%"
    before = failed_count(proxy, "peer_refused")
    refused = login_as_uid(kNobody, path)
    assert refused.stdout.startswith("9006 "), refused.stdout + refused.stderr
    assert f"uid {kNobody} may not connect" in refused.stdout
    assert failed_count(proxy, "peer_refused") == before + 1
    wait_until(lambda: '"peer_refused"' in proxy.log_text() and f'"uid":"{kNobody}"' in proxy.log_text(),
               timeout=10, what="the refusal logged with the uid")


@needs_root
def test_peer_uid_allow_list_of_another_uid(camproxy, shared_dir):
    path = os.path.join(shared_dir, "nobody.sock")
    camproxy("--listen", f"unix:{path}", "--unix-socket-mode", "0666", "--allow-peer-uid", str(kNobody),
             tcp_listener=False)
    assert login_as_uid(kNobody, path).stdout.strip() == "connected"
    code, message = login_error(unix_socket=path, user="camtest", password="x")  # root is not on this list
    assert code == 9006 and "uid 0 may not connect" in message


def test_peer_uid_allow_list_with_a_tcp_listener_is_refused(tmp_path):
    status, stderr = start_fails("--listen", f"unix:{tmp_path}/a.sock", "--listen", "127.0.0.1:3306",
                                 "--allow-peer-uid", "0")
    assert status == 2
    assert "a peer uid allow-list works on unix sockets only" in stderr


# -- local authentication -------------------------------------------------------------------
@pytest.fixture
def local_auth_proxy(camproxy, users_file):
    return camproxy("--users-file", users_file)


class NativeFirstConnection(pymysql.connections.Connection):
    """Answers the greeting with mysql_native_password, as older client libraries do."""

    def _get_server_information(self):
        super()._get_server_information()
        self._auth_plugin_name = "mysql_native_password"


@pytest.mark.parametrize("plugin", ["caching_sha2_password", "mysql_native_password"])
def test_local_auth_right_password_pymysql(local_auth_proxy, plugin):
    # PyMySQL follows the greeting's caching_sha2_password (fast-path scramble) unless told otherwise.
    for user in ("app", "ops"):
        if plugin == "caching_sha2_password":
            conn = connect(port=local_auth_proxy.port, user=user)
        else:
            conn = NativeFirstConnection(host="127.0.0.1", port=local_auth_proxy.port, user=user, password=kPassword,
                                         connect_timeout=10, read_timeout=20)
        with conn:
            assert select_user(conn) == "camtest@%"  # --db-user: every local user maps to it
    wrong_cls = NativeFirstConnection if plugin == "mysql_native_password" else pymysql.connections.Connection
    with pytest.raises(pymysql.err.OperationalError) as info:
        wrong_cls(host="127.0.0.1", port=local_auth_proxy.port, user="app", password="wrong", connect_timeout=10)
    assert info.value.args == (1045, "Access denied for user 'app'")


def test_local_auth_mariadb_cli_native(local_auth_proxy):
    done = mariadb_cli(local_auth_proxy.port, "app", kPassword, "--default-auth=mysql_native_password")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "camtest@%"
    wrong = mariadb_cli(local_auth_proxy.port, "app", "not-" + kPassword, "--default-auth=mysql_native_password")
    assert "ERROR 1045 (28000)" in wrong.stderr and "Access denied for user 'app'" in wrong.stderr


def test_local_auth_right_password_mariadb_cli_caching_sha2(local_auth_proxy):
    plugin_dir = cli_sha2_plugin_dir()
    if plugin_dir is None:
        pytest.skip("the mariadb client has no caching_sha2_password plugin")
    done = mariadb_cli(local_auth_proxy.port, "ops", kPassword, f"--plugin-dir={plugin_dir}",
                       "--default-auth=caching_sha2_password")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "camtest@%"


def test_local_auth_switches_another_plugin_to_native(local_auth_proxy):
    # client_ed25519 first: camproxy answers with an AuthSwitchRequest to mysql_native_password.
    plugin_dir = cli_sha2_plugin_dir()  # the client plugins' directory
    if plugin_dir is None or not os.path.exists(os.path.join(plugin_dir, "client_ed25519.so")):
        pytest.skip("the mariadb client has no client_ed25519 plugin")
    done = mariadb_cli(local_auth_proxy.port, "app", kPassword, f"--plugin-dir={plugin_dir}",
                       "--default-auth=client_ed25519")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "camtest@%"
    wrong = mariadb_cli(local_auth_proxy.port, "app", "wrong", f"--plugin-dir={plugin_dir}",
                        "--default-auth=client_ed25519")
    assert "ERROR 1045 (28000)" in wrong.stderr


def test_local_auth_wrong_password_and_unknown_user_get_the_same_1045(local_auth_proxy):
    before = failed_count(local_auth_proxy, "local_auth")
    wrong = login_error(port=local_auth_proxy.port, user="app", password="not-" + kPassword)
    unknown = login_error(port=local_auth_proxy.port, user="mallory", password=kPassword)
    empty = login_error(port=local_auth_proxy.port, user="app", password="")
    assert wrong == (1045, "Access denied for user 'app'")
    assert unknown == (1045, "Access denied for user 'mallory'")
    assert empty == (1045, "Access denied for user 'app'")
    cli = mariadb_cli(local_auth_proxy.port, "app", "not-" + kPassword)
    assert "ERROR 1045 (28000)" in cli.stderr and "Access denied for user 'app'" in cli.stderr
    assert failed_count(local_auth_proxy, "local_auth") == before + 4
    log = wait_until(lambda: local_auth_proxy.log_text() if "mallory" in local_auth_proxy.log_text() else None,
                     timeout=10, what="the refusals logged")
    assert "Access denied for user 'mallory'" in log
    # Still serving after the refusals.
    with connect(port=local_auth_proxy.port) as conn:
        assert select_user(conn) == "camtest@%"


def test_without_local_auth_any_password_is_accepted(camproxy):
    proxy = camproxy()
    with connect(port=proxy.port, user="whoever", password="anything") as conn:
        assert select_user(conn) == "camtest@%"


def test_users_file_readable_by_others_is_a_startup_error(users_file):
    os.chmod(users_file, 0o644)
    status, stderr = start_fails("--listen", f"127.0.0.1:{free_port()}", "--users-file", users_file)
    assert status == 1
    assert f"users file {users_file}: readable by others" in stderr


def test_users_file_errors_name_the_line_not_the_secret(tmp_path):
    path = tmp_path / "users"
    path.write_text("app:plain:Hunter2-Secret\napp:plain:Other-Secret\n")
    path.chmod(0o600)
    status, stderr = start_fails("--listen", f"127.0.0.1:{free_port()}", "--users-file", str(path))
    assert status == 1
    assert f"users file {path} line 2: user 'app' given twice" in stderr
    assert "Secret" not in stderr


def test_hash_password_refuses_an_empty_password():
    done = subprocess.run([proxy_binary(), "hash-password", "app"], input="\n", capture_output=True, text=True,
                          timeout=kClientTimeout)
    assert done.returncode == 2 and done.stdout == ""
    assert "no password on stdin" in done.stderr


# -- non-loopback listeners -----------------------------------------------------------------
def host_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for addr in out.split():
        if ":" not in addr and not addr.startswith("127."):
            return addr
    return None


@pytest.mark.parametrize("extra, missing", [
    ([], "missing: local authentication (--users-file)"),
    (["--client-tls", "off"], "missing: local authentication (--users-file) and TLS to clients (--client-tls on)"),
])
def test_non_loopback_listener_needs_local_auth_and_tls(extra, missing):
    status, stderr = start_fails("--listen", "0.0.0.0:3306", *extra)
    assert status == 2
    assert "refusing to listen on non-loopback address '0.0.0.0:3306'" in stderr and missing in stderr


def test_non_loopback_listener_without_client_tls_is_refused(users_file):
    status, stderr = start_fails("--listen", "0.0.0.0:3306", "--users-file", users_file, "--client-tls", "off")
    assert status == 2
    assert "missing: TLS to clients (--client-tls on)" in stderr


def test_non_loopback_listener_with_local_auth_requires_tls_from_other_hosts(camproxy, users_file):
    addr = host_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address (the refusal at start is tested above)")
    port = free_port()
    proxy = camproxy("--users-file", users_file, "--listen", f"{addr}:{port}")
    # From this machine's own address the peer is not loopback: a cleartext login is refused
    # before its password is looked at.
    code, message = login_error(host=addr, port=port)
    assert code == 3159 and "must use TLS" in message
    tls = {"ssl": {"check_hostname": False, "verify_mode": 0}}  # camproxy's self-signed certificate
    with connect(host=addr, port=port, **tls) as conn:
        assert select_user(conn) == "camtest@%"
    assert login_error(host=addr, port=port, password="wrong", **tls) == (1045, "Access denied for user 'app'")
    done = mariadb_cli(port, "app", kPassword, "--ssl", "--skip-ssl-verify-server-cert", host=addr)
    assert done.returncode == 0, done.stderr
    # The loopback listener of the same proxy needs no TLS.
    with connect(port=proxy.port) as conn:
        assert select_user(conn) == "camtest@%"


# -- reload ---------------------------------------------------------------------------------
def test_sighup_reads_the_users_file_again(mariadb, cam, tmp_path):
    from test_config import ConfigProxies  # the config-file harness of test_config.py

    proxies = ConfigProxies(mariadb, cam, tmp_path)
    users = tmp_path / "users"
    users.write_text(hashlib_line("app", kPassword) + "\n")
    users.chmod(0o600)
    port = free_port()
    text = proxies.document(proxies.target("auth", port, f"    account: camtest\n    local-auth:\n"
                                                         f"      users-file: {users}\n"))
    try:
        proxy = proxies.start(text)
        with connect(port=port) as conn:
            assert select_user(conn) == "camtest@%"
        assert login_error(port=port, user="newcomer") == (1045, "Access denied for user 'newcomer'")

        users.write_text(hashlib_line("newcomer", kPassword) + "\n")  # same config, new users
        proxies.reload(proxy, text, "reload_applied")
        with connect(port=port, user="newcomer") as conn:
            assert select_user(conn) == "camtest@%"
        assert login_error(port=port, user="app") == (1045, "Access denied for user 'app'")

        users.chmod(0o644)  # no longer loads: the users read before stay
        before = proxy.log_text().count("local_users_reload_failed")
        os.kill(proxy.pid, signal.SIGHUP)
        wait_until(lambda: proxy.log_text().count("local_users_reload_failed") > before, 15, "the failed reload logged")
        with connect(port=port, user="newcomer") as conn:
            assert select_user(conn) == "camtest@%"
    finally:
        proxies.stop_all()


@needs_root
def test_config_file_listen_entry_takes_its_own_socket_settings(mariadb, cam, tmp_path, shared_dir):
    from test_config import ConfigProxies

    proxies = ConfigProxies(mariadb, cam, tmp_path)
    path = os.path.join(shared_dir, "file.sock")
    port = free_port()
    text = (f"cam:\n  endpoint: {cam.endpoint}\nworkers: 1\ntargets:\n  - name: sock\n"
            f"    listen:\n      - 127.0.0.1:{port}\n"
            f"      - {{address: 'unix:{path}', mode: '0666', allow-peer-uids: [{kNobody}]}}\n"
            f"    upstream: 127.0.0.1:{mariadb.port}\n    region: {cam.region}\n    instance-id: {cam.instance_id}\n"
            f"    account: camtest\n    upstream-tls:\n      ca-file: {mariadb.ca_file}\n")
    try:
        proxies.start(text)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666
        assert login_as_uid(kNobody, path).stdout.strip() == "connected"
        code, message = login_error(unix_socket=path, user="camtest", password="x")
        assert code == 9006 and "uid 0 may not connect" in message
        with connect(port=port, user="camtest", password="x") as conn:  # the TCP entry has no list
            assert select_user(conn) == "camtest@%"
    finally:
        proxies.stop_all()
