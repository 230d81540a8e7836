#!/usr/bin/python3
"""Records MariaDB command responses for tests/protocol/response_tracker_test.cc.

Usage: /usr/bin/python3 capture_responses.py [OUT_DIR [SCENARIO...]]
  (default: this folder, every scenario; naming scenarios re-records only those, so the others'
  files, whose statement and connection ids the tests quote, stay as they are)

Starts a throwaway MariaDB 10.11 (tests/tools/mariadb_server.py, no TLS), logs in as the
harness account with a hand-built HandshakeResponse41 whose capability flags each capture
chooses (with / without DEPRECATE_EOF, SESSION_TRACK; the "mariadb_" modes clear CLIENT_MYSQL and
ask for MariaDB's extended capabilities), runs one scenario of raw commands and
writes every frame it sent (c2s) or received (s2c), in the order sent / received, as
rt_<scenario>_<mode>.hex in the capture_relay.py format.

This client does not parse responses (finding where they end is the job of the code under
test): after each command it reads until the server has been silent for kQuiet seconds.
That is a capture tool's wait, not a test's: the tests only read the files.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from mariadb_server import MariaDB  # noqa: E402

kQuiet = 0.4

# Capability bits (protocol/constants.h).
LONG_PASSWORD, LONG_FLAG, CONNECT_WITH_DB = 1, 4, 8
LOCAL_FILES, PROTOCOL_41, TRANSACTIONS, SECURE_CONNECTION = 0x80, 0x200, 0x2000, 0x8000
MULTI_STATEMENTS, MULTI_RESULTS, PS_MULTI_RESULTS, PLUGIN_AUTH = 1 << 16, 1 << 17, 1 << 18, 1 << 19
SESSION_TRACK, DEPRECATE_EOF = 1 << 23, 1 << 24
# MariaDB extended capabilities (protocol/constants.h mariadb_cap), sent when LONG_PASSWORD
# (CLIENT_MYSQL) is clear.
MARIADB_PROGRESS, MARIADB_STMT_BULK_OPERATIONS = 1 << 0, 1 << 2
MARIADB_EXTENDED_METADATA, MARIADB_CACHE_METADATA = 1 << 3, 1 << 4
kMariaDbCaps = (MARIADB_PROGRESS | MARIADB_STMT_BULK_OPERATIONS | MARIADB_EXTENDED_METADATA |
                MARIADB_CACHE_METADATA)

kBaseCaps = (LONG_PASSWORD | LONG_FLAG | CONNECT_WITH_DB | LOCAL_FILES | PROTOCOL_41 |
             TRANSACTIONS | SECURE_CONNECTION | MULTI_STATEMENTS | MULTI_RESULTS |
             PS_MULTI_RESULTS | PLUGIN_AUTH)
kModes = {  # mode: (capabilities, MariaDB extended capabilities)
    "eof": (kBaseCaps, 0),
    "deprecate_eof": (kBaseCaps | DEPRECATE_EOF, 0),
    "track": (kBaseCaps | DEPRECATE_EOF | SESSION_TRACK, 0),
    "track_eof": (kBaseCaps | SESSION_TRACK, 0),
    "mariadb_eof": (kBaseCaps & ~LONG_PASSWORD, kMariaDbCaps),
    "mariadb_deprecate_eof": ((kBaseCaps & ~LONG_PASSWORD) | DEPRECATE_EOF, kMariaDbCaps),
}

COM_QUIT, COM_INIT_DB, COM_QUERY, COM_FIELD_LIST, COM_STATISTICS = 0x01, 0x02, 0x03, 0x04, 0x09
COM_PING, COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_SEND_LONG_DATA = 0x0E, 0x16, 0x17, 0x18
COM_STMT_CLOSE, COM_SET_OPTION, COM_STMT_FETCH, COM_RESET_CONNECTION = 0x19, 0x1B, 0x1C, 0x1F
COM_CHANGE_USER = 0x11
COM_STMT_BULK_EXECUTE, BULK_SEND_TYPES = 0xFA, 128
MYSQL_TYPE_LONGLONG, MYSQL_TYPE_VAR_STRING = 0x08, 0xFD
CURSOR_TYPE_READ_ONLY = 1

kSetup = [
    "DROP TABLE IF EXISTS camdb.t, camdb.log",
    "DROP PROCEDURE IF EXISTS camdb.p",
    "CREATE TABLE camdb.t (id INT PRIMARY KEY, v VARCHAR(20))",
    "INSERT INTO camdb.t VALUES (1, 'one'), (2, NULL), (3, 'three')",
    "CREATE TABLE camdb.log (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))",
    "CREATE PROCEDURE camdb.p() BEGIN SELECT 1 AS a; SELECT 2 AS b, 'x' AS c; END",
]


def frame(payload: bytes, seq: int) -> bytes:
    assert len(payload) < 0xFFFFFF
    return len(payload).to_bytes(3, "little") + bytes([seq & 0xFF]) + payload


def native_scramble(password: bytes, nonce: bytes) -> bytes:
    h1 = hashlib.sha1(password).digest()
    h2 = hashlib.sha1(nonce + hashlib.sha1(h1).digest()).digest()
    return bytes(a ^ b for a, b in zip(h1, h2))


class Session:
    """One raw client connection that records every frame."""

    def __init__(self, db: MariaDB, caps: int, mariadb_caps: int):
        self.caps = caps
        self.mariadb_caps = mariadb_caps
        self.db = db
        self.frames: list[tuple[str, bytes]] = []
        self.sock = socket.create_connection(("127.0.0.1", db.port))
        self._pending = b""
        greeting = self.read(expect_frames=1)[0]
        self.server_version = greeting[1:greeting.index(0, 1)].decode()
        pos = greeting.index(0, 1) + 1 + 4
        nonce = greeting[pos:pos + 8]
        pos += 8 + 1 + 2 + 1 + 2 + 2
        auth_len = greeting[pos]
        pos += 1 + 10
        nonce += greeting[pos:pos + max(13, auth_len - 8) - 1]
        auth = native_scramble(db.admin_password.encode(), nonce)
        filler = bytes(19) + struct.pack("<I", mariadb_caps)  # 23 bytes, ext caps at the end
        resp = (struct.pack("<IIB", caps, 64 << 20, 45) + filler + db.admin_user.encode() + b"\0" +
                bytes([len(auth)]) + auth + b"camdb\0" + b"mysql_native_password\0")
        self.send(resp, seq=1)
        login = self.read()
        assert login[-1][0] == 0x00, f"login failed: {login[-1]!r}"

    def send(self, payload: bytes, seq: int = 0) -> None:
        data = frame(payload, seq)
        self.frames.append(("c2s", data))
        self.sock.sendall(data)

    def read(self, expect_frames: int = 0) -> list[bytes]:
        """Reads frames until the server is quiet (and at least expect_frames arrived)."""
        payloads: list[bytes] = []
        self.sock.settimeout(kQuiet)
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                if len(payloads) >= expect_frames and not self._pending:
                    return payloads
                continue
            if not data:
                assert not self._pending, "connection closed mid-frame"
                return payloads
            buf = self._pending + data
            while len(buf) >= 4:
                size = 4 + int.from_bytes(buf[:3], "little")
                if len(buf) < size:
                    break
                self.frames.append(("s2c", buf[:size]))
                payloads.append(buf[4:size])
                buf = buf[size:]
            self._pending = buf

    def command(self, payload: bytes) -> list[bytes]:
        self.send(payload)
        return self.read(expect_frames=1)

    def query(self, sql: str) -> list[bytes]:
        return self.command(bytes([COM_QUERY]) + sql.encode())

    def no_reply(self, payload: bytes) -> None:
        self.send(payload)
        assert self.read() == [], "a command without a response got one"

    def prepare(self, sql: str) -> int:
        first = self.command(bytes([COM_STMT_PREPARE]) + sql.encode())[0]
        assert first[0] == 0x00, f"prepare failed: {first!r}"
        return struct.unpack_from("<I", first, 1)[0]

    def quit(self) -> None:
        self.send(bytes([COM_QUIT]))
        self.read()
        self.sock.close()


def execute(stmt: int, flags: int = 0, params: list[tuple[int, bytes | None]] = ()) -> bytes:
    """COM_STMT_EXECUTE: params are (type, value); value None = sent with SEND_LONG_DATA."""
    out = bytes([COM_STMT_EXECUTE]) + struct.pack("<IBI", stmt, flags, 1)
    if params:
        out += bytes((len(params) + 7) // 8) + b"\x01"
        out += b"".join(bytes([t, 0]) for t, _ in params)
        out += b"".join(v for _, v in params if v is not None)
    return out


# -- scenarios: (name, modes, action text for the header, function) -----------------------

def select_rows(s: Session) -> None:
    s.query("SELECT id, v FROM camdb.t ORDER BY id")


def empty_resultset(s: Session) -> None:
    s.query("SELECT id FROM camdb.t WHERE id < 0")


def insert_ok(s: Session) -> None:
    s.query("BEGIN")
    s.query("INSERT INTO camdb.log (v) VALUES ('a'), ('b')")
    s.query("COMMIT")


def error(s: Session) -> None:
    s.query("SELECT * FROM camdb.nosuch")


def error_mid_rows(s: Session) -> None:
    s.query("SELECT id, IF(id = 3, (SELECT 1 UNION SELECT 2), id) AS x FROM camdb.t ORDER BY id")


def multi_statement(s: Session) -> None:
    s.query("SELECT 1 AS a; SELECT 2 AS b; SELECT * FROM camdb.nosuch; SELECT 4 AS d")


def call(s: Session) -> None:
    s.query("CALL camdb.p()")


def prepared(s: Session) -> None:
    sel = s.prepare("SELECT id, v FROM camdb.t WHERE id > ?")
    s.command(execute(sel, params=[(MYSQL_TYPE_LONGLONG, struct.pack("<q", 1))]))
    s.no_reply(bytes([COM_STMT_CLOSE]) + struct.pack("<I", sel))
    ins = s.prepare("INSERT INTO camdb.log (v) VALUES (?)")
    s.no_reply(bytes([COM_STMT_SEND_LONG_DATA]) + struct.pack("<IH", ins, 0) + b"long")
    s.command(execute(ins, params=[(MYSQL_TYPE_VAR_STRING, None)]))
    s.no_reply(bytes([COM_STMT_CLOSE]) + struct.pack("<I", ins))
    s.command(bytes([COM_STMT_PREPARE]) + b"SELEC nothing")  # ERR
    s.command(bytes([COM_PING]))


def cursor(s: Session) -> None:
    stmt = s.prepare("SELECT id, v FROM camdb.t ORDER BY id")
    s.command(execute(stmt, flags=CURSOR_TYPE_READ_ONLY))
    s.command(bytes([COM_STMT_FETCH]) + struct.pack("<II", stmt, 2))
    s.command(bytes([COM_STMT_FETCH]) + struct.pack("<II", stmt, 2))
    s.no_reply(bytes([COM_STMT_CLOSE]) + struct.pack("<I", stmt))


def load_data_local(s: Session) -> None:
    for chunks in ([b"a\nb\n", b"c\n"], []):  # a file in two packets; then a refused one
        request = s.query("LOAD DATA LOCAL INFILE 'rows.txt' INTO TABLE camdb.log (v)")
        assert request[-1][0] == 0xFB, f"no LOCAL INFILE request: {request!r}"
        seq = s.frames[-1][1][3] + 1
        for chunk in chunks + [b""]:
            s.send(chunk, seq=seq)
            seq += 1
        s.read(expect_frames=1)


def load_data_local_refused(s: Session) -> None:
    # Strict mode makes the first row's 'x' an error (ERR 1366; REPLACE, since LOCAL alone
    # implies IGNORE): the server refuses the file at its first packet, with more to come. Every
    # packet is sent before reading; the ERR's seq id shows the server read them all first.
    s.query("CREATE OR REPLACE TABLE camdb.nums (n INT)")
    s.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
    sql = "LOAD DATA LOCAL INFILE 'bad.txt' REPLACE INTO TABLE camdb.nums"
    stmt = s.prepare(sql)
    for command in (bytes([COM_QUERY]) + sql.encode(), execute(stmt)):
        request = s.command(command)
        assert request[-1][0] == 0xFB, f"no LOCAL INFILE request: {request!r}"
        seq = s.frames[-1][1][3] + 1
        for _ in range(3):
            s.send(b"x\n" * 16, seq=seq)
            seq += 1
        s.send(b"", seq=seq)
        s.read(expect_frames=1)
    s.no_reply(bytes([COM_STMT_CLOSE]) + struct.pack("<I", stmt))
    s.query("DROP TABLE camdb.nums")


def field_list(s: Session) -> None:
    s.command(bytes([COM_FIELD_LIST]) + b"t\0")
    s.command(bytes([COM_FIELD_LIST]) + b"nosuch\0")


def simple_commands(s: Session) -> None:
    s.command(bytes([COM_STATISTICS]))
    s.command(bytes([COM_PING]))
    s.command(bytes([COM_SET_OPTION]) + struct.pack("<H", 1))  # MULTI_STATEMENTS off
    s.command(bytes([COM_SET_OPTION]) + struct.pack("<H", 0))
    s.command(bytes([COM_INIT_DB]) + b"mysql")
    s.command(bytes([COM_INIT_DB]) + b"nosuchdb")
    s.command(bytes([COM_RESET_CONNECTION]))


def change_user(s: Session) -> None:
    # A plugin the account does not use makes MariaDB answer with an AuthSwitchRequest.
    request = (bytes([COM_CHANGE_USER]) + s.db.admin_user.encode() + b"\0" + b"\0" + b"camdb\0" +
               struct.pack("<H", 45) + b"caching_sha2_password\0")
    switch = s.command(request)[-1]
    assert switch[0] == 0xFE, f"no AuthSwitchRequest: {switch!r}"
    plugin_end = switch.index(0, 1)
    nonce = switch[plugin_end + 1:plugin_end + 21]
    s.send(native_scramble(s.db.admin_password.encode(), nonce), seq=s.frames[-1][1][3] + 1)
    s.read(expect_frames=1)
    s.query("SELECT 1 AS a")


def pipelined(s: Session) -> None:
    for payload in (bytes([COM_PING]), b"\x03SELECT 1 AS a", b"\x03SELECT * FROM camdb.nosuch",
                    bytes([COM_STMT_CLOSE]) + struct.pack("<I", 99), b"\x03DO 1"):
        s.send(payload)
    s.read(expect_frames=1)


def session_state(s: Session) -> None:
    s.query("SET SESSION session_track_state_change = ON, "
            "session_track_transaction_info = 'STATE'")
    s.query("USE mysql")
    s.query("SET @x = 1")
    s.query("SET time_zone = '+01:00'")
    s.query("BEGIN")
    s.query("USE camdb; SELECT 1 AS a; ROLLBACK")


def cache_metadata(s: Session) -> None:
    # The second EXECUTE's column count says metadata_follows = 0 (the client has them).
    stmt = s.prepare("SELECT id, v, JSON_OBJECT('id', id) AS doc FROM camdb.t WHERE id > ?")
    for _ in range(2):
        s.command(execute(stmt, params=[(MYSQL_TYPE_LONGLONG, struct.pack("<q", 1))]))
    s.command(execute(stmt, flags=CURSOR_TYPE_READ_ONLY, params=[(MYSQL_TYPE_LONGLONG, struct.pack("<q", 0))]))
    s.command(bytes([COM_STMT_FETCH]) + struct.pack("<II", stmt, 5))
    s.no_reply(bytes([COM_STMT_CLOSE]) + struct.pack("<I", stmt))
    s.query("SELECT id, v FROM camdb.t ORDER BY id")


def bulk(rows: list[tuple[int, bytes]], stmt: int) -> bytes:
    """COM_STMT_BULK_EXECUTE of (INT, VARCHAR) rows, types sent, no indicators."""
    out = bytes([COM_STMT_BULK_EXECUTE]) + struct.pack("<IH", stmt, BULK_SEND_TYPES)
    out += bytes([MYSQL_TYPE_LONGLONG, 0, MYSQL_TYPE_VAR_STRING, 0])
    for key, text in rows:
        out += b"\0" + struct.pack("<q", key) + b"\0" + bytes([len(text)]) + text
    return out


def bulk_execute(s: Session) -> None:
    ins = s.prepare("INSERT INTO camdb.t VALUES (?, ?)")
    s.command(bulk([(10, b"ten"), (11, b"eleven"), (12, b"twelve")], ins))
    s.command(bulk([(20, b"twenty"), (10, b"dup")], ins))  # ERR 1062 on the second row
    ret = s.prepare("INSERT INTO camdb.t VALUES (?, ?) RETURNING id, v")
    s.command(bulk([(30, b"thirty"), (31, b"thirty-one")], ret))
    s.no_reply(bytes([COM_STMT_CLOSE]) + struct.pack("<I", ins))
    s.no_reply(bytes([COM_STMT_CLOSE]) + struct.pack("<I", ret))


def progress(s: Session) -> None:
    # ALTER ... ALGORITHM=COPY of 200000 rows takes about 2 s: progress reports every second.
    s.query("SET SESSION progress_report_time = 1")
    s.query("CREATE TABLE camdb.big (id INT PRIMARY KEY, v INT)")
    s.query("INSERT INTO camdb.big SELECT seq, seq FROM seq_1_to_200000")
    s.send(b"\x03ALTER TABLE camdb.big ADD COLUMN w INT, ALGORITHM=COPY")
    replies = s.read(expect_frames=1)
    while replies[-1][:3] == b"\xff\xff\xff":  # a progress report: the OK is still to come
        replies = s.read(expect_frames=1)
    s.query("DROP TABLE camdb.big")


kScenarios = [
    ("select_rows", ("eof", "deprecate_eof"), "SELECT of 3 rows x 2 columns (one NULL)", select_rows),
    ("empty_resultset", ("eof", "deprecate_eof"), "SELECT matching no row", empty_resultset),
    ("insert_ok", ("eof", "deprecate_eof"), "BEGIN; INSERT of 2 rows (OK with info); COMMIT",
     insert_ok),
    ("error", ("eof", "deprecate_eof"), "SELECT from a missing table (ERR 1146)", error),
    ("error_mid_rows", ("eof", "deprecate_eof"),
     "SELECT whose 3rd row fails (ERR 1242 after 2 rows)", error_mid_rows),
    ("multi_statement", ("eof", "deprecate_eof"),
     "'SELECT 1; SELECT 2; SELECT from a missing table; SELECT 4': 2 resultsets then ERR",
     multi_statement),
    ("call", ("eof", "deprecate_eof"), "CALL of a procedure with 2 resultsets (+ final OK)", call),
    ("prepared", ("eof", "deprecate_eof"),
     "PREPARE/EXECUTE (binary rows)/CLOSE; PREPARE insert, SEND_LONG_DATA, EXECUTE, CLOSE; "
     "PREPARE with a syntax error; PING", prepared),
    ("cursor", ("eof", "deprecate_eof"),
     "PREPARE; EXECUTE with CURSOR_TYPE_READ_ONLY; FETCH 2 rows; FETCH 2 (1 left); CLOSE", cursor),
    ("load_data_local", ("eof", "deprecate_eof"),
     "LOAD DATA LOCAL with a file sent in 2 packets + empty; again with the file refused "
     "(empty packet at once)", load_data_local),
    ("load_data_local_refused", ("eof", "deprecate_eof"),
     "strict mode; LOAD DATA LOCAL of 3 packets of 'x' rows + empty into an INT "
     "column, as COM_QUERY then as PREPARE + EXECUTE: LOCAL INFILE request, ERR 1366; CLOSE",
     load_data_local_refused),
    ("field_list", ("eof", "deprecate_eof"), "COM_FIELD_LIST of table t; of a missing table",
     field_list),
    ("simple_commands", ("eof", "deprecate_eof"),
     "STATISTICS, PING, SET_OPTION off/on, INIT_DB ok/missing, RESET_CONNECTION", simple_commands),
    ("change_user", ("deprecate_eof",),
     "COM_CHANGE_USER to harness naming caching_sha2_password (AuthSwitchRequest to "
     "mysql_native_password, scrambled reply, OK); SELECT 1", change_user),
    ("pipelined", ("deprecate_eof",),
     "PING, SELECT 1, SELECT from a missing table, STMT_CLOSE of id 99, DO 1 sent in one write "
     "before reading", pipelined),
    ("session_state", ("track", "track_eof"),
     "SET session_track_state_change/transaction_info; USE mysql; SET @x; SET time_zone; "
     "BEGIN; 'USE camdb; SELECT 1; ROLLBACK'", session_state),
    ("cache_metadata", ("mariadb_eof", "mariadb_deprecate_eof"),
     "PREPARE a SELECT with a JSON column; EXECUTE twice (metadata, then none); EXECUTE with a "
     "cursor, FETCH; CLOSE; a text SELECT", cache_metadata),
    ("bulk_execute", ("mariadb_eof", "mariadb_deprecate_eof"),
     "PREPARE INSERT; STMT_BULK_EXECUTE of 3 rows; of 2 rows, the second a duplicate key (ERR "
     "1062); PREPARE INSERT ... RETURNING, STMT_BULK_EXECUTE of 2 rows; CLOSE both", bulk_execute),
    ("progress", ("mariadb_deprecate_eof",),
     "SET progress_report_time = 1; CREATE and fill a table of 200000 rows; ALTER TABLE ... "
     "ALGORITHM=COPY (progress reports, then OK); DROP TABLE", progress),
]


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    chosen = set(sys.argv[2:])
    with MariaDB(tls=False) as db:
        for name, modes, action, run in kScenarios:
            if chosen and name not in chosen:
                continue
            for mode in modes:
                with db.admin() as conn, conn.cursor() as cur:
                    for sql in kSetup:
                        cur.execute(sql)
                s = Session(db, *kModes[mode])
                run(s)
                s.quit()
                path = out_dir / f"rt_{name}_{mode}.hex"
                with open(path, "w") as out:
                    out.write(f"# server: MariaDB {s.server_version} (Debian 12 mariadbd, no TLS); "
                              f"client: capture_responses.py raw client, caps 0x{s.caps:08x} "
                              + (f"mariadb caps 0x{s.mariadb_caps:02x} " if s.mariadb_caps else "")
                              + f"({mode}), logged in as harness with database camdb\n")
                    out.write(f"# action: {action}; then COM_QUIT\n")
                    out.write("# one frame per line: c2s = client to server, s2c = server to "
                              "client; hex includes the 4-byte frame header\n")
                    for direction, data in s.frames:
                        out.write(f"{direction} {data.hex()}\n")
                print(path)


if __name__ == "__main__":
    main()
