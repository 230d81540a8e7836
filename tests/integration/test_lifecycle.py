"""Running camproxy like a production sidecar: the admin endpoints through its life, graceful
drain on SIGTERM and POST /quitquitquit, `camproxy wait`, /metrics, and the listener: one
SO_REUSEPORT socket per worker, and an address already in use refused at start."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import pymysql
import pytest

from camproxy_process import ProxyStartError, proxy_binary
from testutil import http_request, wait_until


def connect(proxy, **kw):
    return pymysql.connect(host="127.0.0.1", port=proxy.port, user="camtest", password="x", database="camdb",
                           connect_timeout=10, read_timeout=20, **kw)


def get(proxy, path):
    return proxy.admin_get(path)


def test_admin_endpoints_before_the_first_token_and_after(camproxy, cam):
    cam.control.fail("InternalError")
    proxy = camproxy(wait_ready=False)
    assert get(proxy, "/healthz")[0] == 200
    assert get(proxy, "/startup")[0] == 503
    # Not ready, first for want of a token, then (once the first CAM call failed) saying why.
    def readyz_names_the_cam_error():
        status, body = get(proxy, "/readyz")
        assert status == 503, body
        return b"InternalError" in body

    wait_until(readyz_names_the_cam_error, 30, "/readyz naming the CAM error")
    cam.control.clear()
    wait_until(lambda: get(proxy, "/startup")[0] == 200, 30, "/startup after CAM recovered")
    assert get(proxy, "/readyz")[0] == 200
    # Once started, always started: a later CAM outage does not fail a startup probe.
    cam.control.fail("InternalError")
    assert get(proxy, "/startup")[0] == 200
    cam.control.clear()
    assert http_request("127.0.0.1", proxy.admin_port, "GET", "/nope")[0] == 404
    assert http_request("127.0.0.1", proxy.admin_port, "GET", "/quitquitquit")[0] == 405


def test_metrics_are_prometheus_text_and_move(camproxy):
    proxy = camproxy()
    with connect(proxy) as conn, conn.cursor() as cur:
        cur.execute("SELECT REPEAT('x', 1000)")
        cur.fetchall()
    status, body = get(proxy, "/metrics")
    text = body.decode()
    assert status == 200
    for name in ("camproxy_client_connections_total", "camproxy_upstream_dials_total", "camproxy_cam_requests_total",
                 "camproxy_relay_bytes_total", "camproxy_token_age_seconds", "camproxy_build_info"):
        assert name in text, name
    total = [l for l in text.splitlines() if l.startswith("camproxy_client_connections_total ")]
    assert total and float(total[0].split()[1]) >= 1
    assert 'camproxy_token_next_rotation_seconds{target="default",account="camtest"}' in text


def test_sigterm_drains_lets_a_transaction_commit_and_exits_0(camproxy):
    proxy = camproxy("--min-sigterm-delay", "1s", "--max-sigterm-delay", "10s")
    busy = connect(proxy, autocommit=False)
    with busy.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS drain_t (a INT)")
        cur.execute("INSERT INTO drain_t VALUES (1)")
    idle = connect(proxy)
    proxy._proc.send_signal(signal.SIGTERM)
    wait_until(lambda: get(proxy, "/readyz")[0] == 503, 5, "readiness to go false at once")
    with connect(proxy) as late:  # still accepted during --min-sigterm-delay
        with late.cursor() as cur:
            cur.execute("SELECT 1")
    time.sleep(1.5)  # past the minimum delay: listeners close, idle sessions are closed
    with pytest.raises(pymysql.err.MySQLError):
        with idle.cursor() as cur:
            cur.execute("SELECT 1")
    with busy.cursor() as cur:
        cur.execute("INSERT INTO drain_t VALUES (2)")
    busy.commit()  # the transaction finishes within --max-sigterm-delay
    assert proxy._proc.wait(timeout=10) == 0
    assert "drain_done" in proxy.log_text()


def test_quitquitquit_exits_0(camproxy):
    proxy = camproxy("--admin-quitquitquit", "on")
    assert proxy.admin_post("/quitquitquit")[0] == 200
    assert proxy._proc.wait(timeout=10) == 0


def test_camproxy_wait_blocks_until_ready(camproxy, cam):
    cam.control.fail("InternalError")
    proxy = camproxy(wait_ready=False)
    done = {}

    def wait():
        r = subprocess.run([proxy_binary(), "wait", "--admin", f"127.0.0.1:{proxy.admin_port}", "--timeout", "30s"],
                           capture_output=True, text=True, timeout=40)
        done["rc"] = r.returncode

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(1)
    assert "rc" not in done  # still waiting: not ready
    cam.control.clear()
    t.join(35)
    assert done["rc"] == 0
    r = subprocess.run([proxy_binary(), "wait", "--admin", "127.0.0.1:1", "--timeout", "1s"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "not ready" in r.stderr


def test_connect_per_request_stays_on_the_worker_that_resets_its_connections(camproxy):
    proxy = camproxy("--workers", "2", "--log-level", "debug")
    cycles = 200
    for _ in range(cycles):
        with connect(proxy) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)

    def accepted_by_worker() -> list[int]:
        events = [json.loads(line) for line in proxy.log_text().splitlines() if '"client_connected"' in line]
        return [e["worker"] for e in events]

    wait_until(lambda: len(accepted_by_worker()) >= cycles, 10, f"{cycles} client_connected lines")
    workers = accepted_by_worker()
    # The kernel spreads new connections over the listener's group by a hash of their ports (half
    # on each worker here), but a client goes to the worker whose pool took the last connection
    # back (proxy/worker_balance.h), where its predecessor's connection is being reset. A few may
    # stay where they landed when a loaded machine leaves two closing sessions on that worker.
    most = max(workers.count(0), workers.count(1))
    assert most >= cycles * 0.9, f"connections per worker: 0: {workers.count(0)}, 1: {workers.count(1)}"


def test_persistent_clients_are_spread_evenly_over_the_workers(camproxy):
    """The kernel picks a worker's socket by a hash, not by load; a worker that gets a client
    while it has two more sessions than another hands it over (proxy/worker_balance.h). Forty
    clients that stay connected end up within two of each other on two workers (a hash alone
    spreads them that evenly about one time in three) and every one of them works."""
    proxy = camproxy("--workers", "2", "--log-level", "debug")
    clients = []
    try:
        for _ in range(40):
            clients.append(connect(proxy))
        for conn in clients:
            with conn.cursor() as cur:
                cur.execute("SELECT CONNECTION_ID()")
                assert cur.fetchone()[0] > 0
        events = [json.loads(line) for line in proxy.log_text().splitlines() if '"client_connected"' in line]
        workers = [e["worker"] for e in events]
        assert len(workers) == 40
        assert abs(workers.count(0) - workers.count(1)) <= 2, \
            f"connections per worker: 0: {workers.count(0)}, 1: {workers.count(1)}"
    finally:
        for conn in clients:
            conn.close()


def test_a_second_camproxy_on_the_same_port_exits_with_address_in_use(camproxy):
    first = camproxy("--workers", "2")
    # Its group's sockets have SO_REUSEPORT, and so would the second one's: only the probe
    # bound without it stops the second process from sharing the port.
    with pytest.raises(ProxyStartError) as info:
        camproxy.start("--workers", "2", "--listen", f"127.0.0.1:{first.port}", tcp_listener=False,
                       wait_ready=False, expect_exit=True)
    message = str(info.value)
    assert "camproxy exited with status 1" in message, message
    assert f"cannot listen on 127.0.0.1:{first.port}: Address already in use" in message, message
    with connect(first) as conn, conn.cursor() as cur:  # the first one is unharmed
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
