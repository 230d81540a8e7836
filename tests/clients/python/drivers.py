"""mysqlclient (Debian's python3-mysqldb) through the driver cases of
tests/integration/test_drivers.py; the contract is in tests/clients/README.md.

    /usr/bin/python3 drivers.py HOST PORT USER PASSWORD DATABASE TAG RESET_PORT   -> one JSON object
"""

import hashlib
import json
import os
import sys

import MySQLdb
from MySQLdb.constants import CLIENT

kBlobBytes = 4 * 1024 * 1024
kBulkRows = 1000
kSessionValue = 12345

host, port, user, password, database, tag, reset_port = sys.argv[1:8]


def connect(to_port=port, **extra):
    return MySQLdb.connect(host=host, port=int(to_port), user=user, password=password, database=database,
                           autocommit=True, connect_timeout=10, **extra)


def one(conn, sql, args=None):
    cur = conn.cursor()
    cur.execute(sql, args)
    row = cur.fetchone()
    cur.close()
    return row[0] if row is not None else None


def status(conn, name):
    cur = conn.cursor()
    cur.execute("SHOW SESSION STATUS LIKE %s", (name,))
    value = int(cur.fetchone()[1])
    cur.close()
    return value


def login():
    conn = connect()
    try:
        return {"value": one(conn, "SELECT 'Success!'")}
    finally:
        conn.close()


def queries():
    table = f"drv_{tag}_q"
    conn = connect()
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(20))")
    affected = cur.execute(f"INSERT INTO {table} VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    cur.execute(f"SELECT id, name FROM {table} ORDER BY id")
    rows = [[r[0], r[1]] for r in cur.fetchall()]
    conn.close()
    return {"affected": affected, "rows": rows}


def prepared():
    # mysqlclient has no binary-protocol prepare: parameters are interpolated client-side.
    conn = connect()
    before = status(conn, "Com_stmt_prepare")
    cur = conn.cursor()
    results = []
    for a, b, text in ((2, 3, "abc"), (5, 6, "xyz")):
        cur.execute("SELECT %s + %s, %s", (a, b, text))
        row = cur.fetchone()
        results.append([int(row[0]), row[1]])
    prepares = status(conn, "Com_stmt_prepare") - before
    conn.close()
    return {"results": results, "server_prepares": prepares}


def blob():
    table = f"drv_{tag}_blob"
    data = os.urandom(kBlobBytes)
    conn = connect()
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, b LONGBLOB)")
    cur.execute(f"INSERT INTO {table} VALUES (1, %s)", (data,))
    back = one(conn, f"SELECT b FROM {table} WHERE id = 1")
    conn.close()
    return {"sent_sha256": hashlib.sha256(data).hexdigest(),
            "received_sha256": hashlib.sha256(back).hexdigest(), "received_len": len(back)}


def reset():
    # No pool in mysqlclient: the second use is a new connection (through camproxy, a pooled one).
    first = connect(reset_port)
    first_id = one(first, "SELECT CONNECTION_ID()")
    cur = first.cursor()
    cur.execute("SET @drv_user_var = 'leaked'")
    cur.execute("CREATE TEMPORARY TABLE drv_tmp (id INT)")
    cur.execute(f"SET SESSION group_concat_max_len = {kSessionValue}")
    set_seen = one(first, "SELECT @@SESSION.group_concat_max_len")
    first.close()
    second = connect(reset_port)
    try:
        one(second, "SELECT COUNT(*) FROM drv_tmp")
        temp_table = True
    except MySQLdb.MySQLError:
        temp_table = False
    result = {"first_id": first_id, "second_id": one(second, "SELECT CONNECTION_ID()"), "set_seen": set_seen,
              "user_var": one(second, "SELECT @drv_user_var"), "temp_table": temp_table,
              "session_var": one(second, "SELECT @@SESSION.group_concat_max_len"),
              "global_default": one(second, "SELECT @@GLOBAL.group_concat_max_len")}
    second.close()
    return result


def error_text(exc):
    return f"{exc.args[0]}: {exc.args[-1]}" if exc.args else repr(exc)


def kill():
    bystander, victim, killer = connect(), connect(), connect()
    victim_id = one(victim, "SELECT CONNECTION_ID()")
    result = {"kill_error": None, "victim_error": None}
    try:
        killer.cursor().execute(f"KILL {int(victim_id)}")
    except MySQLdb.MySQLError as exc:
        result["kill_error"] = error_text(exc)
    try:
        one(victim, "SELECT 1")
    except MySQLdb.MySQLError as exc:
        result["victim_error"] = error_text(exc)
    result["bystander"] = one(bystander, "SELECT 'alive'")
    result["killer"] = one(killer, "SELECT 'alive'")
    for conn in (bystander, killer):
        conn.close()
    return result


def ignore_space():
    conn = connect(client_flag=CLIENT.IGNORE_SPACE)
    try:
        return {"sql_mode": one(conn, "SELECT @@SESSION.sql_mode"),
                "count": one(conn, "SELECT COUNT (*) FROM (SELECT 1 UNION SELECT 2) AS t")}
    finally:
        conn.close()


def bulk():
    # executemany rewrites an INSERT ... VALUES into one multi-row statement.
    table = f"drv_{tag}_bulk"
    conn = connect()
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(20))")
    before = status(conn, "Com_insert")
    cur.executemany(f"INSERT INTO {table} (id, name) VALUES (%s, %s)",
                    [(i, f"name_{i}") for i in range(1, kBulkRows + 1)])
    statements = status(conn, "Com_insert") - before
    cur.execute(f"SELECT COUNT(*), SUM(id) FROM {table}")
    count, total = cur.fetchone()
    conn.close()
    return {"count": count, "sum": int(total), "statements": statements}


results = {}
for case in (login, queries, prepared, blob, reset, kill, ignore_space, bulk):
    try:
        results[case.__name__] = {"ok": True, **case()}
    except Exception as exc:  # noqa: BLE001 - every failure is reported, the checks judge it
        results[case.__name__] = {"ok": False, "error": error_text(exc) if isinstance(exc, MySQLdb.MySQLError)
                                  else repr(exc)}
print(json.dumps(results, default=str))
