"""--pool-mode transaction (issue 15): clients share database connections between commands, each
seeing its own session (schema, SET statements, SET NAMES, LAST_INSERT_ID()), while what pins a
session (a transaction, a temporary table, a user variable, GET_LOCK, warnings) keeps its
connection private; KILL still reaches a client's statement. A login takes no database connection:
only its first command does. Re-creating a session rides in front of its command (no round trip of
its own), LAST_INSERT_ID() is read after the client has its reply, and the schema the server reports
(SESSION_TRACK) is followed. Server-side prepared statements are carried instead of pinned:
test_pool_mode_transaction_stmts.py."""

from __future__ import annotations

import threading
import time

import pymysql
import pytest
from pymysql.constants import CLIENT

from test_pool_handover import DelayRelay
from raw_mysql_client import RawClient, kSessionTrack
from testutil import wait_until
from txmode_session import camtest_threads, connect, one, transaction_mode






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


kRelayDelayUs = 50_000  # each way: a database round trip is 100 ms, far above a loaded machine's noise


@pytest.fixture
def relay(mariadb, tmp_path):
    with DelayRelay(mariadb.port, kRelayDelayUs, tmp_path) as r:
        yield r


def test_attach_fix_ups_ride_with_the_command_and_last_insert_id_costs_the_client_nothing(camproxy, relay):
    """Counted by the delay relay: a command whose session differs from what the connection holds
    only in what cannot fail (LAST_INSERT_ID(), a reset on a server that answered one before) is
    one database round trip; a COM_INIT_DB or a replayed SET (which may fail and leave another
    client's schema or value) is answered first, two."""
    proxy = camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", "1", "--pool-mode", "transaction",
                     upstream=relay.address)
    a, b, c = connect(proxy), connect(proxy), connect(proxy, database="mysql")
    one(a, "SELECT 1")  # the connection now has a's session: no fix-up below
    with a.cursor() as cur:
        cur.execute("INSERT INTO camdb.txpool_ids (who) VALUES ('a')")
        a_id = cur.lastrowid
    # The insert's changed rows keep the connection (ROW_COUNT()) until the next response, after
    # which LAST_INSERT_ID() is read: behind that reply, which comes after one round trip.
    started = time.monotonic()
    assert one(a, "SELECT 2") == (2,)
    seconds = time.monotonic() - started
    assert seconds < 1.5 * 2 * kRelayDelayUs / 1e6, seconds
    wait_until(lambda: proxy.metric("camproxy_pool_shared_sessions") == 3, 10, "the connection shared again")

    def round_trips(conn, sql, expected):
        before = relay.answered()
        assert one(conn, sql) == expected, sql
        return relay.answered() - before

    # b takes a's connection: SET last_insert_id = 0 and the SELECT in one round trip.
    assert round_trips(b, "SELECT LAST_INSERT_ID()", (0,)) == 1
    assert round_trips(a, "SELECT LAST_INSERT_ID()", (a_id,)) == 1
    global_tz = one(a, "SELECT @@global.time_zone")[0]
    one(b, "SET time_zone = '+01:00'")  # the connection now carries b's SET
    # a must not see it: a reset first. The first one waits for its answer (a server may refuse it)...
    assert round_trips(a, "SELECT @@session.time_zone", (global_tz,)) == 2
    # ... b's SET is replayed, and the command waits for it (a SET may fail and leave a's value) ...
    assert round_trips(b, "SELECT @@session.time_zone", ("+01:00",)) == 2
    # ... and once the server has answered a reset, the next one rides with the command.
    assert round_trips(a, "SELECT @@session.time_zone", (global_tz,)) == 1
    # c's schema: COM_INIT_DB first (its ERR would leave a's schema), then the command.
    assert round_trips(c, "SELECT DATABASE()", ("mysql",)) == 2
    for conn in (a, b, c):
        conn.close()


def test_last_insert_id_follows_each_client_exactly(camproxy):
    """Three clients on one connection: an insert naming its id reports that id in its OK but leaves
    LAST_INSERT_ID() alone, LAST_INSERT_ID(expr) sets it without an insert: each client sees its own."""
    proxy = transaction_mode(camproxy, 1)
    clients = {name: connect(proxy) for name in "abc"}
    want = {}
    for name, conn in clients.items():
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO camdb.txpool_ids (who) VALUES ('{name}')")
            want[name] = cur.lastrowid
        one(conn, "SELECT 1")  # ends the insert's last_result pin (ROW_COUNT()): the others may run
    with clients["b"].cursor() as cur:  # an explicit id: the OK says 900000+, LAST_INSERT_ID() stays
        cur.execute("INSERT INTO camdb.txpool_ids (id, who) VALUES (900000 + CONNECTION_ID() % 1000, 'b')")
        assert cur.lastrowid >= 900000
    one(clients["b"], "SELECT 1")
    one(clients["c"], "SELECT LAST_INSERT_ID(77)")
    want["c"] = 77
    for _ in range(2):
        for name, conn in clients.items():
            assert one(conn, "SELECT LAST_INSERT_ID()") == (want[name],), name
    for conn in clients.values():
        conn.close()


def test_a_schema_the_sql_text_cannot_follow_is_followed_from_the_servers_session_tracker(camproxy):
    """A client with CLIENT_SESSION_TRACK gets the server's SESSION_TRACK_SCHEMA: a USE in a
    multi-statement that failed after it no longer keeps the connection (on one connection the
    other client would wait past the borrow timeout), and the schema follows the client."""
    proxy = camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", "1", "--pool-mode", "transaction",
                     "--pool-borrow-timeout", "2s")
    flags = CLIENT.MULTI_STATEMENTS | CLIENT.SESSION_TRACK
    a, b = connect(proxy, client_flag=flags), connect(proxy, client_flag=flags)
    with a.cursor() as cur:
        cur.execute("USE information_schema; SELECT * FROM camdb.no_such_table")
        with pytest.raises(pymysql.err.ProgrammingError):
            cur.nextset()
    # The error keeps the connection for the next command (SHOW WARNINGS); then it is shared.
    assert one(a, "SELECT DATABASE()") == ("information_schema",)
    for _ in range(2):
        assert one(b, "SELECT DATABASE()") == ("camdb",)
        assert one(a, "SELECT DATABASE()") == ("information_schema",)
    assert proxy.metric("camproxy_pool_pinned_sessions") == 0
    a.close()
    b.close()


def test_a_fix_up_the_server_refuses_fails_the_command_before_it_runs(camproxy, mariadb):
    """A's schema is dropped while A holds no connection: the COM_INIT_DB in front of its next
    command fails, and the command (an unqualified INSERT, which on B's schema would find a table
    of the same name) never runs: A gets 9005 naming the server's refusal, once."""
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS txpool_gone")
        cur.execute("DELETE FROM camdb.txpool_private")
        admin.commit()
    proxy = transaction_mode(camproxy, 1)
    a, b = connect(proxy, database="txpool_gone"), connect(proxy)
    assert one(b, "SELECT DATABASE()") == ("camdb",)  # the connection is in camdb now
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("DROP DATABASE txpool_gone")
    dials = proxy.metric("camproxy_upstream_dials_total")
    with pytest.raises(pymysql.err.OperationalError) as refused:
        one(a, "INSERT INTO txpool_private VALUES (99)")
    assert refused.value.args[0] == 9005, refused.value.args
    assert "re-creating the session on a shared connection failed" in refused.value.args[1]
    assert "txpool_gone" in refused.value.args[1]
    assert one(b, "SELECT COUNT(*) FROM camdb.txpool_private") == (0,)
    assert proxy.metric("camproxy_upstream_dials_total") <= dials + 1  # b's own dial: a's attach was not retried
    b.close()


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
