"""--pool-mode transaction through faults (issue 15): a shared session keeps working when the
database connections are killed between its commands (KILL on the server), when the CAM password
rotates under it, and across a reload of the config file (POST /reload, as SIGHUP); a pinned one
whose connection dies gets the clear error session mode gives."""

from __future__ import annotations

import json

import pymysql
import pytest

from test_config import ConfigProxies
from testutil import free_port, wait_until
from txmode_session import connect, one, transaction_mode




def kill_camtest_threads(mariadb) -> int:
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'camtest'")
        ids = [row[0] for row in cur.fetchall()]
        for tid in ids:
            cur.execute(f"KILL {tid}")
    return len(ids)



STATE = "SELECT DATABASE(), @@session.time_zone, @@character_set_client"


def with_state(conn):
    one(conn, "USE mysql")
    one(conn, "SET time_zone = '+04:00'")
    one(conn, "SET NAMES latin1")


def test_a_shared_session_survives_its_connections_being_killed_between_commands(camproxy, mariadb):
    proxy = transaction_mode(camproxy, 2)
    with connect(proxy.port) as conn:
        with_state(conn)
        for _ in range(3):
            assert kill_camtest_threads(mariadb) >= 1
            assert one(conn, STATE) == ("mysql", "+04:00", "latin1")


def test_a_pinned_session_whose_connection_is_killed_gets_a_clear_error(camproxy, mariadb):
    proxy = transaction_mode(camproxy, 2)
    conn = connect(proxy.port)
    one(conn, "SET @pinned = 1")  # a user variable pins the connection to the session
    kill_camtest_threads(mariadb)
    with pytest.raises(pymysql.err.MySQLError) as info:
        one(conn, "SELECT @pinned")
    assert info.value.args[0] in (9005, 2013), info.value.args
    conn.close()


def test_a_shared_session_keeps_working_across_a_password_rotation(camproxy, cam, mariadb):
    """The emulator rotates camtest's password; with every connection killed, the session's next
    command dials with the old token, gets 1045, and camproxy fetches the new one and retries."""
    proxy = transaction_mode(camproxy, 2)
    with connect(proxy.port) as conn:
        with_state(conn)
        retries = proxy.metric("camproxy_upstream_auth_retries_total")
        cam.control.rotate("camtest")
        kill_camtest_threads(mariadb)
        assert one(conn, STATE) == ("mysql", "+04:00", "latin1")
        assert proxy.metric("camproxy_upstream_auth_retries_total") == retries + 1
        assert one(conn, "SELECT 1") == (1,)


def test_a_shared_session_keeps_working_across_a_reload(mariadb, cam, tmp_path):
    proxies = ConfigProxies(mariadb, cam, tmp_path)
    port = free_port()
    pool = "    account: camtest\n    pool: {{mode: transaction, max: {}, min-idle: 0}}\n"
    try:
        proxy = proxies.start(proxies.document(proxies.target("t", port, pool.format(2))))
        with connect(port) as conn:
            with_state(conn)
            proxies.write(proxies.document(proxies.target("t", port, pool.format(3))))
            status, body = proxy.admin_post("/reload", timeout=15)
            assert status == 200 and json.loads(body)["updated"] == "t", body
            assert one(conn, STATE) == ("mysql", "+04:00", "latin1")
            kill_camtest_threads(mariadb)  # and a fresh connection after it
            assert one(conn, STATE) == ("mysql", "+04:00", "latin1")
        wait_until(lambda: proxy.metric("camproxy_pool_shared_sessions") == 0, 5, "the session to end")
    finally:
        proxies.stop_all()
