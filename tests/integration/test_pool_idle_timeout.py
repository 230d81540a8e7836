"""The pool's idle timeout follows the server's wait_timeout (issue: persistent upstream pool):
camproxy reads the session's wait_timeout and closes idle pooled connections itself, with
COM_QUIT, before the server would time them out; an explicit longer --pool-idle-timeout is
clamped with one warning."""

from __future__ import annotations

import contextlib

import pymysql

from test_pool import connect, one
from testutil import wait_until

kWaitTimeout = 5  # seconds: camproxy's limit is then 3 s (2 s margin), closed by its 1 s tick


@contextlib.contextmanager
def server_wait_timeout(mariadb, seconds):
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("SELECT @@global.wait_timeout")
        (saved,) = cur.fetchone()
        cur.execute(f"SET GLOBAL wait_timeout = {seconds}")
    try:
        yield
    finally:
        with mariadb.admin() as admin, admin.cursor() as cur:
            cur.execute(f"SET GLOBAL wait_timeout = {int(saved)}")


def idle_closes(proxy):
    return proxy.metric("camproxy_pool_closes_total", reason="idle_timeout")


def test_idle_pooled_connections_close_before_the_server_times_them_out(camproxy, mariadb):
    with server_wait_timeout(mariadb, kWaitTimeout):
        aborted_before = mariadb.status("Aborted_clients")
        proxy = camproxy("--workers", "1", "--pool-min-idle", "2")
        # The control: a client that just sits idle is timed out by the server, and counted.
        control = pymysql.connect(host="127.0.0.1", port=mariadb.port, user=mariadb.admin_user,
                                  password=mariadb.admin_password, connect_timeout=5)
        wait_until(lambda: idle_closes(proxy) >= 2, 3 * kWaitTimeout, "camproxy to close its 2 idle connections")
        wait_until(lambda: mariadb.status("Aborted_clients") > aborted_before, 3 * kWaitTimeout,
                   "the server to time out the idle control client")
        with connect(proxy) as conn:  # the pool refilled; whatever it hands out works
            assert one(conn, "SELECT 1") == (1,)
        assert mariadb.status("Aborted_clients") - aborted_before == 1, "only the control may be timed out"
        assert proxy.metric("camproxy_pool_closes_total", reason="lost") == 0
        assert f'"server_wait_timeout_s":{kWaitTimeout},"idle_timeout_ms":3000' in proxy.log_text()
        assert '"pool_idle_timeout_clamped"' not in proxy.log_text()  # auto: no warning
        control.close()


def test_an_explicit_idle_timeout_above_wait_timeout_is_clamped_with_one_warning(camproxy, mariadb):
    with server_wait_timeout(mariadb, kWaitTimeout):
        proxy = camproxy("--workers", "2", "--pool-min-idle", "2", "--pool-idle-timeout", "10m")
        wait_until(lambda: idle_closes(proxy) >= 2, 3 * kWaitTimeout, "idle connections closed well before 10m")
        with connect(proxy) as conn:
            assert one(conn, "SELECT 1") == (1,)
        assert proxy.log_text().count('"pool_idle_timeout_clamped"') == 1
