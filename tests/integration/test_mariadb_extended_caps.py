"""MariaDB's extended capabilities through camproxy (issue 16, docs/capabilities.md).

camproxy's greeting mirrors the MariaDB database's: CLIENT_MYSQL (bit 0) clear and the extended
capabilities it relays (PROGRESS, STMT_BULK_OPERATIONS, EXTENDED_METADATA, CACHE_METADATA) in
the reserved bytes; a libmariadb client negotiates them, camproxy asks the database for the same
on that client's connection, and the pool keeps connections of different extended bits apart.

Packet taps (a relay that records both directions) sit between the client and camproxy and
between camproxy and MariaDB (--upstream-tls disable, so the login is readable): they show what
each side offered and asked for. Each client's results are compared with the same client run
directly against MariaDB. A tracker that lost its place would not break the relay (bytes still
flow) but would keep the connection out of the pool: the tests check that the connection went
back to the pool and that camproxy logged no tracker fault.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass

import MySQLdb
import pymysql
import pytest

from testutil import wait_until

kLongPassword = 1  # CLIENT_MYSQL: clear in a MariaDB greeting, then extended caps follow
kMariaDbRelayable = 0x1D  # PROGRESS | STMT_BULK_OPERATIONS | EXTENDED_METADATA | CACHE_METADATA
kDeprecateEof = 1 << 24
kComQuery, kComPing, kComQuit, kComStmtPrepare, kComStmtBulkExecute = 0x03, 0x0E, 0x01, 0x16, 0xFA
kTable = "camdb.ext_caps"


class Tap:
    """A TCP relay that records each connection's bytes in both directions."""

    def __init__(self, target_port: int):
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections: list[dict[str, bytearray]] = []
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target), timeout=10)
            server.settimeout(None)
            record = {"c2s": bytearray(), "s2c": bytearray()}
            self.connections.append(record)
            self._sockets += [client, server]
            for src, dst, key in ((client, server, "c2s"), (server, client, "s2c")):
                threading.Thread(target=self._pump, args=(src, dst, record[key]), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, log: bytearray) -> None:
        try:
            while data := src.recv(65536):
                log += data
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            sock.close()


def packets(stream: bytes) -> list[bytes]:
    out, at = [], 0
    while at + 4 <= len(stream):
        size = int.from_bytes(stream[at:at + 3], "little")
        out.append(bytes(stream[at + 4:at + 4 + size]))
        at += 4 + size
    return out


def greeting_caps(payload: bytes) -> tuple[int, int]:
    """(capabilities, MariaDB extended capabilities) of a HandshakeV10 (spec §2.1, §3.1)."""
    at = payload.index(0, 1) + 1 + 4 + 8 + 1
    caps = struct.unpack_from("<H", payload, at)[0] | struct.unpack_from("<H", payload, at + 5)[0] << 16
    ext = 0 if caps & kLongPassword else struct.unpack_from("<I", payload, at + 2 + 1 + 2 + 2 + 1 + 6)[0]
    return caps, ext


def login_caps(payload: bytes) -> tuple[int, int]:
    """(capabilities, extended capabilities) of a HandshakeResponse41 or SSLRequest (spec §2.4)."""
    caps = struct.unpack_from("<I", payload)[0]
    return caps, 0 if caps & kLongPassword else struct.unpack_from("<I", payload, 28)[0]


def negotiated(record: dict[str, bytearray]) -> tuple[tuple[int, int], tuple[int, int]]:
    """What the server side of a tapped connection offered, and what its client asked for."""
    return greeting_caps(packets(record["s2c"])[0]), login_caps(packets(record["c2s"])[0])


@dataclass
class Setup:
    mariadb: object
    proxy: object
    client_tap: Tap
    upstream_tap: Tap

    def cleanups(self) -> float:
        return self.proxy.metric("camproxy_pool_cleanups_total", method="reset")

    def wait_cleanups(self, count: float) -> None:
        """A connection goes back to the pool (reset) only if its tracker ended idle: one that
        lost its place is closed instead."""
        wait_until(lambda: self.cleanups() >= count, 15, f"{count} connections reset for the pool")

    def no_tracker_fault(self) -> None:
        assert "relay_tracker_fault" not in self.proxy.log_text()


@pytest.fixture(scope="module")
def setup(mariadb, camproxy_module):
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {kTable}")
        cur.execute(f"CREATE TABLE {kTable} (id INT PRIMARY KEY, v VARCHAR(20), doc JSON)")
        cur.execute(f"INSERT INTO {kTable} VALUES (1, 'one', '{{\"a\": 1}}'), (2, 'two', '{{\"b\": 2}}'), "
                    "(3, NULL, NULL)")
    upstream_tap = Tap(mariadb.port)
    proxy = camproxy_module("--workers", "1", "--pool-min-idle", "0", "--pool-max", "4",
                            upstream=f"127.0.0.1:{upstream_tap.port}", upstream_tls="disable")
    client_tap = Tap(proxy.port)
    yield Setup(mariadb, proxy, client_tap, upstream_tap)
    client_tap.close()
    upstream_tap.close()


def mysqldb(port: int, user: str = "camtest", password: str = "x"):
    """python3-mysqldb (libmariadb); closed at the end of the with block."""
    return contextlib.closing(MySQLdb.connect(host="127.0.0.1", port=port, user=user, passwd=password, db="camdb",
                                              connect_timeout=10))


def rows(conn, sql: str):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchall()


def test_libmariadb_negotiates_the_extended_caps_on_both_hops(setup, mariadb):
    direct = Tap(mariadb.port)
    with mysqldb(direct.port, mariadb.admin_user, mariadb.admin_password) as conn:
        expected = rows(conn, f"SELECT id, v FROM {kTable} ORDER BY id")
    direct_greeting, direct_login = negotiated(direct.connections[0])
    direct.close()
    assert direct_greeting[1] & kMariaDbRelayable == kMariaDbRelayable  # what MariaDB 10.11 offers

    taps_before = len(setup.client_tap.connections)
    upstream_before = len(setup.upstream_tap.connections)
    cleanups = setup.cleanups()
    with mysqldb(setup.client_tap.port) as conn:
        assert rows(conn, f"SELECT id, v FROM {kTable} ORDER BY id") == expected
    greeting, login = negotiated(setup.client_tap.connections[taps_before])
    assert greeting[0] & kLongPassword == 0
    assert greeting[1] == direct_greeting[1] & kMariaDbRelayable
    assert login[1] == direct_login[1] == kMariaDbRelayable
    # camproxy's own login to MariaDB asked for the same extended capabilities.
    dialed = setup.upstream_tap.connections[upstream_before:]
    assert dialed and all(negotiated(r)[1][1] == kMariaDbRelayable for r in dialed)
    setup.wait_cleanups(cleanups + 1)

    # PyMySQL sets CLIENT_MYSQL: it negotiates no extended caps, on either hop.
    upstream_before = len(setup.upstream_tap.connections)
    conn = pymysql.connect(host="127.0.0.1", port=setup.proxy.port, user="camtest", password="x",
                           database="camdb")
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT id, v FROM {kTable} ORDER BY id")
        assert cur.fetchall() == expected
    dialed = setup.upstream_tap.connections[upstream_before:]
    assert dialed and all(negotiated(r)[1][1] == 0 for r in dialed)
    setup.no_tracker_fault()


def test_the_pool_serves_a_connection_only_to_clients_with_its_extended_caps(setup):
    """Three clients with the same standard capabilities: the second asks for no extended caps,
    so it must not get the first one's pooled connection; the third asks for the first one's."""
    def client_session(ext: int) -> tuple[int, int]:
        cleanups = setup.cleanups()
        upstream_before = len(setup.upstream_tap.connections)
        client = RawClient(setup.proxy.port, "camtest", "x", ext)
        thread = int(client.query_value("SELECT CONNECTION_ID()"))
        client.close()
        dialed = setup.upstream_tap.connections[upstream_before:]
        assert all(negotiated(r)[1][1] == ext for r in dialed)
        setup.wait_cleanups(cleanups + 1)
        return thread, len(dialed)

    first, _ = client_session(kMariaDbRelayable)
    second, dialed = client_session(0)
    assert second != first and dialed == 1
    third, dialed = client_session(kMariaDbRelayable)
    assert third == first and dialed == 0
    setup.no_tracker_fault()


kPerlPrepared = r"""
use DBI;
my ($port, $user, $password) = @ARGV;
my $dbh = DBI->connect("DBI:MariaDB:database=camdb;host=127.0.0.1;port=$port;mariadb_server_prepare=1",
                       $user, $password, {RaiseError => 1, PrintError => 0});
my $sth = $dbh->prepare("SELECT id, v, doc FROM camdb.ext_caps WHERE id >= ? ORDER BY id");
for my $from (1, 2) {
  $sth->execute($from);
  while (my $row = $sth->fetchrow_arrayref) { print join("|", map { $_ // "NULL" } @$row), "\n"; }
  print "--\n";
}
"""


def run(args: list[str], **kwargs) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, **kwargs)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_prepared_statement_executed_twice_with_cached_metadata(setup, mariadb):
    direct = run(["perl", "-e", kPerlPrepared, str(mariadb.port), mariadb.admin_user, mariadb.admin_password])
    cleanups = setup.cleanups()
    taps_before = len(setup.client_tap.connections)
    through = run(["perl", "-e", kPerlPrepared, str(setup.client_tap.port), "camtest", "x"])
    assert through == direct
    assert through.count("--") == 2 and "1|one|" in through
    record = setup.client_tap.connections[taps_before]
    assert negotiated(record)[1][1] & 0x10, "DBD::MariaDB did not ask for CACHE_METADATA"
    # The executes' column count said metadata_follows = 0: no column definitions were resent.
    assert bytes([3, 0]) in packets(record["s2c"])
    setup.wait_cleanups(cleanups + 1)
    setup.no_tracker_fault()


def test_json_type_information_from_extended_metadata(setup, mariadb):
    query = f"SELECT doc FROM {kTable} WHERE id = 1;"

    def type_info(port: int, user: str, password: str) -> str:
        out = run(["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{port}", f"-u{user}", f"-p{password}",
                   "camdb", "--column-type-info", "-t"], input=query)
        return out

    direct = type_info(mariadb.port, mariadb.admin_user, mariadb.admin_password)
    through = type_info(setup.proxy.port, "camtest", "x")
    assert "BLOB (format=json)" in direct
    assert through == direct
    setup.no_tracker_fault()


# -- COM_STMT_BULK_EXECUTE from a raw client (no Debian client library sends it) ------------------

class RawClient:
    """A client that speaks just enough protocol: DEPRECATE_EOF, CLIENT_MYSQL clear and the
    extended capabilities given."""

    kCaps = (0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | (1 << 17) | (1 << 18) | (1 << 19) | kDeprecateEof)

    def __init__(self, port: int, user: str, password: str, ext: int = kMariaDbRelayable):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        greeting = self.read()
        at = greeting.index(0, 1) + 1 + 4
        nonce = greeting[at:at + 8] + greeting[at + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10:][:12]
        h1 = hashlib.sha1(password.encode()).digest()
        h2 = hashlib.sha1(nonce + hashlib.sha1(h1).digest()).digest()
        auth = bytes(a ^ b for a, b in zip(h1, h2))
        login = (struct.pack("<IIB", self.kCaps, 1 << 24, 45) + bytes(19) + struct.pack("<I", ext) +
                 user.encode() + b"\0" + bytes([len(auth)]) + auth + b"camdb\0" + b"mysql_native_password\0")
        self.send(login, 1)
        reply = self.read()
        while reply[0] in (0x01, 0xFE):  # fast auth ok / a switch (camproxy takes any answer)
            if reply[0] == 0xFE:
                self.send(auth, self.seq + 1)
            reply = self.read()
        assert reply[0] == 0x00, reply

    def send(self, payload: bytes, seq: int = 0) -> None:
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([seq]) + payload)

    def read(self) -> bytes:
        while len(self.buf) < 4 or len(self.buf) < 4 + int.from_bytes(self.buf[:3], "little"):
            data = self.sock.recv(65536)
            assert data, "connection closed"
            self.buf += data
        size = int.from_bytes(self.buf[:3], "little")
        self.seq = self.buf[3]
        payload, self.buf = self.buf[4:4 + size], self.buf[4 + size:]
        return payload

    def query_value(self, sql: str) -> str:
        """The first column of the only row of a text result (a value under 251 bytes)."""
        self.send(bytes([kComQuery]) + sql.encode())
        count = self.read()
        if count[1:2] != b"\0":  # no metadata_follows byte, or 1: the definitions come
            for _ in range(count[0]):
                self.read()
        row = self.read()
        assert self.read()[0] == 0xFE  # the FE-OK terminator
        return row[1:1 + row[0]].decode()

    def prepare(self, sql: str) -> int:
        self.send(bytes([kComStmtPrepare]) + sql.encode())
        ok = self.read()
        assert ok[0] == 0, ok
        stmt, columns, params = struct.unpack_from("<IHH", ok, 1)
        for _ in range(columns + params):
            self.read()
        return stmt

    def bulk(self, stmt: int, values: list[tuple[int, bytes]]) -> list[bytes]:
        """COM_STMT_BULK_EXECUTE of (BIGINT, VARCHAR) rows; the reply up to its OK or ERR."""
        out = bytes([kComStmtBulkExecute]) + struct.pack("<IH", stmt, 128) + bytes([8, 0, 0xFD, 0])
        for key, text in values:
            out += b"\0" + struct.pack("<q", key) + b"\0" + bytes([len(text)]) + text
        self.send(out)
        reply = [self.read()]
        if reply[0][0] in (0x00, 0xFF):
            return reply
        count, metadata_follows = reply[0][0], reply[0][1:2] != b"\0"  # column count < 251, CACHE_METADATA
        reply += [self.read() for _ in range(count if metadata_follows else 0)]
        while reply[-1][0] not in (0xFE, 0xFF) or len(reply) == 1 + count:  # binary rows start with 00
            reply.append(self.read())
        return reply

    def close(self) -> None:
        self.send(bytes([kComQuit]))
        self.sock.close()


def bulk_session(port: int, user: str, password: str, first_key: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    client = RawClient(port, user, password)
    insert = client.prepare(f"INSERT INTO {kTable} (id, v) VALUES (?, ?)")
    three = client.bulk(insert, [(first_key, b"a"), (first_key + 1, b"bb"), (first_key + 2, b"ccc")])
    duplicate = client.bulk(insert, [(first_key + 3, b"d"), (first_key, b"dup")])
    returning = client.prepare(f"INSERT INTO {kTable} (id, v) VALUES (?, ?) RETURNING id, v")
    rows_back = client.bulk(returning, [(first_key + 10, b"x"), (first_key + 11, b"yy")])
    client.close()
    return three, duplicate, rows_back


def test_stmt_bulk_execute_is_answered_as_directly(setup, mariadb):
    direct = bulk_session(mariadb.port, mariadb.admin_user, mariadb.admin_password, 100)
    cleanups = setup.cleanups()
    through = bulk_session(setup.proxy.port, "camtest", "x", 200)
    assert through[0] == direct[0] and through[0][0][:2] == b"\x00\x03"  # OK, 3 rows
    assert through[1][0][:3] == direct[1][0][:3] == b"\xff\x26\x04"  # ERR 1062 (duplicate key)
    assert len(through[2]) == len(direct[2]) == 6  # count, 2 definitions, 2 rows, OK
    assert through[2][-2].endswith(b"yy") and direct[2][-2].endswith(b"yy")
    setup.wait_cleanups(cleanups + 1)
    setup.no_tracker_fault()
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id, v FROM {kTable} WHERE id >= 200 ORDER BY id")
        # The failed bulk inserted nothing (one statement: its first row was rolled back too).
        assert cur.fetchall() == ((200, "a"), (201, "bb"), (202, "ccc"), (210, "x"), (211, "yy"))


def test_progress_reports_do_not_end_the_response(setup):
    cleanups = setup.cleanups()
    taps_before = len(setup.client_tap.connections)
    with mysqldb(setup.client_tap.port) as conn:
        cur = conn.cursor()
        cur.execute("SET SESSION progress_report_time = 1")
        cur.execute("CREATE TEMPORARY TABLE big (id INT PRIMARY KEY, v INT)")
        cur.execute("INSERT INTO big SELECT seq, seq FROM seq_1_to_200000")
        started = time.monotonic()
        cur.execute("ALTER TABLE big ADD COLUMN w INT, ALGORITHM=COPY")
        assert cur.rowcount == 200000
        cur.execute("SELECT COUNT(*) FROM big")
        assert cur.fetchone() == (200000,)
        cur.execute("DROP TEMPORARY TABLE big")
    record = setup.client_tap.connections[taps_before]
    reports = [p for p in packets(record["s2c"]) if p[:3] == b"\xff\xff\xff"]
    assert reports, f"no progress report in {time.monotonic() - started:.1f} s of ALTER"
    setup.wait_cleanups(cleanups + 1)
    setup.no_tracker_fault()
