"""Bounded CAM use whatever clients do (issue 17, docs/security.md "CAM calls"): in pass-through
mode (--db-user '*') a flood of unknown user names costs at most the process-wide CAM call rate,
refused names are remembered, the cache of accounts is bounded, and a client whose token is
cached keeps logging in throughout."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pymysql

from proxy_probe import metric
from testutil import wait_until

kRate, kBurst = 5, 20  # the defaults of --cam-rate-limit and --cam-burst
kFloodNames = 400


def login(proxy, user: str, timeout: float = 10):
    return pymysql.connect(host="127.0.0.1", port=proxy.port, user=user, password="anything",
                           connect_timeout=timeout, read_timeout=timeout)


def login_error(proxy, user: str) -> tuple[int, str]:
    try:
        login(proxy, user).close()
    except pymysql.err.OperationalError as exc:
        return exc.args[0], exc.args[1]
    return 0, "logged in"


def flood_calls(cam) -> int:
    return sum(n for key, n in cam.control.stats()["by_account"].items() if ":flood-" in key)


def test_a_flood_of_names_costs_at_most_the_cam_rate_and_cached_clients_keep_logging_in(camproxy, cam):
    proxy = camproxy(db_user="*")
    login(proxy, "camtest").close()  # the real client's token is cached from now on
    cam.control.reset_stats()

    real_logins: list[float] = []
    stop = threading.Event()

    def real_client():
        while not stop.is_set():
            started = time.monotonic()
            with login(proxy, "camtest", timeout=5) as conn, conn.cursor() as cur:
                cur.execute("SELECT CURRENT_USER()")
                assert cur.fetchone()[0] == "camtest@%"
            real_logins.append(time.monotonic() - started)

    real = threading.Thread(target=real_client)
    started = time.monotonic()
    real.start()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            outcomes = list(pool.map(lambda i: login_error(proxy, f"flood-{i}"), range(kFloodNames)))
    finally:
        stop.set()
        real.join(timeout=30)
    elapsed = time.monotonic() - started

    codes = {code for code, _ in outcomes}
    assert codes <= {1045, 1226}, f"unexpected answers: {sorted(set(outcomes))[:5]}"
    limited = [m for code, m in outcomes if code == 1226]
    assert limited and all("--cam-rate-limit" in m for m in limited)
    assert all("DataFlowAuthClose" in m for code, m in outcomes if code == 1045)
    calls = cam.control.stats()["calls_total"]
    assert calls <= kBurst + kRate * elapsed + 1, f"{calls} CAM calls in {elapsed:.1f}s"
    assert metric(proxy, "camproxy_cam_calls_refused_total") == len(limited)

    assert real_logins, "the real client never logged in"
    assert max(real_logins) < 1.0, f"a cached client's login took {max(real_logins):.2f}s during the flood"

    # A name CAM refused is remembered (--cam-negative-ttl): asking again costs no call.
    refused = next(i for i, (code, _) in enumerate(outcomes) if code == 1045)
    before = flood_calls(cam)
    code, message = login_error(proxy, f"flood-{refused}")
    assert code == 1045 and "DataFlowAuthClose" in message
    assert flood_calls(cam) == before


def test_the_account_cache_is_bounded(camproxy, cam):
    proxy = camproxy("--cam-max-accounts", "3", db_user="*")
    login(proxy, "camtest").close()
    for i in range(8):  # slower than the limit's burst: each name gets its CAM call
        code, message = login_error(proxy, f"flood-lru-{i}")
        assert code == 1045 and "DataFlowAuthClose" in message
    wait_until(lambda: metric(proxy, "camproxy_cam_cached_accounts") <= 3, 5, "the cache to stay at 3 accounts")
    # The least recently used went first: the oldest name is asked about again, the newest not.
    before = flood_calls(cam)
    login_error(proxy, "flood-lru-7")
    assert flood_calls(cam) == before
    login_error(proxy, "flood-lru-0")
    assert flood_calls(cam) == before + 1
