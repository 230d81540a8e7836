"""--pool-mode transaction (issue 15): clients share database connections between commands, each
seeing its own session (schema, SET statements, SET NAMES, LAST_INSERT_ID()), while what pins a
session (a transaction, a temporary table, a user variable, GET_LOCK, warnings, a prepared
statement) keeps its connection private; KILL still reaches a client's statement. A login takes no
database connection: only its first command does."""

from __future__ import annotations

import struct
import threading
import time

import pymysql
import pytest

from raw_mysql_client import RawClient, kSessionTrack
from testutil import wait_until

COM_STMT_PREPARE, COM_STMT_EXECUTE = 0x16, 0x17


def connect(proxy, **kwargs):
    params = dict(host="127.0.0.1", port=proxy.port, user="camtest", password="x", database="camdb",
                  connect_timeout=10, read_timeout=30, autocommit=True)
    params.update(kwargs)
    return pymysql.connect(**params)


def one(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()


def camtest_threads(mariadb) -> int:
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'camtest'")
        return cur.fetchone()[0]


def transaction_mode(camproxy, pool_max: int):
    return camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", str(pool_max),
                    "--pool-mode", "transaction")


@pytest.fixture(scope="module", autouse=True)
def tables(mariadb):
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS camdb.txpool_ids (id INT AUTO_INCREMENT PRIMARY KEY, who CHAR(1))")
        cur.execute("CREATE TABLE IF NOT EXISTS camdb.txpool_private (a INT) ENGINE=InnoDB")
        cur.execute("DELETE FROM camdb.txpool_private")
        admin.commit()


def test_three_clients_on_one_connection_each_see_their_own_session(camproxy, mariadb):
    proxy = transaction_mode(camproxy, 1)
    clients = {name: connect(proxy) for name in "abc"}  # at --pool-max 1: each login gave it back
    a, b, c = clients["a"], clients["b"], clients["c"]
    wanted = {
        "a": ("mysql", "ANSI_QUOTES", "+01:00", "latin1"),
        "b": ("information_schema", "PIPES_AS_CONCAT", "+02:00", "utf8mb3"),
        "c": ("camdb", None, None, "utf8mb4"),
    }
    for name, (schema, sql_mode, tz, names) in wanted.items():
        conn = clients[name]
        one(conn, f"USE {schema}")
        if sql_mode:
            one(conn, f"SET SESSION sql_mode = '{sql_mode}'")
        if tz:
            one(conn, f"SET time_zone = '{tz}'")
        one(conn, f"SET NAMES {names}")
    ids = {}
    for name, conn in clients.items():
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO camdb.txpool_ids (who) VALUES ('{name}')")
            ids[name] = cur.lastrowid
        one(conn, "SELECT 1")  # the insert is no longer the last statement
    assert len(set(ids.values())) == 3
    global_mode = one(c, "SELECT @@global.sql_mode")[0]
    global_tz = one(c, "SELECT @@global.time_zone")[0]
    for _ in range(2):  # interleaved: every statement may run after another client's
        for name, (schema, sql_mode, tz, names) in wanted.items():
            conn = clients[name]
            assert one(conn, "SELECT DATABASE()") == (schema,), name
            assert one(conn, "SELECT @@session.sql_mode")[0] == (sql_mode or global_mode), name
            assert one(conn, "SELECT @@session.time_zone")[0] == (tz or global_tz), name
            assert one(conn, "SELECT @@character_set_client, @@character_set_results") == (names, names), name
            assert one(conn, "SELECT LAST_INSERT_ID()") == (ids[name],), name
    # They share: one database connection, the same CONNECTION_ID() for all three.
    assert len({one(conn, "SELECT CONNECTION_ID()")[0] for conn in clients.values()}) == 1
    assert camtest_threads(mariadb) == 1
    assert proxy.metric("camproxy_pool_shared_sessions") == 3
    assert proxy.metric("camproxy_pool_pinned_sessions") == 0
    for conn in clients.values():
        conn.close()


REASON = {"warnings": "last_result"}

# name: (statements of client A, B's probe, what B must see, A's check, what A must still see)
PRIVATE = {
    "transaction": (["BEGIN", "INSERT INTO camdb.txpool_private VALUES (1)"],
                    "SELECT @@in_transaction, (SELECT COUNT(*) FROM camdb.txpool_private)", (0, 0),
                    "SELECT @@in_transaction, (SELECT COUNT(*) FROM camdb.txpool_private)", (1, 1)),
    "temporary_table": (["CREATE TEMPORARY TABLE txpool_tmp (a INT)"], "SELECT COUNT(*) FROM txpool_tmp", 1146,
                        "SELECT COUNT(*) FROM txpool_tmp", (0,)),
    "user_variable": (["SET @txpool_v = 7"], "SELECT @txpool_v", (None,), "SELECT @txpool_v", (7,)),
    # B runs on another connection: the lock is someone else's.
    "get_lock": (["SELECT GET_LOCK('txpool_lock', 0)"], "SELECT IS_USED_LOCK('txpool_lock') = CONNECTION_ID()",
                 (0,), "SELECT RELEASE_LOCK('txpool_lock')", (1,)),
    "warnings": (["SELECT CAST('x' AS SIGNED)"], "SELECT @@warning_count", (0,), "SELECT @@warning_count", (1,)),
}


@pytest.mark.parametrize("name", sorted(PRIVATE))
def test_what_pins_a_session_stays_private(camproxy, mariadb, name):
    """A and B share the one connection after their logins; A's statements pin it, so B's probe
    must dial a second one (--pool-max 2) instead of seeing A's state."""
    statements, probe, expected, check, still = PRIVATE[name]
    proxy = transaction_mode(camproxy, 2)
    with connect(proxy) as a, connect(proxy) as b:
        for sql in statements:
            one(a, sql)
        tid_a = one(a, "SELECT CONNECTION_ID()")[0] if name != "warnings" else None
        if isinstance(expected, int):
            with pytest.raises(pymysql.err.MySQLError) as err:
                one(b, probe)
            assert err.value.args[0] == expected
        else:
            assert one(b, probe) == expected
        assert one(a, check) == still
        if tid_a is not None:
            assert one(b, "SELECT CONNECTION_ID()")[0] != tid_a
        assert camtest_threads(mariadb) == 2
        assert proxy.metric("camproxy_pool_pins_total", reason=REASON.get(name, name)) >= 1
        if name == "transaction":
            one(a, "ROLLBACK")
            wait_until(lambda: proxy.metric("camproxy_pool_pinned_sessions") == 0, 5, "the pin to end")


def test_a_prepared_statement_pins_its_session(camproxy, mariadb):
    proxy = transaction_mode(camproxy, 2)
    with connect(proxy) as a, connect(proxy) as b:
        a._execute_command(COM_STMT_PREPARE, "DO 1")
        prepare_ok = a._read_packet()
        (stmt_id,) = struct.unpack_from("<I", prepare_ok.get_all_data(), 1)
        tid_a = one(a, "SELECT CONNECTION_ID()")[0]
        assert one(b, "SELECT CONNECTION_ID()")[0] != tid_a  # B could not take A's connection
        a._execute_command(COM_STMT_EXECUTE, struct.pack("<IBI", stmt_id, 0, 1))
        result = pymysql.connections.MySQLResult(a)
        result.read()  # an ERR (unknown statement) would raise
        assert proxy.metric("camproxy_pool_pins_total", reason="prepared_statement") == 1
        assert proxy.metric("camproxy_pool_pinned_sessions") == 1


def test_kill_reaches_a_shared_session(camproxy, mariadb):
    proxy = transaction_mode(camproxy, 2)
    with connect(proxy) as victim, connect(proxy) as killer:
        victim_id = victim.thread_id()  # the greeting's id: stable while the database thread changes
        errors = []

        def sleep():
            try:
                one(victim, "SELECT SLEEP(20)")
            except pymysql.err.MySQLError as e:
                errors.append(e.args[0])

        t = threading.Thread(target=sleep)
        started = time.monotonic()
        t.start()
        with mariadb.admin() as admin, admin.cursor() as cur:
            def sleeping():
                cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(20)'")
                return cur.fetchone()[0] == 1
            wait_until(sleeping, 10, "the victim's statement to run")
        one(killer, f"KILL QUERY {victim_id}")
        t.join(10)
        # SLEEP() interrupted by KILL QUERY returns 1 (MariaDB), or the statement fails with 1317.
        assert time.monotonic() - started < 10 and not t.is_alive()
        assert errors in ([], [1317])
        assert one(victim, "SELECT 2") == (2,)  # the session goes on
        # Between commands it holds no connection: KILL marks it, its next command finds it closed.
        one(killer, f"KILL {victim_id}")
        with pytest.raises(pymysql.err.OperationalError):
            one(victim, "SELECT 3")


def test_a_command_that_waits_past_the_borrow_timeout_gets_9008_and_may_retry(camproxy):
    proxy = camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", "1", "--pool-mode", "transaction",
                     "--pool-borrow-timeout", "1s")
    holder, waiter = connect(proxy), connect(proxy)
    one(holder, "BEGIN")  # pins the only connection
    one(holder, "SELECT 1")
    started = time.monotonic()
    with pytest.raises(pymysql.err.OperationalError) as refused:
        one(waiter, "SELECT 2")
    waited = time.monotonic() - started
    assert refused.value.args[0] == 9008, refused.value.args
    assert 1.0 <= waited < 5.0, waited
    one(holder, "COMMIT")  # the connection is free again
    assert one(waiter, "SELECT 3") == (3,)  # the same client connection, still logged in
    holder.close()
    waiter.close()


def test_a_login_takes_no_connection_only_its_first_command_does(camproxy, mariadb):
    """At --pool-max 1 with the one connection inside another client's transaction, a login is
    answered at once (its OK byte for byte the server's), and its first command waits in the
    borrow queue until the transaction ends."""
    proxy = transaction_mode(camproxy, 1)
    holder = connect(proxy)  # its login checked camdb on the connection, so later ones need none
    one(holder, "BEGIN")
    one(holder, "SELECT 1")
    expected = {}
    for caps in (0, kSessionTrack):
        for database in (None, "camdb"):
            with RawClient.login(mariadb.port, mariadb.admin_user, mariadb.admin_password, database, caps) as c:
                expected[caps, database] = c.login_payload
    for (caps, database), payload in expected.items():
        started = time.monotonic()
        with RawClient.login(proxy.port, "camtest", "x", database, caps) as c:
            assert c.login_payload.hex() == payload.hex(), (caps, database)
        assert time.monotonic() - started < 2.0, (caps, database)
    waiter = connect(proxy)
    answers = []
    t = threading.Thread(target=lambda: answers.append(one(waiter, "SELECT DATABASE(), 7")))
    t.start()
    wait_until(lambda: proxy.metric("camproxy_pool_borrow_waiting", target="default") == 1, 10,
               "the first command to borrow")
    assert answers == []
    one(holder, "COMMIT")
    t.join(10)
    assert answers == [("camdb", 7)]
    assert camtest_threads(mariadb) == 1
    holder.close()
    waiter.close()


def test_a_login_to_a_schema_not_there_fails_at_login_as_directly(camproxy):
    """The server's own refusal (1049 here; 1044 for a schema not allowed takes the same path:
    a schema not yet seen is checked on a connection before the login's OK)."""
    proxy = transaction_mode(camproxy, 2)
    with connect(proxy):  # the account's camdb is known now; this schema is not
        pass
    for _ in range(2):  # the second time too: a refused schema is never taken as checked
        with pytest.raises(pymysql.err.OperationalError) as refused:
            connect(proxy, database="txpool_no_such_db")
        assert refused.value.args[0] == 1049, refused.value.args
