"""LOAD DATA LOCAL INFILE as a server-side prepared statement (COM_STMT_PREPARE, then
COM_STMT_EXECUTE, which MariaDB answers with a LOCAL INFILE request), through camproxy and,
as the control, straight to MariaDB.

A bug mysql-test-run found (tests/mtr/repro_load_data_local_ps.test): camproxy's response
tracker took the LOCAL INFILE request in an EXECUTE response for a malformed packet and stopped
following the connection, so the relay read the file's packets as commands; one starting with
byte 01 (COM_QUIT: mtr uploaded a binary) closed the client's connection. The refused file
here has such a packet. PyMySQL has no server-side prepared statements, so the test sends
PREPARE and EXECUTE with its low-level calls and lets PyMySQL's own code answer the file
request (in 16 KiB packets).
"""

from __future__ import annotations

import struct

import pymysql
import pytest

kTable = "camdb.load_prepared"
kRows = 50000  # a ~340 KiB file
kPyMysqlFilePacket = 16 * 1024  # LoadLocalFile.send_data
COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_CLOSE = 0x16, 0x17, 0x19


def prepare(conn: pymysql.connections.Connection, sql: str) -> int:
    conn._execute_command(COM_STMT_PREPARE, sql)
    prepare_ok = conn._read_packet()  # raises on ERR
    stmt_id, num_columns, num_params = struct.unpack_from("<IHH", prepare_ok.get_all_data(), 1)
    assert (num_columns, num_params) == (0, 0)  # so nothing follows PREPARE_OK
    return stmt_id


def execute(conn: pymysql.connections.Connection, stmt_id: int) -> int:
    """Affected rows; PyMySQL's result reader answers the LOCAL INFILE request."""
    conn._execute_command(COM_STMT_EXECUTE, struct.pack("<IBI", stmt_id, 0, 1))
    result = pymysql.connections.MySQLResult(conn)
    result.read()
    return result.affected_rows


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("load-prepared")
    good, bad = folder / "good.txt", folder / "bad.txt"
    good.write_text("".join(f"{i}\n" for i in range(1, kRows + 1)))
    # Refused at its first row (ERR 1366), while packets are still coming; the second one
    # starts with byte 01.
    bad.write_bytes(b"x\n" * (kPyMysqlFilePacket // 2) + b"\x01\n" + b"x\n" * kRows)
    return {"good": str(good), "bad": str(bad)}


@pytest.mark.parametrize("target", ["direct", "proxy"])
def test_prepared_load_data_local(target, mariadb, camproxy, files):
    if target == "direct":
        user, password, port = mariadb.admin_user, mariadb.admin_password, mariadb.port
    else:
        user, password, port = "camtest", "any-password", camproxy().port
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute(f"CREATE OR REPLACE TABLE {kTable} (n INT)")
    conn = pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                           database="camdb", local_infile=True, autocommit=True,
                           connect_timeout=10, read_timeout=30, write_timeout=30)
    with conn:
        with conn.cursor() as cur:
            # Strict mode and REPLACE (LOCAL alone implies IGNORE): the 'x' row is ERR 1366.
            cur.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
        for name in ("good", "bad"):
            sql = f"LOAD DATA LOCAL INFILE '{files[name]}' REPLACE INTO TABLE {kTable}"
            stmt_id = prepare(conn, sql)
            if name == "good":
                assert execute(conn, stmt_id) == kRows
            else:
                with pytest.raises(pymysql.err.MySQLError) as refused:
                    execute(conn, stmt_id)
                assert refused.value.args[0] == 1366, refused.value
            conn._execute_command(COM_STMT_CLOSE, struct.pack("<I", stmt_id))  # no response
        with conn.cursor() as cur:  # the connection survived the refused file
            cur.execute(f"SELECT COUNT(*), SUM(n) FROM {kTable}")
            assert cur.fetchone() == (kRows, kRows * (kRows + 1) // 2)
            cur.execute(f"DROP TABLE {kTable}")
