"""Returning a pooled connection when the server refuses COM_RESET_CONNECTION (issue: persistent
upstream pool): camproxy cleans it with COM_CHANGE_USER and the current CAM token instead, remembers
that the reset is refused, and the next client still sees none of the previous client's state.

The real MariaDB answers the refusal itself: tests/tools/reset_refusing_relay.py sits between camproxy
and MariaDB and turns each COM_RESET_CONNECTION into an unknown command (ERR 1047)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pymysql
import pytest

from reset_refusing_relay import ResetRefusingRelay
from test_pool import connect, one, thread_id
from testutil import wait_until


@pytest.fixture
def relay(mariadb):
    """Ask for it before `camproxy`: it then outlives the proxy, whose returns are not cut short."""
    with ResetRefusingRelay(mariadb.port) as r:
        yield r


def via_relay(camproxy, relay, pool_max):
    return camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", str(pool_max),
                    upstream=f"127.0.0.1:{relay.port}", upstream_tls="disable")


def cleanups(proxy, method):
    return proxy.metric("camproxy_pool_cleanups_total", method=method)


def wait_cleanups(proxy, method, count):
    wait_until(lambda: cleanups(proxy, method) >= count, 15, f"{count} pool cleanups by {method}")


def test_refused_reset_falls_back_to_change_user_without_leaking_state(relay, camproxy, mariadb):
    proxy = via_relay(camproxy, relay, pool_max=1)
    with connect(proxy, charset="latin1") as a:
        tid = thread_id(a)
        for sql in ("SET @leak = 42", "CREATE TEMPORARY TABLE leak_t (a INT)", "SET time_zone = '+05:00'",
                    "SET SESSION sql_mode = 'ANSI_QUOTES'", "USE mysql"):
            one(a, sql)
        assert one(a, "SELECT @@character_set_client")[0] == "latin1"
    wait_cleanups(proxy, "change_user", 1)
    logins_before = mariadb.status("Connections")

    # No schema wanted: a reset would have kept A's (spec §5.1), CHANGE_USER cleared it.
    with connect(proxy, database=None, charset="utf8mb4") as b:
        assert thread_id(b) == tid, "the test needs B on A's pooled connection"
        assert one(b, "SELECT @leak, DATABASE(), @@session.time_zone = @@global.time_zone, "
                      "@@session.sql_mode = @@global.sql_mode, @@autocommit") == (None, None, 1, 1, 1)
        with pytest.raises(pymysql.err.MySQLError) as info:
            one(b, "SELECT * FROM camdb.leak_t")
        assert info.value.args[0] == 1146
        assert one(b, "SELECT @@character_set_client, @@character_set_results") == ("utf8mb4", "utf8mb4")
    # +1: the status query's own connection. B's session cost MariaDB no login.
    assert mariadb.status("Connections") - logins_before == 1

    with connect(proxy) as c:
        assert thread_id(c) == tid
        assert one(c, "SELECT DATABASE(), @@character_set_client") == ("camdb", "utf8mb4")
    wait_cleanups(proxy, "change_user", 3)
    # Remembered: only the first return tried COM_RESET_CONNECTION.
    assert relay.resets_refused == 1
    assert relay.change_users == 3
    assert cleanups(proxy, "reset") == 0
    assert proxy.log_text().count('"pool_reset_refused"') == 1


def test_change_user_after_a_rotation_uses_the_new_token(relay, camproxy, mariadb, cam):
    proxy = via_relay(camproxy, relay, pool_max=2)
    a = connect(proxy)
    tid_a = thread_id(a)
    cam.control.rotate("camtest")  # A's login password is gone
    with connect(proxy) as c:  # a new login: refused with the old token, retried with a fresh one
        tid_c = thread_id(c)
    assert proxy.metric("camproxy_upstream_auth_retries_total") >= 1, "the rotation must invalidate the old token"
    a.close()
    wait_cleanups(proxy, "change_user", 2)
    assert proxy.metric("camproxy_pool_closes_total", reason="change_user_refused") == 0
    logins_before = mariadb.status("Connections")

    # Both connections are back, A's included: two clients at once get exactly them.
    held, ready = [], threading.Barrier(2, timeout=20)

    def client():
        conn = connect(proxy)
        held.append((conn, thread_id(conn)))
        ready.wait()

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert sorted(tid for _, tid in held) == sorted([tid_a, tid_c])
        for conn, _ in held:
            assert one(conn, "SELECT CURRENT_USER()")[0].startswith("camtest@")
    finally:
        for conn, _ in held:
            conn.close()
    assert mariadb.status("Connections") - logins_before == 1  # the status query's own


def test_change_user_refused_with_a_stale_token_closes_the_connection(relay, camproxy, cam):
    proxy = via_relay(camproxy, relay, pool_max=1)
    a = connect(proxy)
    tid = thread_id(a)
    cam.control.rotate("camtest")  # camproxy learns of it only when the database refuses its token
    a.close()
    wait_until(lambda: proxy.metric("camproxy_pool_closes_total", reason="change_user_refused") == 1, 15,
               "the refused CHANGE_USER to be counted")
    assert cleanups(proxy, "change_user") == 0
    with connect(proxy) as b:  # a fresh login with the refetched token
        assert thread_id(b) != tid
        assert one(b, "SELECT 1") == (1,)
    assert '"pool_change_user_failed"' in proxy.log_text()


def test_client_change_user_is_answered_with_change_user_upstream(relay, camproxy):
    """A client's own COM_CHANGE_USER (mysql2 changeUser, mysqli p:) gets the same fallback."""
    proxy = via_relay(camproxy, relay, pool_max=1)
    script = """
const m = require('mysql2/promise');
(async () => {
  const c = await m.createConnection({host: '127.0.0.1', port: %d, user: 'camtest', password: 'x',
                                      database: 'camdb', connectTimeout: 20000});
  const out = [];
  for (const db of ['mysql', 'camdb']) {
    await c.query("SET @before_change = 1");
    await c.changeUser({user: 'camtest', password: 'y', database: db});
    const [rows] = await c.query("SELECT DATABASE() AS db, @before_change AS v, CONNECTION_ID() AS id");
    out.push(rows[0]);
  }
  console.log(JSON.stringify(out));
  await c.end();
})().catch(e => { console.log(JSON.stringify({error: e.message, errno: e.errno})); });
""" % proxy.port
    out = subprocess.run([shutil.which("node"), "-e", script], capture_output=True, text=True, timeout=60,
                         cwd=str(Path(__file__).resolve().parents[1] / "node"))
    rows = json.loads(out.stdout)
    assert [(r["db"], r["v"]) for r in rows] == [("mysql", None), ("camdb", None)], out.stdout + out.stderr
    assert rows[0]["id"] == rows[1]["id"], "the same database connection, cleaned twice"
    assert relay.resets_refused == 1  # the second change went straight to COM_CHANGE_USER
    assert relay.change_users >= 2
