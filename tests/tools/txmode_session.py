"""Helpers of the --pool-mode transaction tests: a camproxy in that mode, PyMySQL clients of it,
and what the server shows of the account's connections.

    proxy = transaction_mode(camproxy, pool_max, *extra_flags)
    conn = connect(proxy)            # or connect(port); keyword arguments go to pymysql.connect
    one(conn, sql) -> first row;  camtest_threads(mariadb) -> the account's connections now
"""

from __future__ import annotations

import pymysql


def transaction_mode(camproxy, pool_max: int, *extra: str):
    """One worker and no warm connections: every database connection is one the test made."""
    return camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", str(pool_max),
                    "--pool-mode", "transaction", *extra)


def connect(proxy_or_port, **kwargs):
    port = getattr(proxy_or_port, "port", proxy_or_port)
    params = dict(host="127.0.0.1", port=port, user="camtest", password="x", database="camdb",
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
