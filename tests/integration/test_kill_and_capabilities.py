"""Indistinguishable from a direct connection (issue 16): KILL that can only hit what it names (a
greeting id or the CONNECTION_ID() of a session, of the killer's own user) and CLIENT_IGNORE_SPACE
honoured through the pool, with real clients (PyMySQL, the mariadb CLI, Node mysql2)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import threading

import pymysql
import pytest

from testutil import wait_until

kClientIdBase = 1 << 30  # greeting ids live in [2^30, 2^31) (proxy/session/session_registry.h)
kPassword = "Local-Pw-5678"  # the suite-wide secret scan (conftest.py) looks for it
kClientTimeout = 30
kCountWithSpace = "SELECT COUNT (*) FROM information_schema.COLLATIONS WHERE ID = 45"
kNodeDir = pathlib.Path(__file__).resolve().parents[1] / "node"


def connect(proxy, user="camtest", password="x", **kwargs):
    return pymysql.connect(host="127.0.0.1", port=proxy.port, user=user, password=password, database="camdb",
                           connect_timeout=10, read_timeout=30, autocommit=True, **kwargs)


def one(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()


def connection_id(conn) -> int:
    return one(conn, "SELECT CONNECTION_ID()")[0]


def alive(conn) -> bool:
    try:
        conn.ping(reconnect=False)
        return True
    except pymysql.err.MySQLError:
        return False


def kill_error(conn, statement) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as info:
        one(conn, statement)
    return info.value.args[0], info.value.args[1]


# -- KILL ---------------------------------------------------------------------------------------------
def test_each_client_killed_by_its_own_connection_id_and_nobody_else(camproxy):
    """20 clients, each killed from a second connection by the id it sees itself: CONNECTION_ID()
    (what applications and SHOW PROCESSLIST use) by statement and by COM_PROCESS_KILL, or the
    greeting id (what the CLI's Ctrl-C and Connector/J's cancel use). Before issue 16 a database
    thread id was read as a camproxy id: KILL <CONNECTION_ID() of A> killed B or nobody."""
    proxy = camproxy("--workers", "2")
    clients = [connect(proxy) for _ in range(20)]
    try:
        ids = [(c.thread_id(), connection_id(c)) for c in clients]
        for greeting, thread in ids:
            assert kClientIdBase <= greeting < 2 ** 31, greeting  # a positive int32 drivers read
            assert thread < kClientIdBase and thread != greeting
        assert len({g for g, _ in ids}) == len(ids)
        with connect(proxy) as killer:
            for i, (victim, (greeting, thread)) in enumerate(zip(clients, ids)):
                way = i % 3
                if way == 0:
                    assert one(killer, f"KILL {thread}") is None
                elif way == 1:
                    killer.kill(thread)  # COM_PROCESS_KILL
                else:
                    assert one(killer, f"KILL CONNECTION {greeting}") is None
                wait_until(lambda: not alive(victim), 10, f"client {i} to be killed")
                survivors = clients[i + 1:]
                assert all(alive(c) for c in survivors), f"KILL of client {i} ({way=}) hit another client"
            assert one(killer, "SELECT 1") == (1,)
    finally:
        for c in clients:
            c.close()


def test_kill_query_by_connection_id_cancels_only_that_query(camproxy):
    proxy = camproxy()
    with connect(proxy) as victim, connect(proxy) as bystander, connect(proxy) as killer:
        thread = connection_id(victim)
        result = {}

        def sleep():
            try:
                result["value"] = one(victim, "SELECT SLEEP(30)")
            except pymysql.err.MySQLError as e:
                result["error"] = e.args[0]

        sleeper = threading.Thread(target=sleep)
        sleeper.start()
        wait_until(lambda: one(killer, f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {thread} "
                                       "AND INFO LIKE 'SELECT SLEEP%'") == (1,), 10, "the victim's SLEEP to run")
        assert one(killer, f"KILL QUERY {thread}") is None
        sleeper.join(10)
        assert not sleeper.is_alive()
        assert result.get("value") == (1,) or result.get("error") in (1317, 1927), result  # cancelled, not ended
        assert one(victim, "SELECT 'still here'") == ("still here",)
        assert one(bystander, "SELECT 1") == (1,)


def test_kill_of_an_id_naming_no_session_is_1094_and_touches_nothing(camproxy):
    proxy = camproxy()
    with connect(proxy) as bystander, connect(proxy) as killer:
        for target in (999999, kClientIdBase + 999999, 2 ** 32 + connection_id(bystander)):
            code, message = kill_error(killer, f"KILL {target}")
            assert (code, message) == (1094, f"Unknown thread id: {target}")
        with pytest.raises(pymysql.err.MySQLError) as info:
            killer.kill(999999)
        assert info.value.args[0] == 1094
        assert alive(bystander) and one(killer, "SELECT 1") == (1,)


@pytest.fixture
def two_local_users(tmp_path):
    path = tmp_path / "users"
    path.write_text(f"app:plain:{kPassword}\nops:plain:{kPassword}\n")
    path.chmod(0o600)
    return str(path)


def test_kill_of_another_local_users_session_is_1095_and_changes_nothing(camproxy, two_local_users):
    """Through camproxy every session is the same database account, which may kill all of them:
    camproxy applies the server's rule (only your own user's threads) by local user name."""
    proxy = camproxy("--users-file", two_local_users)
    with connect(proxy, user="ops", password=kPassword) as victim, \
            connect(proxy, user="app", password=kPassword) as killer:
        greeting, thread = victim.thread_id(), connection_id(victim)
        for statement, named in ((f"KILL {greeting}", greeting), (f"KILL QUERY {thread}", thread),
                                 (f"KILL CONNECTION {thread}", thread)):
            code, message = kill_error(killer, statement)
            assert (code, message) == (1095, f"You are not owner of thread {named}"), statement
        with pytest.raises(pymysql.err.MySQLError) as info:
            killer.kill(thread)
        assert info.value.args[0] == 1095
        assert alive(victim) and one(killer, "SELECT 1") == (1,)
        with connect(proxy, user="ops", password=kPassword) as owner:  # its own user may
            assert one(owner, f"KILL {greeting}") is None
        wait_until(lambda: not alive(victim), 10, "the victim killed by its own user")


# -- CLIENT_IGNORE_SPACE -----------------------------------------------------------------------------------
def sql_mode_has_ignore_space(proxy) -> bool:
    with connect(proxy) as conn:  # PyMySQL does not ask for IGNORE_SPACE
        return "IGNORE_SPACE" in one(conn, "SELECT @@session.sql_mode")[0]


def mariadb_cli(proxy, *options):
    return subprocess.run(["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{proxy.port}", "-ucamtest", "-px",
                           "--batch", "--skip-column-names", *options],
                          capture_output=True, text=True, timeout=kClientTimeout)


def test_ignore_space_for_the_cli_and_not_for_the_next_client(camproxy):
    # One database connection: every client below gets the same one, in turn.
    proxy = camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", "1")
    plain = mariadb_cli(proxy, "-e", kCountWithSpace)
    assert plain.returncode != 0 and "1064" in plain.stderr, "a client without the bit gets the server's syntax"
    for _ in range(2):  # first on a connection dialed for it, then on the pooled one
        done = mariadb_cli(proxy, "--ignore-spaces", "-e", kCountWithSpace + "; SELECT @@session.sql_mode")
        assert done.returncode == 0, done.stderr
        count, mode = done.stdout.split("\n")[:2]
        assert count == "1" and "IGNORE_SPACE" in mode, done.stdout
        assert not sql_mode_has_ignore_space(proxy)


def test_ignore_space_for_node_mysql2_and_not_for_the_next_client(camproxy):
    proxy = camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", "1")
    script = """
const m = require('mysql2/promise');
(async () => {
  const c = await m.createConnection({host: '127.0.0.1', port: %d, user: 'camtest', password: 'x',
                                      connectTimeout: 20000});
  const [count] = await c.query(%s);
  const [mode] = await c.query('SELECT @@session.sql_mode AS m');
  console.log(JSON.stringify({n: Object.values(count[0])[0], mode: mode[0].m}));
  await c.end();
})().catch(e => { console.log(JSON.stringify({error: e.message, errno: e.errno})); });
""" % (proxy.port, json.dumps(kCountWithSpace))
    for _ in range(2):
        out = subprocess.run([shutil.which("node"), "-e", script], capture_output=True, text=True,
                             timeout=kClientTimeout, cwd=str(kNodeDir))
        result = json.loads(out.stdout)
        assert result.get("n") == 1 and "IGNORE_SPACE" in result["mode"], out.stdout + out.stderr
        assert not sql_mode_has_ignore_space(proxy)
