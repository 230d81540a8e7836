"""camproxy under systemd's Type=notify (docs/operations.md "systemd"): a datagram socket bound
by the test stands in for systemd's $NOTIFY_SOCKET. READY=1 only once /startup answers 200,
STOPPING=1 when SIGTERM starts the drain, WATCHDOG=1 at half of $WATCHDOG_USEC."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from testutil import wait_until


class FakeSystemd:
    """The receiving end of $NOTIFY_SOCKET: every datagram with the time it arrived."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.received: list[tuple[float, str]] = []

    def poll(self) -> list[str]:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.messages()
            self.received.append((time.monotonic(), data.decode()))

    def messages(self) -> list[str]:
        return [m for _, m in self.received]

    def times_of(self, message: str) -> list[float]:
        return [t for t, m in self.received if m == message]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(tmp_path):
    fake = FakeSystemd(tmp_path / "notify.sock")
    yield fake
    fake.close()


def test_ready_only_once_started_then_stopping_on_sigterm(camproxy, cam, systemd):
    cam.control.fail("InternalError")  # no token: /startup answers 503, so no READY=1 yet
    proxy = camproxy(wait_ready=False, env={"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": None})
    wait_until(lambda: any(m.startswith("STATUS=not ready") for m in systemd.poll()), 10,
               "a STATUS= line while waiting for the token")
    assert proxy.admin_get("/startup")[0] == 503
    assert "READY=1" not in systemd.poll()
    cam.control.clear()
    wait_until(lambda: "READY=1" in systemd.poll(), 30, "READY=1 once the first token is in")
    assert proxy.admin_get("/startup")[0] == 200
    wait_until(lambda: any(m.startswith("STATUS=ready; targets: ") for m in systemd.poll()), 10,
               "a STATUS= line saying ready")
    assert not any(m == "WATCHDOG=1" for m in systemd.poll()), "no WATCHDOG_USEC: no watchdog pings"
    proxy._proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "STOPPING=1" in systemd.poll(), 10, "STOPPING=1 after SIGTERM")
    assert proxy._proc.wait(timeout=30) == 0
    messages = systemd.poll()
    assert messages.count("READY=1") == 1 and messages.count("STOPPING=1") == 1
    assert messages.index("READY=1") < messages.index("STOPPING=1")


def test_watchdog_pings_at_half_of_watchdog_usec(camproxy, systemd):
    env = {"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": None}
    camproxy(env=env)
    wait_until(lambda: len([m for m in systemd.poll() if m == "WATCHDOG=1"]) >= 4, 10, "four WATCHDOG=1 pings")
    times = systemd.times_of("WATCHDOG=1")
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(0.3 <= g <= 0.9 for g in gaps[1:]), gaps  # 0.5 s (half of 1 s), give or take a tick


def test_watchdog_meant_for_another_process_is_not_pinged(camproxy, systemd):
    env = {"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}
    camproxy(env=env)
    wait_until(lambda: "READY=1" in systemd.poll(), 10, "READY=1")
    time.sleep(0.5)  # a bounded look for pings that must not come: 2.5 watchdog intervals
    assert "WATCHDOG=1" not in systemd.poll()
