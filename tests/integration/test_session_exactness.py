"""A session through camproxy as a direct one (issue 16): the login OK on a pooled connection
(status flags, session-state information) byte for byte as the test MariaDB's own, and a client's
own wait_timeout ending its idle connection as the server does, compared with a direct
connection each time."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pymysql
import pytest

from raw_mysql_client import ConnectionClosed, RawClient, kSessionTrack
from testutil import wait_until

kIdleTimeout = 1  # the client's SET SESSION wait_timeout
kIdleWait = 2.5   # idle this long before the next query


@pytest.fixture(scope="module")
def proxy(camproxy_module):
    """One worker, so that consecutive clients share its pooled connections."""
    return camproxy_module("--workers", "1", "--pool-min-idle", "1")


def direct(mariadb, database=None, caps=0, collation=45) -> RawClient:
    return RawClient.login(mariadb.port, mariadb.admin_user, mariadb.admin_password, database, caps, collation)


def proxied(proxy, database=None, caps=0, collation=45) -> RawClient:
    return RawClient.login(proxy.port, "camtest", "x", database, caps, collation)


@pytest.mark.parametrize("caps", [0, kSessionTrack], ids=["classic", "session_track"])
@pytest.mark.parametrize("database", [None, "camdb", "mysql"])
@pytest.mark.parametrize("collation", [45, 8], ids=["utf8mb4", "latin1"])
def test_the_login_ok_is_the_servers(proxy, mariadb, caps, database, collation):
    with direct(mariadb, database, caps, collation) as c:
        expected = c.login_payload
    reuses = proxy.metric("camproxy_upstream_reuses_total")
    # Twice: the second login is served by the connection the first one gave back.
    for _ in range(2):
        with proxied(proxy, database, caps, collation) as c:
            assert c.login_payload.hex() == expected.hex()
            assert c.query("SELECT 1") == [[b"1"]]
    assert proxy.metric("camproxy_upstream_reuses_total") > reuses, "a pooled connection served a login"


def test_the_login_ok_after_a_schema_fix_up_tracks_the_schema(proxy, mariadb):
    # The pooled connection has another schema: COM_INIT_DB runs before the OK.
    with proxied(proxy, "mysql", kSessionTrack):
        pass
    with direct(mariadb, "camdb", kSessionTrack) as c:
        expected = c.login_ok
    with proxied(proxy, "camdb", kSessionTrack) as c:
        assert c.login_ok == expected
        assert c.login_ok.schema() == "camdb"


@pytest.mark.parametrize("database", [None, "camdb", "mysql"])
def test_the_change_user_ok_is_the_servers(proxy, mariadb, database):
    # camproxy answers a client's COM_CHANGE_USER itself, after resetting the connection.
    with direct(mariadb, "camdb", kSessionTrack) as c:
        expected = c.change_user(mariadb.admin_user, mariadb.admin_password, database)
    with proxied(proxy, "camdb", kSessionTrack) as c:
        assert c.change_user("camtest", "x", database) == expected


def query_after_idle(connect) -> tuple[type, object]:
    """SET SESSION wait_timeout, idle past it, then a query: what the client sees."""
    with connect() as c:
        c.query(f"SET SESSION wait_timeout = {kIdleTimeout}")
        time.sleep(kIdleWait)
        try:
            return type(None), c.query("SELECT 1")
        except (ConnectionClosed, ConnectionResetError, BrokenPipeError) as e:
            return type(e), None


def test_a_client_idle_past_its_own_wait_timeout_is_closed_as_directly(proxy, mariadb):
    seen_directly = query_after_idle(lambda: direct(mariadb, caps=kSessionTrack))
    assert seen_directly[0] is not type(None), "the server closes the idle connection"
    assert query_after_idle(lambda: proxied(proxy, caps=kSessionTrack)) == seen_directly
    assert "session_idle_timeout" in proxy.log_text()


def pymysql_error_after_idle(port, user, password):
    conn = pymysql.connect(host="127.0.0.1", port=port, user=user, password=password, connect_timeout=10,
                           read_timeout=10)
    with conn.cursor() as cur:
        cur.execute(f"SET SESSION wait_timeout = {kIdleTimeout}")
        time.sleep(kIdleWait)
        with pytest.raises(pymysql.err.OperationalError) as caught:
            cur.execute("SELECT 1")
    return caught.value.args[0]


def test_a_driver_sees_the_same_error_as_directly(proxy, mariadb):
    expected = pymysql_error_after_idle(mariadb.port, mariadb.admin_user, mariadb.admin_password)
    assert pymysql_error_after_idle(proxy.port, "camtest", "x") == expected


def test_a_client_that_set_no_timeout_is_not_closed(proxy):
    with proxied(proxy, caps=kSessionTrack) as c:
        time.sleep(kIdleWait)
        assert c.query("SELECT 1") == [[b"1"]]
    with proxied(proxy) as c:
        c.query(f"SET SESSION wait_timeout = {kIdleTimeout}")
        c.query("SET SESSION wait_timeout = DEFAULT")
        time.sleep(kIdleWait)
        assert c.query("SELECT 1") == [[b"1"]]


def test_a_long_query_is_not_cut_by_the_timeout(proxy):
    with proxied(proxy) as c:
        c.query(f"SET SESSION wait_timeout = {kIdleTimeout}")
        assert c.query(f"SELECT SLEEP({kIdleWait})") == [[b"0"]]
        assert c.query("SELECT 1") == [[b"1"]]


def test_the_pool_serves_the_next_client_after_an_idle_close(proxy):
    query_after_idle(lambda: proxied(proxy))
    with proxied(proxy) as c:
        assert c.query("SELECT @@session.wait_timeout = @@global.wait_timeout") == [[b"1"]]


def test_the_servers_default_wait_timeout_closes_an_idle_client_as_directly(camproxy, mariadb):
    """A client that set nothing has the server's global wait_timeout: the server's close of its
    database connection after that long is the client's close, not a loss to reconnect."""
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("SET GLOBAL wait_timeout = 2")
    try:
        own = camproxy("--workers", "1", "--pool-min-idle", "1")
        # The pool reads the server's wait_timeout on its first connection, before it is idle.
        wait_until(lambda: own.metric("camproxy_upstream_connections_idle") >= 1, 10, "a pooled connection")

        def idle_then_query(connect):
            with connect() as c:
                time.sleep(3)
                try:
                    return type(None), c.query("SELECT 1")
                except (ConnectionClosed, ConnectionResetError, BrokenPipeError) as e:
                    return type(e), None

        seen_directly = idle_then_query(lambda: direct(mariadb))
        assert seen_directly[0] is not type(None)
        assert idle_then_query(lambda: proxied(own)) == seen_directly
        assert "session_idle_timeout" in own.log_text()
    finally:
        with mariadb.admin() as admin, admin.cursor() as cur:
            cur.execute("SET GLOBAL wait_timeout = 28800")


kIgnoreSpace = 0x100  # CLIENT_IGNORE_SPACE
kReset = 0x1F         # COM_RESET_CONNECTION
kSessionLook = ("SELECT @@character_set_client, @@collation_connection, DATABASE(), "
                "FIND_IN_SET('IGNORE_SPACE', @@sql_mode) > 0")


def after_reset(connect, other_charset: str) -> tuple:
    """Another character set and a SET IGNORE_SPACE, then COM_RESET_CONNECTION: its OK and the session."""
    with connect() as c:
        c.query(f"SET NAMES {other_charset}")
        reply = c.command(kReset)
        return reply.hex(), c.query(kSessionLook)


@pytest.mark.parametrize("caps", [0, kSessionTrack | kIgnoreSpace], ids=["classic", "session_track_ignore_space"])
@pytest.mark.parametrize("collation,other", [(45, "latin1"), (8, "utf8mb4")], ids=["utf8mb4", "latin1"])
def test_a_reset_gives_the_clients_handshake_charset_as_directly(proxy, mariadb, caps, collation, other):
    expected = after_reset(lambda: direct(mariadb, "camdb", caps, collation), other)
    assert expected[1][0][:2] != [other.encode(), None], "the server gives back the handshake's character set"
    # Twice, with the client's character set differing from the pooled connection's login one
    # at least once (the previous client's).
    for _ in range(2):
        with proxied(proxy, "camdb", 0, 45 if collation == 8 else 8):
            pass
        assert after_reset(lambda: proxied(proxy, "camdb", caps, collation), other) == expected


def test_a_reset_pipelined_with_a_query_still_works(proxy):
    with proxied(proxy, "camdb") as c:
        c.query("SET @a = 1")
        c.seq = 0
        c.write_packet(bytes([kReset]))
        c.seq = 0
        c.write_packet(b"\x03SELECT @a IS NULL")
        assert c.read_packet()[0] == 0x00  # the reset's OK
        assert c.read_packet() == b"\x01"  # the query's column count
        for _ in range(2):
            c.read_packet()  # column definition, EOF
        assert c.read_packet() == b"\x011"


@pytest.mark.parametrize("database", [None, "mysql"])
def test_change_user_gives_the_schema_and_sql_mode_as_directly(proxy, mariadb, database):
    """Without a database MariaDB leaves none selected; IGNORE_SPACE from the login goes."""
    with direct(mariadb, "camdb", kIgnoreSpace) as c:
        c.change_user(mariadb.admin_user, mariadb.admin_password, database)
        expected = c.query(kSessionLook)
    assert expected[0][2] == (database.encode() if database else None)
    with proxied(proxy, "camdb", kIgnoreSpace) as c:
        c.change_user("camtest", "x", database)
        assert c.query(kSessionLook) == expected
        assert c.query("SELECT 1") == [[b"1"]]


def closed_after_idle(connect, statements: list[str]) -> tuple:
    """The statements, idle past the timeout they set, then a query: what the client sees."""
    with connect() as c:
        seen = [c.query(sql) for sql in statements]
        assert all(not hasattr(r, "code") for r in seen), seen
        time.sleep(kIdleWait)
        try:
            return type(None), c.query("SELECT 1")
        except (ConnectionClosed, ConnectionResetError, BrokenPipeError) as e:
            return type(e), None


def both_idle(connect_direct, connect_proxied, statements: list[str]) -> tuple:
    """closed_after_idle() directly and through camproxy at the same time (half the wait)."""
    with ThreadPoolExecutor(2) as pool:
        direct_run = pool.submit(closed_after_idle, connect_direct, statements)
        proxied_run = pool.submit(closed_after_idle, connect_proxied, statements)
        return direct_run.result(), proxied_run.result()


@pytest.mark.parametrize("statements", [
    ["SET SESSION wait_timeout = 2*1 - 1"],
    ["SET @x = 1", "SET @@session.wait_timeout = @x"],
    ["SET SESSION wait_timeout = (SELECT 1)"],
], ids=["arithmetic", "user_variable", "subquery"])
def test_a_wait_timeout_set_with_an_expression_is_followed_as_directly(proxy, mariadb, statements):
    seen_directly, seen_through = both_idle(lambda: direct(mariadb), lambda: proxied(proxy), statements)
    assert seen_directly[0] is not type(None), "the server closes the idle connection"
    assert seen_through == seen_directly
    with proxied(proxy) as c:  # the value camproxy follows is the server's
        for sql in statements:
            c.query(sql)
        assert c.query("SELECT @@session.wait_timeout") == [[b"1"]]


kInteractive = 0x400  # CLIENT_INTERACTIVE


@pytest.fixture
def interactive_timeout(mariadb):
    """SET GLOBAL interactive_timeout = 1 for the test (a CLIENT_INTERACTIVE login's wait_timeout)."""
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute(f"SET GLOBAL interactive_timeout = {kIdleTimeout}")
    yield kIdleTimeout
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("SET GLOBAL interactive_timeout = 28800")


def test_an_interactive_client_gets_interactive_timeout_as_directly(proxy, mariadb, interactive_timeout):
    # (Not @@session.interactive_timeout: a pooled connection's copy of the globals is from its
    # last reset, docs/compatibility.md.)
    look = ["SELECT @@session.wait_timeout"]
    with direct(mariadb, caps=kInteractive) as c:
        expected = c.query(look[0])
    assert expected == [[b"1"]]
    with proxied(proxy, caps=kInteractive) as c:
        assert c.query(look[0]) == expected
    seen_directly, seen_through = both_idle(lambda: direct(mariadb, caps=kInteractive),
                                            lambda: proxied(proxy, caps=kInteractive), look)
    assert seen_directly[0] is not type(None)
    assert seen_through == seen_directly
    # A reset gives the global wait_timeout back, directly as through camproxy (the login's rule only).
    with direct(mariadb, caps=kInteractive) as c:
        c.command(kReset)
        expected = c.query("SELECT @@session.wait_timeout")
    with proxied(proxy, caps=kInteractive) as c:
        c.command(kReset)
        assert c.query("SELECT @@session.wait_timeout") == expected
        time.sleep(kIdleWait)
        assert c.query("SELECT 1") == [[b"1"]]


def test_set_interactive_timeout_in_a_session_changes_nothing_as_directly(proxy, mariadb):
    statements = [f"SET SESSION interactive_timeout = {kIdleTimeout}"]
    seen_directly, seen_through = both_idle(lambda: direct(mariadb, caps=kInteractive),
                                            lambda: proxied(proxy, caps=kInteractive), statements)
    assert seen_directly == (type(None), [[b"1"]]), "the server reads interactive_timeout at login only"
    assert seen_through == seen_directly
