"""The upstream pool (issue: persistent upstream pool and transparent reconnect): reuse without
state leaks, pool keys, connect-per-request cost, dead connections never handed out, transparent
reconnect where safe and a clear error where not, and KILL through camproxy."""

from __future__ import annotations

import threading
import time

import pymysql
import pytest
from pymysql.constants import CLIENT

from conftest import kPoolMode, not_in_transaction_mode
from testutil import wait_until


def connect(proxy, **kwargs):
    params = dict(host="127.0.0.1", port=proxy.port, user="camtest", password="x", database="camdb",
                  connect_timeout=10, read_timeout=30, autocommit=True)
    params.update(kwargs)
    return pymysql.connect(**params)


def one(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def thread_id(conn) -> int:
    return one(conn, "SELECT CONNECTION_ID()")[0]


@pytest.fixture
def single(camproxy):
    """One worker and at most one database connection: consecutive clients share it."""
    return camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", "1")


# -- no state leak ----------------------------------------------------------------------------
LEAKS = {
    # name: (statements of client A, query of client B, what B must see)
    "schema": (["USE mysql"], "SELECT DATABASE()", ("camdb",)),
    "temporary_table": (["CREATE TEMPORARY TABLE leak_t (a INT)"], "SELECT * FROM leak_t", 1146),
    "user_variable": (["SET @leak = 42"], "SELECT @leak", (None,)),
    "sql_mode": (["SET SESSION sql_mode = 'ANSI_QUOTES'"], "SELECT @@session.sql_mode = @@global.sql_mode", (1,)),
    "time_zone": (["SET time_zone = '+05:00'"], "SELECT @@session.time_zone = @@global.time_zone", (1,)),
    "transaction": (["CREATE TABLE IF NOT EXISTS leak_trx (a INT)", "BEGIN", "INSERT INTO leak_trx VALUES (1)"],
                    "SELECT @@in_transaction, (SELECT COUNT(*) FROM leak_trx)", (0, 0)),
    "prepared_statement": (["PREPARE leak_ps FROM 'SELECT 1'"], "EXECUTE leak_ps", 1243),
    # MariaDB 10.11 keeps a role across COM_RESET_CONNECTION: the pool ends it (issue 17).
    "role": (["SET ROLE camproxy_role"], "SELECT CURRENT_ROLE()", (None,)),
    "get_lock": (["SELECT GET_LOCK('leak_lock', 0)"], "SELECT IS_USED_LOCK('leak_lock')", (None,)),
    # The reset gives back the login character set; the pool must not believe the client's.
    "character_set": (["SET NAMES latin1"], "SELECT @@character_set_client, @@character_set_results",
                      ("utf8mb4", "utf8mb4")),
    # Under a leaked LOCK TABLES, any other table would fail with 1100 "was not locked".
    "lock_tables": (["CREATE TABLE IF NOT EXISTS leak_other (a INT)", "CREATE TABLE IF NOT EXISTS leak_lt (a INT)",
                     "LOCK TABLES leak_lt WRITE"], "SELECT COUNT(*) FROM leak_other", (0,)),
}


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_no_state_leaks_to_the_next_client(single, name):
    statements, probe, expected = LEAKS[name]
    with connect(single) as a:
        tid = thread_id(a)
        for sql in statements:
            one(a, sql)
    with connect(single) as b:
        assert thread_id(b) == tid, "the test needs B on A's pooled connection"
        if isinstance(expected, int):  # the probe must fail with this error: the state is gone
            with pytest.raises(pymysql.err.MySQLError) as info:
                one(b, probe)
            assert info.value.args[0] == expected
        else:
            assert one(b, probe) == expected
        assert one(b, "SELECT @@autocommit")[0] == 1


def test_client_charset_is_applied_on_a_reused_connection(single):
    with connect(single, charset="latin1") as a:
        tid = thread_id(a)
        assert one(a, "SELECT @@character_set_client")[0] == "latin1"
    with connect(single, charset="utf8mb4") as b:
        assert thread_id(b) == tid
        assert one(b, "SELECT @@character_set_client, @@character_set_results") == ("utf8mb4", "utf8mb4")
    with connect(single, charset="latin1") as c:
        assert one(c, "SELECT @@character_set_client")[0] == "latin1"


# -- the schema the pool believes a returned connection has --------------------------------------
# A cleanup is one COM_RESET_CONNECTION (which keeps the schema) when the session tracked every
# schema change; where it cannot vouch for it, the pool looks. A wrong belief would skip the
# COM_INIT_DB of the next client who wants that schema.
def warm_up(proxy, **kwargs):
    """A few clients and their returns: the first returns look at the session (and teach the pool
    the collation names and whether a reset restores the login collation), so the next return
    may skip the look: what the tests below are about."""
    for _ in range(3):
        with connect(proxy, **kwargs) as conn:
            one(conn, "DO 1")


def test_multi_statement_use_before_an_error_is_not_believed(single):
    warm_up(single, client_flag=CLIENT.MULTI_STATEMENTS)
    with connect(single, client_flag=CLIENT.MULTI_STATEMENTS) as a, a.cursor() as cur:
        tid = thread_id(a)
        cur.execute("USE mysql; SELECT * FROM no_such_table_anywhere")
        with pytest.raises(pymysql.err.ProgrammingError):  # PyMySQL reads the second result here
            cur.nextset()
        assert one(a, "SELECT DATABASE()") == ("mysql",)
    with connect(single, client_flag=CLIENT.MULTI_STATEMENTS) as b:
        assert thread_id(b) == tid
        assert one(b, "SELECT DATABASE()") == ("camdb",)


def test_dropped_current_database_is_not_believed(single, mariadb):
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("GRANT ALL ON pool_dropped.* TO 'camtest'@'%'")
    warm_up(single)
    with connect(single) as a:
        tid = thread_id(a)
        one(a, "CREATE DATABASE IF NOT EXISTS pool_dropped")
        one(a, "USE pool_dropped")
        one(a, "DROP DATABASE pool_dropped")  # the session has no current database now
        one(a, "CREATE DATABASE pool_dropped")
    with connect(single, database="pool_dropped") as b:
        assert thread_id(b) == tid
        assert one(b, "SELECT DATABASE()") == ("pool_dropped",)
    with connect(single) as c:
        one(c, "DROP DATABASE pool_dropped")


def test_multi_statements_turned_off_by_the_client_are_restored(single):
    """COM_SET_OPTION survives the reset (spec §5.1): the next client that asked for
    MULTI_STATEMENTS must have it on again."""
    with connect(single, client_flag=CLIENT.MULTI_STATEMENTS) as a:
        tid = thread_id(a)
        a._execute_command(0x1b, b"\x01\x00")  # COM_SET_OPTION: MULTI_STATEMENTS off
        a._read_packet()
        with pytest.raises(pymysql.err.ProgrammingError):
            one(a, "SELECT 1; SELECT 2")
    with connect(single, client_flag=CLIENT.MULTI_STATEMENTS) as b, b.cursor() as cur:
        assert thread_id(b) == tid
        cur.execute("SELECT 1; SELECT 2")
        assert cur.fetchone() == (1,)
        assert cur.nextset() and cur.fetchone() == (2,)


@not_in_transaction_mode("a connection goes back to the pool without a cleanup")
def test_cleanup_of_a_plain_session_is_one_command(single, mariadb):
    """After the first returns (which look at the session and learn whether a reset gives the
    login character set back), returning a connection sends COM_RESET_CONNECTION alone: no
    SELECT, no SET NAMES on the server."""
    warm_up(single)
    selects, sets, dos = (mariadb.status(v) for v in ("Com_select", "Com_set_option", "Com_do"))
    cleanups = single.metric("camproxy_pool_cleanups_total", method="reset")
    for _ in range(30):
        with connect(single) as conn:
            one(conn, "DO 1")
    wait_until(lambda: single.metric("camproxy_pool_cleanups_total", method="reset") >= cleanups + 30, 10,
               "the last connection to be returned")
    assert mariadb.status("Com_do") - dos == 30
    assert mariadb.status("Com_select") - selects == 0
    assert mariadb.status("Com_set_option") - sets == 0


# -- pool keys ----------------------------------------------------------------------------------
def test_found_rows_clients_get_their_own_semantics(single):
    with connect(single) as setup:
        one(setup, "CREATE TABLE IF NOT EXISTS key_rows (id INT PRIMARY KEY, v INT)")
        one(setup, "REPLACE INTO key_rows VALUES (1, 1)")
    for flag, expected in ((CLIENT.FOUND_ROWS, 1), (0, 0), (CLIENT.FOUND_ROWS, 1), (0, 0)):
        with connect(single, client_flag=flag) as conn, conn.cursor() as cur:
            assert cur.execute("UPDATE key_rows SET v = 1 WHERE id = 1") == expected


def test_multi_statements_only_for_clients_that_asked(single):
    for flag in (CLIENT.MULTI_STATEMENTS, 0, CLIENT.MULTI_STATEMENTS, 0):
        with connect(single, client_flag=flag) as conn, conn.cursor() as cur:
            if flag:
                cur.execute("SELECT 1; SELECT 2")
                assert cur.fetchone() == (1,)
                assert cur.nextset() and cur.fetchone() == (2,)
            else:
                with pytest.raises(pymysql.err.ProgrammingError):
                    cur.execute("SELECT 1; SELECT 2")


def test_deprecate_eof_and_classic_clients_share_nothing_wrong(camproxy):
    proxy = camproxy("--workers", "1")
    import subprocess, json, shutil
    node = shutil.which("node")
    # mysql2 (no DEPRECATE_EOF) and the mariadb CLI (DEPRECATE_EOF via libmariadb) alternate.
    for _ in range(2):
        out = subprocess.run(["mariadb", "-h127.0.0.1", f"-P{proxy.port}", "-ucamtest", "-px", "-N", "-e",
                              "SELECT 'cli', COUNT(*) FROM information_schema.COLLATIONS WHERE ID < 10"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.startswith("cli"), out.stderr
        script = ("const m=require('mysql2');const c=m.createConnection({host:'127.0.0.1',port:%d,user:'camtest',"
                  "password:'x'});c.query('SELECT 1 AS a',(e,r)=>{console.log(JSON.stringify(e?{e:e.message}:r));"
                  "c.end();});" % proxy.port)
        res = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30,
                             cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1] / "node"))
        assert json.loads(res.stdout) == [{"a": 1}], res.stdout + res.stderr


# -- cost of a connection per request -----------------------------------------------------------
def test_connect_per_request_reuses_upstream_logins(camproxy, mariadb):
    proxy = camproxy()
    before = mariadb.status("Connections")
    for _ in range(2000):
        conn = pymysql.connect(host="127.0.0.1", port=proxy.port, user="camtest", password="x", connect_timeout=10)
        assert one(conn, "SELECT 1") == (1,)
        conn.close()
    logins = mariadb.status("Connections") - before
    assert logins <= 20, f"{logins} database logins for 2000 client connections"


def test_connect_per_request_at_pool_max_waits_for_the_returning_connection(camproxy, mariadb):
    """A client arriving while the only pooled connection is still being reset after the previous
    client waits for it, not for a slot of the borrow queue: no new database login."""
    proxy = camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", "1")
    with connect(proxy) as conn:  # the one connection exists and is pooled
        assert one(conn, "SELECT 1") == (1,)
    before = mariadb.status("Connections")
    for i in range(300):
        conn = connect(proxy)
        assert one(conn, "SELECT 1") == (1,), i
        conn.close()
    assert mariadb.status("Connections") - before == 1  # the status query's own
    if kPoolMode == "session":  # in transaction mode the connection is shared without a reset
        assert proxy.metric("camproxy_pool_cleanups_total", method="reset") >= 300


# -- dead connections are never handed out ------------------------------------------------------
def pooled_thread_ids(mariadb):
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'camtest' AND COMMAND = 'Sleep'")
        return [row[0] for row in cur.fetchall()]


def test_server_kill_of_idle_pooled_connections(camproxy, mariadb):
    proxy = camproxy("--pool-min-idle", "4")
    wait_until(lambda: len(pooled_thread_ids(mariadb)) >= 4, 15, "4 warm connections")
    with mariadb.admin() as admin, admin.cursor() as cur:
        for tid in pooled_thread_ids(mariadb):
            cur.execute(f"KILL {tid}")
    for _ in range(10):
        with connect(proxy) as conn:
            assert one(conn, "SELECT 1") == (1,)
    wait_until(lambda: len(pooled_thread_ids(mariadb)) >= 4, 15, "the pool refilled")


def test_wait_timeout_expiry_never_reaches_a_client(camproxy, mariadb):
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("SET GLOBAL wait_timeout = 2")
    try:
        proxy = camproxy("--pool-min-idle", "2")
        time.sleep(3)  # the server closes every idle connection: this is the condition under test
        for _ in range(5):
            with connect(proxy) as conn:
                assert one(conn, "SELECT 1") == (1,)
    finally:
        with mariadb.admin() as admin, admin.cursor() as cur:
            cur.execute("SET GLOBAL wait_timeout = 28800")


# -- transparent reconnect -------------------------------------------------------------------------
def kill_thread(mariadb, tid):
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute(f"KILL {tid}")


def test_idle_session_survives_its_connection_dying(camproxy, mariadb):
    proxy = camproxy("--workers", "1")
    with connect(proxy, database=None) as conn:
        one(conn, "USE camdb")
        one(conn, "SET time_zone = '+03:00'")
        one(conn, "SET NAMES latin1")
        old = thread_id(conn)
        kill_thread(mariadb, old)
        time.sleep(0.2)
        assert one(conn, "SELECT DATABASE(), @@time_zone, @@character_set_client") == ("camdb", "+03:00", "latin1")
        assert thread_id(conn) != old


def test_session_inside_a_transaction_gets_a_clear_error(camproxy, mariadb):
    proxy = camproxy("--workers", "1")
    conn = connect(proxy, autocommit=False)
    one(conn, "CREATE TABLE IF NOT EXISTS trx_lost (a INT)")
    one(conn, "INSERT INTO trx_lost VALUES (1)")
    kill_thread(mariadb, thread_id(conn))
    time.sleep(0.2)
    with pytest.raises(pymysql.err.MySQLError) as info:
        one(conn, "SELECT 1")
    assert info.value.args[0] in (9005, 2013)
    if info.value.args[0] == 9005:
        assert "open transaction" in info.value.args[1]
    conn.close()


def test_session_with_user_variables_is_not_silently_changed(camproxy, mariadb):
    proxy = camproxy("--workers", "1")
    conn = connect(proxy)
    one(conn, "SET @important = 1")
    kill_thread(mariadb, thread_id(conn))
    time.sleep(0.2)
    with pytest.raises(pymysql.err.MySQLError) as info:
        one(conn, "SELECT @important")
    assert info.value.args[0] in (9005, 2013)
    conn.close()


def test_upstream_restart_idle_sessions_resume_and_pool_refills(camproxy, mariadb):
    proxy = camproxy("--pool-min-idle", "2")
    idle = connect(proxy)
    one(idle, "SELECT 1")
    trx = connect(proxy, autocommit=False)
    one(trx, "CREATE TABLE IF NOT EXISTS restart_t (a INT)")
    one(trx, "INSERT INTO restart_t VALUES (1)")
    mariadb.restart()
    time.sleep(0.5)
    assert one(idle, "SELECT 2") == (2,)  # transparent
    with pytest.raises(pymysql.err.MySQLError):
        one(trx, "SELECT 1")
    trx.close()
    idle.close()
    wait_until(lambda: len(pooled_thread_ids(mariadb)) >= 2, 15, "the pool refilled after the restart")


# -- KILL ------------------------------------------------------------------------------------------
def test_kill_query_cancels_a_long_select_and_the_session_stays_usable(camproxy):
    proxy = camproxy()
    victim = connect(proxy)
    victim_id = victim.thread_id()  # camproxy's id from the greeting, as the CLI uses for Ctrl-C
    result = {}

    def run():
        t0 = time.monotonic()
        try:
            result["value"] = one(victim, "SELECT SLEEP(30)")
        except pymysql.err.MySQLError as e:
            result["error"] = e.args[0]
        result["seconds"] = time.monotonic() - t0

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    with connect(proxy) as killer:
        one(killer, f"KILL QUERY {victim_id}")
    t.join(10)
    assert not t.is_alive()
    assert result["seconds"] < 2.5
    assert result.get("value") == (1,) or result.get("error") in (1317, 1927)  # MariaDB: SLEEP returns 1
    assert one(victim, "SELECT 'still here'") == ("still here",)
    victim.close()


def test_kill_connection_closes_that_client_only(camproxy):
    proxy = camproxy()
    victim = connect(proxy)
    bystander = connect(proxy)
    with connect(proxy) as killer:
        one(killer, f"KILL {victim.thread_id()}")
    time.sleep(0.3)
    with pytest.raises(pymysql.err.MySQLError):
        one(victim, "SELECT 1")
    assert one(bystander, "SELECT 1") == (1,)
    bystander.close()


def test_kill_of_an_unknown_id_is_1094_and_touches_nothing(camproxy, mariadb):
    proxy = camproxy("--pool-min-idle", "2")
    wait_until(lambda: len(pooled_thread_ids(mariadb)) >= 2, 15, "warm connections")
    pooled = pooled_thread_ids(mariadb)
    with connect(proxy) as killer:
        for target in (999999, pooled[0]):  # a pooled database thread id is not a camproxy id
            with pytest.raises(pymysql.err.MySQLError) as info:
                one(killer, f"KILL {target}")
            assert info.value.args[0] == 1094
        assert one(killer, "SELECT 1") == (1,)
    assert set(pooled) <= set(pooled_thread_ids(mariadb)) | {thread for thread in pooled
                                                              if thread not in pooled_thread_ids(mariadb)}
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {pooled[1]}")
        assert cur.fetchone()[0] == 1


def test_a_refused_kill_changes_nothing(camproxy, mariadb):
    # Another user's session: camproxy answers the server's 1095 itself (issue 16), in the
    # application's terms (its id, never the database thread's).
    proxy = camproxy(db_user="*")
    victim = connect(proxy, user="camtls", database=None)
    victim_thread = thread_id(victim)
    with connect(proxy) as killer:
        with pytest.raises(pymysql.err.MySQLError) as info:
            one(killer, f"KILL {victim.thread_id()}")
        code, message = info.value.args
        assert (code, message) == (1095, f"You are not owner of thread {victim.thread_id()}")
        assert one(killer, "SELECT 1") == (1,)
    # Not marked killed: when its database connection is lost between commands, the victim
    # still gets its transparent reconnect.
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute(f"KILL {victim_thread}")
    if kPoolMode == "session":  # in transaction mode its next command takes another connection
        wait_until(lambda: "reconnected" in proxy.log_text(), 10, "a transparent reconnect")
    assert one(victim, "SELECT CURRENT_USER()")[0] == "camtls@%"
    assert thread_id(victim) != victim_thread
    victim.close()
    assert "kill_refused_locally" in proxy.log_text()


# -- COM_CHANGE_USER ---------------------------------------------------------------------------------
def test_change_user_resets_the_session_and_switches_schema(camproxy):
    import json
    import pathlib
    import shutil
    import subprocess
    proxy = camproxy()
    script = """
const m = require('mysql2/promise');
(async () => {
  const c = await m.createConnection({host: '127.0.0.1', port: %d, user: 'camtest', password: 'x',
                                      database: 'camdb', connectTimeout: 20000});
  await c.query("SET @before_change = 1");
  await c.changeUser({user: 'camtest', password: 'y', database: 'mysql'});
  const [rows] = await c.query("SELECT DATABASE() AS db, @before_change AS v");
  console.log(JSON.stringify(rows[0]));
  await c.end();
})().catch(e => { console.log(JSON.stringify({error: e.message, errno: e.errno})); });
""" % proxy.port
    out = subprocess.run([shutil.which("node"), "-e", script], capture_output=True, text=True, timeout=60,
                         cwd=str(pathlib.Path(__file__).resolve().parents[1] / "node"))
    assert json.loads(out.stdout) == {"db": "mysql", "v": None}, out.stdout + out.stderr
