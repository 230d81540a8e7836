"""camproxy seen from outside, for tests that check it came back whole after a fault: its
/metrics samples, its resident memory, and the database sessions MariaDB itself lists for the
proxy's account.

    metric(proxy, "camproxy_upstream_connections_open")
    metric(proxy, "camproxy_client_connections_failed_total", reason="handshake_timeout")
    rss_kib(proxy.pid), upstream_thread_ids(mariadb, "camtest")
"""

from __future__ import annotations

import re

kSample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
kLabel = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample of a Prometheus text 0.0.4 page."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = kSample.match(line)
        if match is None:
            raise AssertionError(f"not a Prometheus sample line: {line!r}")
        name, labels, value = match.groups()
        samples.append((name, dict(kLabel.findall(labels or "")), float(value)))
    return samples


def metric(proxy, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    status, body = proxy.admin_get("/metrics", timeout=5.0)
    assert status == 200, f"GET /metrics answered {status}"
    return sum(value for sample, have, value in parse_metrics(body.decode())
               if sample == name and all(have.get(k) == v for k, v in labels.items()))


def rss_kib(pid: int) -> int:
    """VmRSS of a live process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def upstream_thread_ids(mariadb, user: str) -> list[int]:
    """MariaDB's own list of the sessions of `user` (information_schema.PROCESSLIST)."""
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (user,))
        return sorted(row[0] for row in cur.fetchall())
