"""The borrow queue (issue 15): at --pool-max, a client waits for a database connection, first
come first served across the target's workers, instead of getting 1040 at once; after
--pool-borrow-timeout it gets error 9008 naming the wait; --pool-max-waiters bounds the queue;
a client that goes away while waiting leaves it (docs/operations.md "Pool")."""

from __future__ import annotations

import json
import threading
import time

import pymysql
import pytest

from testutil import http_request, wait_until


def connect(proxy, **kwargs):
    params = dict(host="127.0.0.1", port=proxy.port, user="camtest", password="x", database="camdb",
                  connect_timeout=10, read_timeout=30, autocommit=True)
    params.update(kwargs)
    return pymysql.connect(**params)


def thread_id(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        return cur.fetchone()[0]


def admin_json(proxy, path: str) -> dict:
    status, body = http_request("127.0.0.1", proxy.admin_port, "GET", path, timeout=10)
    assert status == 200, body
    return json.loads(body)


def borrowing_worker(proxy):
    """[the worker whose client waits in the borrow queue], once exactly one waits."""
    workers = admin_json(proxy, "/debug/pools")["workers"]
    waiting = [w["worker"] for w in workers for k in w["keys"] if k["borrowing"] > 0]
    if len(waiting) == 1 and all(w["target_borrowing"] == 1 for w in workers):
        return waiting  # a list: worker 0 is falsy, and wait_until waits for a truthy value
    return None


def metric(proxy, name: str) -> float | None:
    status, body = http_request("127.0.0.1", proxy.admin_port, "GET", "/metrics", timeout=10)
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


class Waiter:
    """A client logging in on a thread: it blocks while camproxy keeps it in the queue."""

    def __init__(self, proxy, **kwargs):
        self.conn = None
        self.error = None
        self.done = threading.Event()
        self.started = time.monotonic()
        self.elapsed = None
        threading.Thread(target=self._run, args=(proxy, kwargs), daemon=True).start()

    def _run(self, proxy, kwargs):
        try:
            self.conn = connect(proxy, **kwargs)
        except pymysql.err.MySQLError as e:
            self.error = e
        finally:
            self.elapsed = time.monotonic() - self.started
            self.done.set()


def test_a_waiting_client_runs_as_soon_as_a_connection_frees_on_either_worker(camproxy):
    proxy = camproxy("--workers", "2", "--pool-max", "2", "--pool-min-idle", "0")
    holders = [connect(proxy), connect(proxy)]
    crossed = same = 0
    try:
        for _ in range(8):  # the kernel spreads clients over the workers: until both cases were seen
            waiter = Waiter(proxy)
            (worker,) = wait_until(lambda: borrowing_worker(proxy), 10, "the third client to wait in the queue")
            assert metric(proxy, "camproxy_pool_borrow_waiting") == 1
            assert not waiter.done.is_set(), waiter.error  # waiting, not refused with 1040
            sessions = admin_json(proxy, "/debug/sessions")["sessions"]
            on_worker = {s["thread_id"]: s["worker"] for s in sessions if s["thread_id"] is not None}
            place = {id(h): on_worker[thread_id(h)] for h in holders}
            elsewhere = [h for h in holders if place[id(h)] != worker]
            leaving = elsewhere[0] if elsewhere and not crossed else holders[0]
            crossed, same = crossed + (place[id(leaving)] != worker), same + (place[id(leaving)] == worker)
            holders.remove(leaving)
            freed_at = time.monotonic()
            leaving.close()
            assert waiter.done.wait(5), "the waiting client did not get the freed connection"
            assert waiter.error is None, waiter.error
            assert time.monotonic() - freed_at < 3
            assert thread_id(waiter.conn) > 0
            holders.append(waiter.conn)
            if crossed and same:
                break
        assert crossed, "no round freed a connection on the other worker than the waiter's"
        assert admin_json(proxy, "/debug/pools")["workers"][0]["target_open"] <= 2
    finally:
        for h in holders:
            h.close()


def test_a_client_waiting_longer_than_the_borrow_timeout_gets_9008_after_it(camproxy):
    proxy = camproxy("--workers", "2", "--pool-max", "1", "--pool-min-idle", "0", "--pool-borrow-timeout", "1s")
    with connect(proxy) as holder:
        waiter = Waiter(proxy)
        assert waiter.done.wait(10)
        code, message = waiter.error.args
        assert code == 9008, message
        assert 1.0 <= waiter.elapsed < 3.0, waiter.elapsed
        assert "no database connection free after waiting 1." in message, message
        assert "(--pool-max 1 in use)" in message, message
        assert thread_id(holder) > 0  # the holder is untouched
        assert metric(proxy, "camproxy_pool_borrow_timeouts_total") == 1
        assert metric(proxy, "camproxy_pool_borrow_waiting") == 0


def test_over_max_waiters_a_client_gets_9008_at_once(camproxy):
    proxy = camproxy("--workers", "1", "--pool-max", "1", "--pool-min-idle", "0", "--pool-max-waiters", "0")
    with connect(proxy):
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as info:
            connect(proxy)
        assert time.monotonic() - started < 1.0
        code, message = info.value.args
        assert code == 9008 and "clients wait already (--pool-max-waiters)" in message, message


def test_a_client_that_leaves_the_queue_is_forgotten(camproxy):
    proxy = camproxy("--workers", "2", "--pool-max", "1", "--pool-min-idle", "0")
    holder = connect(proxy)
    # read_timeout: the client gives up while camproxy keeps it waiting, and closes its socket.
    leaver = Waiter(proxy, read_timeout=1)
    wait_until(lambda: borrowing_worker(proxy) is not None, 10, "the client to wait")
    assert leaver.done.wait(10) and leaver.error is not None
    wait_until(lambda: metric(proxy, "camproxy_pool_borrow_waiting") == 0, 10, "the queue to forget the client")
    holder.close()
    # The freed connection is not granted to the client that left: the next one gets it now.
    started = time.monotonic()
    with connect(proxy) as after:
        assert thread_id(after) > 0
    assert time.monotonic() - started < 2.0
    pools = admin_json(proxy, "/debug/pools")["workers"]
    assert all(w["target_open"] <= 1 and w["target_borrowing"] == 0 for w in pools), pools


def account_threads(mariadb, account: str) -> int:
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (account,))
        return cur.fetchone()[0]


def test_an_account_at_its_own_limit_waits_and_holds_up_no_other_account(camproxy, mariadb, tmp_path):
    """pool.max-by-account (config file): camtest may have one database connection though
    --pool-max allows three; its second client waits in the borrow queue, camtls's logs in at once."""
    config = tmp_path / "camproxy.yaml"
    config.write_text("targets:\n"
                      "  - accounts: {app: camtest, tlsapp: camtls}\n"
                      "    pool: {max: 3, min-idle: 0, max-by-account: {camtest: 1}}\n")
    proxy = camproxy("--config", str(config), "--workers", "2", db_user=None, upstream_tls="verify-ca")
    with connect(proxy, user="app") as holder:
        waiter = Waiter(proxy, user="app")
        wait_until(lambda: metric(proxy, "camproxy_pool_borrow_waiting") == 1, 10, "app's second client to wait")
        started = time.monotonic()
        with connect(proxy, user="tlsapp") as other:
            assert thread_id(other) > 0
        assert time.monotonic() - started < 2.0
        assert not waiter.done.is_set(), waiter.error
        assert account_threads(mariadb, "camtest") == 1
        freed_at = time.monotonic()
    # The holder's connection is reset, then closed for the waiter, whose worker dials (TLS, login).
    assert waiter.done.wait(10) and waiter.error is None, waiter.error
    assert time.monotonic() - freed_at < 10
    assert thread_id(waiter.conn) > 0
    assert account_threads(mariadb, "camtest") == 1
    waiter.conn.close()
