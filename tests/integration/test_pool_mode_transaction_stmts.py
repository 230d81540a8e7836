"""--pool-mode transaction (issue 15): server-side prepared statements are carried from one shared
database connection to the next instead of pinning the session. Three clients interleave their
statements on one or two connections and each gets its own answers; camproxy's statement ids stay
the client's; a statement is prepared again where it is missing (camproxy_pool_reprepares_total);
COM_STMT_CLOSE, the per-client limit (1461) and the statements of clients that went away behave as
on a dedicated connection and leak nothing on the server. Then the real drivers: PHP PDO without
emulated prepares, go-sql-driver and MariaDB Connector/J (useServerPrepStmts)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pymysql
import pytest

from testutil import wait_until
from txmode_session import camtest_threads, connect, one, transaction_mode

COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_CLOSE = 0x16, 0x17, 0x19
MYSQL_TYPE_LONGLONG = 0x08
kClientsDir = Path(__file__).resolve().parents[1] / "clients" / "stmts"
kConnectorJ = Path("/usr/share/java/mariadb-java-client.jar")
kGoPath = "/usr/share/gocode"






def server_statements(mariadb) -> int:
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")
        return int(cur.fetchone()[1])


def prepare(conn, sql: str) -> tuple[int, int, int]:
    """COM_STMT_PREPARE by hand (PyMySQL has no server-side prepares): (id, params, columns)."""
    conn._execute_command(COM_STMT_PREPARE, sql)
    ok = conn._read_packet().get_all_data()  # an ERR raises
    stmt_id, columns, params = struct.unpack_from("<IHH", ok, 1)
    for section in (params, columns):  # definitions, then an EOF (no CLIENT_DEPRECATE_EOF)
        for _ in range(section + (1 if section else 0)):
            conn._read_packet()
    return stmt_id, params, columns


def execute(conn, stmt_id: int, values: list[int], send_types: bool = True) -> list[tuple[int, ...]]:
    """COM_STMT_EXECUTE of a statement whose parameters are BIGINT and columns all INT or all BIGINT."""
    payload = struct.pack("<IBI", stmt_id, 0, 1)
    if values:
        payload += bytes((len(values) + 7) // 8) + bytes([1 if send_types else 0])
        if send_types:
            payload += struct.pack("<BB", MYSQL_TYPE_LONGLONG, 0) * len(values)
        payload += b"".join(struct.pack("<q", v) for v in values)
    conn._execute_command(COM_STMT_EXECUTE, payload)
    first = conn._read_packet()
    if first.is_ok_packet():
        return []
    columns = first.read_length_encoded_integer()
    for _ in range(columns + 1):
        conn._read_packet()
    rows = []
    while True:
        row = conn._read_packet()
        if row.is_eof_packet():
            return rows
        data = row.get_all_data()
        at = 1 + (columns + 7 + 2) // 8  # 00, NULL bitmap (offset 2)
        size = (len(data) - at) // columns
        rows.append(struct.unpack_from(f"<{columns}{'q' if size == 8 else 'i'}", data, at))


def close(conn, stmt_id: int) -> None:
    conn._execute_command(COM_STMT_CLOSE, struct.pack("<I", stmt_id))  # no reply


def test_three_clients_interleave_their_statements_on_one_connection(camproxy, mariadb):
    proxy = transaction_mode(camproxy, 1)
    clients = {name: connect(proxy) for name in "abc"}
    stmts = {}
    for name, conn in clients.items():
        base = {"a": 100, "b": 200, "c": 300}[name]
        stmts[name] = prepare(conn, f"SELECT CAST(? AS SIGNED) + {base}, CAST(CONNECTION_ID() AS SIGNED)")
        assert stmts[name][1:] == (1, 2)
    for round_ in range(3):  # each execute may follow another client's on the one connection
        for name, conn in clients.items():
            base = {"a": 100, "b": 200, "c": 300}[name]
            ((value, _),) = execute(conn, stmts[name][0], [round_], send_types=round_ == 0)
            assert value == base + round_, name
    assert camtest_threads(mariadb) == 1
    assert proxy.metric("camproxy_pool_pins_total", reason="prepared_statement") == 0
    assert proxy.metric("camproxy_pool_pinned_sessions") == 0
    assert proxy.metric("camproxy_pool_shared_sessions") == 3
    assert proxy.metric("camproxy_pool_reprepares_total") == 0  # one connection: prepared there once
    for conn in clients.values():
        conn.close()


def test_a_statement_missing_on_the_connection_is_prepared_there_again(camproxy, mariadb):
    proxy = transaction_mode(camproxy, 2)
    a, b = connect(proxy), connect(proxy)
    stmt_id, _, _ = prepare(a, "SELECT CAST(? AS SIGNED) * 2, CAST(CONNECTION_ID() AS SIGNED)")
    ((_, first_thread),) = execute(a, stmt_id, [1])
    one(b, "BEGIN")  # B pins the connection A prepared on: A's next execute needs a second one
    one(b, "SELECT CONNECTION_ID()")
    # No types this time: the server has them for A's statement only where A sent them.
    ((value, thread),) = execute(a, stmt_id, [21], send_types=False)
    assert (value, thread != first_thread) == (42, True)
    assert proxy.metric("camproxy_pool_reprepares_total") == 1
    assert proxy.metric("camproxy_pool_pins_total", reason="prepared_statement") == 0
    one(b, "COMMIT")
    assert execute(a, stmt_id, [5], send_types=False)[0][0] == 10  # wherever it runs now
    a.close()
    b.close()


def test_close_unknown_ids_and_the_per_client_limit(camproxy, mariadb):
    proxy = transaction_mode(camproxy, 1)
    before = server_statements(mariadb)
    a = connect(proxy)
    stmt_id, _, _ = prepare(a, "SELECT 1")
    assert server_statements(mariadb) == before + 1
    close(a, stmt_id)
    assert one(a, "SELECT 2") == (2,)
    assert server_statements(mariadb) == before
    with pytest.raises(pymysql.err.OperationalError) as unknown:  # closed: unknown, as on the server
        execute(a, stmt_id, [])
    assert unknown.value.args[0] == 1243
    ids = [prepare(a, "SELECT 3")[0] for _ in range(1024)]
    assert len(set(ids)) == 1024 and stmt_id not in ids  # never reused within the session
    with pytest.raises(pymysql.err.OperationalError) as limit:
        prepare(a, "SELECT 4")
    assert limit.value.args[0] == 1461
    assert execute(a, ids[-1], []) == [(3,)]  # the session goes on
    a.close()
    wait_until(lambda: server_statements(mariadb) == before + 1024, 10, "the statements to stay until used")
    # The connection went back to the pool holding a's statements; the next client there closes them.
    b = connect(proxy)
    assert one(b, "SELECT 5") == (5,)
    assert server_statements(mariadb) == before
    b.close()


def test_mariadbs_last_prepared_id_names_the_clients_own_statement(camproxy, mariadb):
    """0xFFFFFFFF ("the statement last prepared", MariaDB's COM_STMT_EXECUTE): pipelined behind the
    client's prepare it is the server's to resolve; after it, camproxy's, even where another client
    prepared something on the shared connection since."""
    proxy = transaction_mode(camproxy, 1)
    a, b = connect(proxy), connect(proxy)
    sql = "SELECT CAST(? AS SIGNED) + 1000"
    a._write_bytes(struct.pack("<I", 1 + len(sql))[:3] + b"\0" + bytes([COM_STMT_PREPARE]) + sql.encode())
    # Connector/C's prepare-and-execute: the execute goes out before the PREPARE_OK comes back.
    rest = struct.pack("<IBI", 0xFFFFFFFF, 0, 1) + bytes(1) + bytes([1]) + struct.pack("<BBq", MYSQL_TYPE_LONGLONG, 0, 1)
    a._write_bytes(struct.pack("<I", 1 + len(rest))[:3] + b"\0" + bytes([COM_STMT_EXECUTE]) + rest)
    a._next_seq_id = 1
    ok = a._read_packet().get_all_data()
    (stmt_id,) = struct.unpack_from("<I", ok, 1)
    for _ in range(4):  # one parameter definition, EOF, one column definition, EOF
        a._read_packet()
    a._next_seq_id = 1
    a._read_packet()  # the execute's column count
    a._read_packet()
    a._read_packet()
    row = a._read_packet().get_all_data()
    assert struct.unpack_from("<q", row, 2) == (1001,)
    assert a._read_packet().is_eof_packet()
    prepare(b, "SELECT CAST(? AS SIGNED) + 2000")  # now the server's last prepared on the connection
    assert execute(a, 0xFFFFFFFF, [2]) == [(1002,)]
    assert execute(a, stmt_id, [3]) == [(1003,)]
    a.close()
    b.close()


def run_interleave(command: list[str], proxy, rounds: int = 3) -> dict:
    done = subprocess.run([*command, "127.0.0.1", str(proxy.port), "camtest", "x", "camdb", str(rounds)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def java_command(tmp_path) -> list[str]:
    done = subprocess.run(["javac", "-cp", str(kConnectorJ), "-d", str(tmp_path), str(kClientsDir / "Interleave.java")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return ["java", "-cp", f"{tmp_path}:{kConnectorJ}", "Interleave"]


def go_command(tmp_path) -> list[str]:
    binary = tmp_path / "interleave"
    done = subprocess.run(["go", "build", "-o", str(binary), str(kClientsDir / "interleave.go")],
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GO111MODULE": "off",
                               "GOPATH": kGoPath, "GOCACHE": str(tmp_path / "go-cache")})
    assert done.returncode == 0, done.stderr
    return [str(binary)]


DRIVERS = {
    "php_pdo": (lambda tmp: ["php", str(kClientsDir / "interleave.php")], "php"),
    "go_sql_driver": (go_command, "go"),
    "connector_j": (java_command, "java"),
}


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_real_drivers_interleave_without_pinning(camproxy, mariadb, tmp_path, driver):
    make_command, tool = DRIVERS[driver]
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (deploy/setup-debian.sh installs it)")
    command = make_command(tmp_path)
    proxy = transaction_mode(camproxy, 1)
    before = server_statements(mariadb)
    out = run_interleave(command, proxy)
    for name, base in {"a": 100, "b": 200, "c": 300}.items():
        assert out[name]["rows"] == [[str(base + r), name] for r in range(3)], (name, out)
        assert out[name]["again"] == f"{name}-again"
    # All three ran on the one database connection, one after another.
    assert len({i for name in "abc" for i in out[name]["ids"]}) == 1
    assert proxy.metric("camproxy_pool_pins_total", reason="prepared_statement") == 0
    assert camtest_threads(mariadb) == 1
    # The drivers closed what they prepared, or left with it: nothing stays prepared on the server
    # once the next client has used the connection.
    with connect(proxy) as probe:
        one(probe, "SELECT 1")
    assert server_statements(mariadb) == before
