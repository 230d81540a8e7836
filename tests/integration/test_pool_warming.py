"""Pool warming (issue 16, "Connect cost behind network latency"): a connection-per-request
client with a database finds a connection ready as it wants it, so its login never waits for the
database (camproxy_login_upstream_waits_total stays put) once the pool has seen one client."""

from __future__ import annotations

import pymysql

from testutil import wait_until

REASONS = ("dial", "pool_wait", "fixup")


def connect(proxy):
    return pymysql.connect(host="127.0.0.1", port=proxy.port, user="camtest", password="x", database="camdb",
                           charset="utf8mb4", connect_timeout=10, read_timeout=30, autocommit=True)


def cycle(proxy):
    conn = connect(proxy)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    conn.close()


def waits(proxy) -> dict[str, float]:
    return {r: proxy.metric("camproxy_login_upstream_waits_total", reason=r) for r in REASONS}


def test_a_checkout_has_its_replacement_ready_for_the_next_client(camproxy):
    """One worker, --pool-min-idle 1: while a client holds the ready connection, the pool dials
    another at once (not at the next one-second tick), with the client's database."""
    proxy = camproxy("--workers", "1", "--pool-min-idle", "1")
    cycle(proxy)  # teaches the pool the client's schema and character set
    held = connect(proxy)
    try:
        wait_until(lambda: proxy.metric("camproxy_upstream_connections_idle") >= 1, 5,
                   "a ready connection beside the held one")
        before = waits(proxy)
        cycle(proxy)
        assert waits(proxy) == before, "the second client waited for the database"
    finally:
        held.close()


def test_sequential_connects_with_a_database_never_wait_once_warm(camproxy):
    proxy = camproxy("--workers", "2", "--pool-min-idle", "2")
    for _ in range(10):  # each worker's first client teaches its pool the schema
        cycle(proxy)
    wait_until(lambda: proxy.metric("camproxy_upstream_connections_idle") >= 4, 5, "both workers' pools warm")
    before = waits(proxy)
    for _ in range(50):
        cycle(proxy)
    after = waits(proxy)
    assert after == before, f"logins waited for the database: {after} (before: {before})"
    count = proxy.metric("camproxy_login_upstream_wait_seconds_count")
    assert count == sum(after.values()), "every counted wait is timed"
