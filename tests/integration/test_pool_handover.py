"""A connection handed to the next client while its reset runs (issue 16, "Connect cost behind
network latency"): with 10 ms of round trip in front of MariaDB (bench/e2e/delay_relay.c), the
next client of a --pool-max 1 proxy is answered at once and its first command follows the reset
in the same stream; none of the last client's state reaches it (test_pool.py's LEAKS)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pymysql
import pytest

from camproxy_process import proxy_binary
from test_pool import LEAKS, connect, one, thread_id
from testutil import die_with_parent, stop_process

kDelayUs = 5000  # each way: a reset takes 10 ms, far longer than a local login


class DelayRelay:
    """bench/e2e/delay_relay.c in front of MariaDB: the build's (CMake target delay_relay), or
    compiled here for a build without the benchmarks (the sanitizer builds). `address` for
    --upstream; answered() is its count of request bursts the database answered (database round
    trips: pipelined commands written back to back are one)."""

    def __init__(self, target_port: int, delay_us: int, tmp_path: Path):
        relay = Path(proxy_binary()).resolve().parent.parent / "bench" / "delay_relay"
        if not os.access(relay, os.X_OK):
            source = Path(__file__).resolve().parents[2] / "bench" / "e2e" / "delay_relay.c"
            relay = tmp_path / "delay_relay"
            subprocess.run(["cc", "-O2", "-pthread", "-o", str(relay), str(source)], check=True, timeout=120)
        self.proc = subprocess.Popen([str(relay), "--listen-port", "0", "--target-port", str(target_port),
                                      "--delay-us", str(delay_us)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)
        line = self.proc.stdout.readline().decode().split()
        assert line[:1] == ["listening"], line
        self.address = f"127.0.0.1:{line[1]}"

    def answered(self) -> int:
        self.proc.send_signal(signal.SIGUSR1)
        line = self.proc.stdout.readline().decode().split()  # "counts connections C answered A"
        assert line[:1] == ["counts"], line
        return int(line[4])

    def stop(self):
        stop_process(self.proc)


@pytest.fixture
def delayed_upstream(mariadb, tmp_path):
    relay = DelayRelay(mariadb.port, kDelayUs, tmp_path)
    try:
        yield relay.address
    finally:
        relay.stop()


def test_the_next_client_gets_the_connection_being_reset_and_none_of_its_state(camproxy, delayed_upstream):
    proxy = camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", "1", "--log-level", "debug",
                     upstream=delayed_upstream)
    with connect(proxy) as warm:  # the pool's first return proves COM_RESET_CONNECTION works here
        tid = thread_id(warm)
    waited = []
    for name in sorted(LEAKS):
        statements, probe, expected = LEAKS[name]
        with connect(proxy) as a:
            for sql in statements:
                one(a, sql)
        before = proxy.metric("camproxy_login_upstream_waits_total", reason="pool_wait")
        with connect(proxy) as b:  # at --pool-max 1: A's connection, still being reset
            if proxy.metric("camproxy_login_upstream_waits_total", reason="pool_wait") > before:
                waited.append(name)
            assert thread_id(b) == tid, name
            if isinstance(expected, int):
                with pytest.raises(pymysql.err.MySQLError) as info:
                    one(b, probe)
                assert info.value.args[0] == expected, name
            else:
                assert one(b, probe) == expected, name
            assert one(b, "SELECT @@autocommit")[0] == 1, name
    # A left another schema than B wants: B waits for the reset, then COM_INIT_DB (a promise
    # about the schema would need the reset's answer). Every other B was answered at once. (On a
    # loaded machine B's login may come after the reset's reply: then even "schema" waits not.)
    assert set(waited) <= {"schema"}, waited
    assert proxy.log_text().count('"event":"pool_handover"') >= len(LEAKS) - 1
