"""camproxy's login path end to end: upstream TLS modes, CAM failures reaching the
application as clear MySQL errors (and recovery once CAM is right again), listeners, and the
operator-facing command line."""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import threading

import pymysql
import pytest

from camproxy_process import proxy_binary
from testutil import free_port, http_request, wait_until


def connect(proxy, **kwargs):
    params = dict(host="127.0.0.1", port=proxy.port, user="camtest", password="anything",
                  connect_timeout=10, read_timeout=20)
    params.update(kwargs)
    return pymysql.connect(**params)


def query_one(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()


def login_error(proxy, **kwargs) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as info:
        connect(proxy, **kwargs).close()
    return info.value.args[0], info.value.args[1]


def upstream_cipher(conn) -> str:
    # The session status of the database-side connection: what camproxy negotiated upstream.
    return query_one(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")[1]


def assert_alive(proxy):
    assert proxy.returncode is None, "camproxy exited"
    status, _ = proxy.admin_get("/healthz")
    assert status == 200


# -- upstream TLS ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["required", "verify-ca", "verify-identity"])
def test_upstream_tls_modes_encrypt_the_database_hop(camproxy, mode):
    proxy = camproxy(upstream_tls=mode)
    with connect(proxy) as conn:
        assert query_one(conn, "SELECT 'Success!'")[0] == "Success!"
        assert upstream_cipher(conn) != ""


def test_upstream_tls_disable_logs_in_without_tls(camproxy):
    proxy = camproxy(upstream_tls="disable")
    with connect(proxy) as conn:
        assert upstream_cipher(conn) == ""


def test_require_ssl_account_works_with_preferred_tls(camproxy):
    proxy = camproxy(db_user="camtls")  # REQUIRE SSL: only a TLS login succeeds
    with connect(proxy, user="camtls") as conn:
        assert query_one(conn, "SELECT CURRENT_USER()")[0] == "camtls@%"
        assert upstream_cipher(conn) != ""


def test_verify_identity_refuses_a_certificate_for_another_host(camproxy):
    proxy = camproxy("--upstream-server-name", "db.wrong.example", upstream_tls="verify-identity")
    code, message = login_error(proxy)
    assert code == 9002
    assert "hostname mismatch" in message and "--upstream-server-name" in message
    assert_alive(proxy)


def test_verify_ca_refuses_an_unknown_ca(camproxy, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", "/CN=other", "-keyout", str(tmp_path / "k.pem"), "-out", str(other_ca),
                    "-days", "1"], check=True, capture_output=True)
    proxy = camproxy("--upstream-tls", "verify-ca", "--upstream-ca-file", str(other_ca))  # no default TLS args
    code, message = login_error(proxy)
    assert code == 9002
    assert "certificate verification failed" in message


def test_upstream_unreachable_is_a_clear_error_before_the_greeting(camproxy):
    port = free_port()  # nothing listens there
    proxy = camproxy(upstream=f"127.0.0.1:{port}")
    code, message = login_error(proxy)
    assert code == 9001
    assert f"cannot connect to the database 127.0.0.1:{port}" in message
    assert_alive(proxy)


# -- CAM failures ---------------------------------------------------------------------------
def calls_for(cam) -> int:
    return cam.control.stats()["calls_total"]


@pytest.mark.parametrize("env, expected_code", [
    ({"TENCENTCLOUD_SECRET_KEY": "wrong-secret-key"}, "AuthFailure.SignatureFailure"),
    ({"TENCENTCLOUD_SECRET_ID": "AKIDunknownUNKNOWNunknown0000000009"}, "AuthFailure.SecretIdNotFound"),
])
def test_bad_credentials_reach_the_client_as_1045_naming_the_cam_error(camproxy, env, expected_code):
    proxy = camproxy(env=env, wait_ready=False)
    code, message = login_error(proxy)
    assert code == 1045
    assert expected_code in message
    assert "cdb-camproxy1" in message and "'camtest'" in message
    assert env.popitem()[1] not in message  # neither the key nor the id is echoed
    assert_alive(proxy)
    status, body = proxy.admin_get("/readyz")
    assert status == 503 and expected_code.encode() in body


def test_account_without_cam_enabled_then_enabled(camproxy, cam):
    cam.control.disable("camtest")
    proxy = camproxy(wait_ready=False)
    code, message = login_error(proxy)
    assert code == 1045 and "ResourceNotFound.DataFlowAuthClose" in message
    cam.control.enable("camtest")
    with connect(proxy) as conn:
        assert query_one(conn, "SELECT 'Success!'")[0] == "Success!"


@pytest.mark.parametrize("fault", ["AuthFailure.SignatureFailure", "InternalError", "http500", "malformed_json"])
def test_cam_error_then_recovery_for_the_next_client(camproxy, cam, fault):
    cam.control.fail(fault)  # before the start: its first fetch fails too
    proxy = camproxy(db_user="camtls", wait_ready=False)
    code, message = login_error(proxy, user="camtls")
    assert code == 1045 and "CAM" in message
    assert_alive(proxy)
    cam.control.clear()
    with connect(proxy, user="camtls") as conn:
        assert query_one(conn, "SELECT 'Success!'")[0] == "Success!"


class _Forwarder(socketserver.ThreadingTCPServer):
    """A TCP forwarder to the emulator, started late: until then CAM is unreachable."""
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port, target_port):
        self.target_port = target_port
        super().__init__(("127.0.0.1", port), _ForwardHandler)


class _ForwardHandler(socketserver.BaseRequestHandler):
    def handle(self):
        upstream = socket.create_connection(("127.0.0.1", self.server.target_port), timeout=10)

        def pump(src, dst):
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                dst.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
        t.start()
        pump(self.request, upstream)
        t.join(10)
        upstream.close()


def test_cam_unreachable_then_reachable(camproxy, cam):
    port = free_port()
    proxy = camproxy(cam_endpoint=f"http://127.0.0.1:{port}", wait_ready=False)
    code, message = login_error(proxy)
    assert code == 1045 and "network" in message
    assert_alive(proxy)
    forwarder = _Forwarder(port, cam.port)
    threading.Thread(target=forwarder.serve_forever, daemon=True).start()
    try:
        with connect(proxy) as conn:
            assert query_one(conn, "SELECT 'Success!'")[0] == "Success!"
    finally:
        forwarder.shutdown()
        forwarder.server_close()


def test_cam_hang_is_bounded_by_cam_timeout(camproxy, cam):
    cam.control.fail("hang")
    proxy = camproxy("--cam-timeout", "1s", db_user="camtls", wait_ready=False)
    code, message = login_error(proxy, user="camtls")
    assert code == 1045 and "timeout" in message
    cam.control.clear()


def test_a_thousand_logins_share_one_token(camproxy, cam):
    proxy = camproxy()
    before = calls_for(cam)
    for _ in range(20):
        with connect(proxy) as conn:
            query_one(conn, "SELECT 1")
    assert calls_for(cam) == before


# -- listeners and the command line ------------------------------------------------------------
def test_unix_socket_listener(camproxy, tmp_path):
    path = str(tmp_path / "camproxy.sock")
    proxy = camproxy("--listen", f"unix:{path}")
    assert oct(os.stat(path).st_mode & 0o777) == "0o660"
    with pymysql.connect(unix_socket=path, user="camtest", password="x") as conn:
        assert query_one(conn, "SELECT 'Success!'")[0] == "Success!"
    proxy.stop()
    assert not os.path.exists(path), "the socket file is removed at exit"


def test_the_client_sees_the_database_version(camproxy, mariadb):
    proxy = camproxy()
    with connect(proxy) as conn:
        direct = pymysql.connect(host="127.0.0.1", port=mariadb.port, user=mariadb.admin_user,
                                 password=mariadb.admin_password)
        with direct:
            assert conn.get_server_info() == direct.get_server_info()


def run_binary(*args, env=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "CAMPROXY_"))}
    full_env.update(env or {})
    return subprocess.run([proxy_binary(), *args], capture_output=True, text=True, timeout=20, env=full_env)


kRequired = ["--upstream", "127.0.0.1:1", "--region", "ap-guangzhou", "--instance-id", "cdb-x", "--db-user", "app"]


@pytest.mark.parametrize("args, reason", [
    (["--bogus"], "unknown flag --bogus"),
    (kRequired + ["--listen", "0.0.0.0:3306"], "refusing to listen on non-loopback"),
    (kRequired + ["--upstream-tls", "maybe"], "--upstream-tls: expected"),
    (["--region", "r"], "--upstream is required"),
    (kRequired[:-2], "--db-user is required"),  # pass-through only when asked for: --db-user '*'
])
def test_bad_flags_exit_2_with_one_line(args, reason):
    done = run_binary(*args)
    assert done.returncode == 2
    assert reason in done.stderr
    assert done.stderr.count("\n") == 1


def test_help_documents_every_flag():
    done = run_binary("--help")
    assert done.returncode == 0
    for flag in ("--upstream", "--region", "--instance-id", "--listen", "--db-user", "--cam-endpoint",
                 "--cam-ca-file", "--upstream-tls", "--upstream-ca-file", "--admin"):
        assert flag in done.stdout


def test_missing_credentials_is_a_clear_startup_error():
    done = run_binary(*kRequired, "--listen", f"127.0.0.1:{free_port()}", "--admin", "off")
    assert done.returncode == 1
    assert "TENCENTCLOUD_SECRET_ID" in done.stderr


def test_flags_from_environment(camproxy):
    proxy = camproxy(db_user=None, env={"CAMPROXY_DB_USER": "camtest"})
    with connect(proxy, user="someone-else") as conn:
        assert query_one(conn, "SELECT CURRENT_USER()")[0] == "camtest@%"


def test_db_user_star_makes_the_client_user_the_cam_account(camproxy):
    proxy = camproxy(db_user="*")
    with connect(proxy, user="camtls") as conn:
        assert query_one(conn, "SELECT CURRENT_USER()")[0] == "camtls@%"
    code, message = login_error(proxy, user="camoff")
    assert code == 1045 and "ResourceNotFound.DataFlowAuthClose" in message
