"""The open-files limit (proxy/fd_limit.h): started with a soft limit of 256 (`ulimit -Sn 256`),
camproxy raises it to the hard limit and says so in its "started" log line. Out of descriptors,
it pauses accepting (proxy/net/acceptor.h): the clients wait in the kernel's backlog, none is
dropped, and the pause is logged and counted."""

from __future__ import annotations

import json
import resource
import socket

import pymysql
import pytest
from testutil import wait_until


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


def events(proxy, name: str) -> list[dict]:
    return [json.loads(line) for line in proxy.log_text().splitlines() if f'"event":"{name}"' in line]


def test_out_of_descriptors_pauses_accepting_and_drops_nobody(camproxy):
    proxy = camproxy()
    logged_in = pymysql.connect(host="127.0.0.1", port=proxy.port, user="camtest", password="x", connect_timeout=10)
    soft, hard = resource.prlimit(proxy.pid, resource.RLIMIT_NOFILE)
    # Every descriptor camproxy opens from now on gets a number above 3: EMFILE.
    resource.prlimit(proxy.pid, resource.RLIMIT_NOFILE, (3, hard))
    try:
        waiting = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)  # in the kernel's backlog
        probe = socket.create_connection(("127.0.0.1", proxy.admin_port), timeout=5)
        probe.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        wait_until(lambda: {e["listener"] for e in events(proxy, "accept_paused")} >= {"admin"}
                   and len(events(proxy, "accept_paused")) >= 2, 10, "both listeners paused")
        for s in (waiting, probe):  # neither was accepted and closed, as libuv's uv_listen would
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(1)
        with logged_in.cursor() as c:  # a session already in place needs no new descriptor
            c.execute("SELECT 7")
            assert c.fetchone() == (7,)
    finally:
        resource.prlimit(proxy.pid, resource.RLIMIT_NOFILE, (soft, hard))
    paused = events(proxy, "accept_paused")
    assert all(e["reason"] == "process_fd_limit" and e["open_files_limit"] == 3 for e in paused), paused
    waiting.settimeout(5)
    greeting = waiting.recv(5)
    assert len(greeting) == 5 and greeting[4] == 10, greeting  # protocol version 10: the greeting
    probe.settimeout(5)
    assert probe.recv(12) == b"HTTP/1.1 200"
    waiting.close()
    probe.close()
    logged_in.close()
    wait_until(lambda: len(events(proxy, "accept_resumed")) >= len(paused), 5, "every paused listener resumed")
    assert proxy.metric("camproxy_accept_pauses_total", reason="process_fd_limit") >= 2
    fresh = pymysql.connect(host="127.0.0.1", port=proxy.port, user="camtest", password="x", connect_timeout=10)
    fresh.close()
