"""The open-files limit (proxy/fd_limit.h): started with a soft limit of 256 (`ulimit -Sn 256`),
camproxy raises it to the hard limit and says so in its "started" log line."""

from __future__ import annotations

import json
import resource


def soft_open_files_limit(pid: int) -> int:
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError(f"no 'Max open files' in /proc/{pid}/limits")


def test_the_soft_open_files_limit_is_raised_to_the_hard_one(camproxy):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard > 256, "the suite needs a hard open-files limit above 256"
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # inherited by camproxy
    try:
        proxy = camproxy()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    assert soft_open_files_limit(proxy.pid) == wanted
    started = [json.loads(line) for line in proxy.log_text().splitlines() if '"event":"started"' in line]
    assert len(started) == 1, proxy.log_text()
    assert started[0]["open_files_limit"] == f"{wanted} (raised from 256)"
