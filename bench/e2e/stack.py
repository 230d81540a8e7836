"""The processes of the end-to-end benchmark, all on 127.0.0.1, all stopped on exit.

    with Stack(tools, workdir, camproxy_bin, extra_proxy_args, delay_us, baseline_bin=None) as stack:
        stack.target("direct" | "haproxy" | "camproxy" | "epoll" | "baseline" | "noop", delayed=False) -> Endpoint
        stack.relay_pid("haproxy" | "camproxy" | "epoll" | "baseline" | "noop", delayed=False) -> pid of its process
        stack.start_camproxy("idle", *flags); stack.camproxy_endpoint("idle"); stack.stop_camproxy("idle")
        stack.start_fresh("camproxy" | "baseline", name) -> Endpoint   # a new delayed one

Reuses the integration harness (tests/tools): MariaDB, the CAM emulator, CamProxy.
The delay relay sits in front of the DATABASE: every target has a delayed twin
(direct -> relay -> db, haproxy -> relay -> db, camproxy -> relay -> db), so a pool in
camproxy would hide the added round trip from the client. "noop" is bench/e2e/noop_server.c,
with no database behind it and no delayed twin. "baseline" (with baseline_bin) is a second
camproxy binary, another build of it, run beside the first with the same flags: a before/after
comparison within one run. "epoll" (with epoll_twin) is the camproxy under test again, forced to
its epoll data path (--data-path=epoll), with no delayed twin: the io_uring path's comparison.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

kRepoRoot = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(kRepoRoot / "tests" / "tools"))

from cam_client import EmulatorProcess  # noqa: E402
from cam_verify import Credential  # noqa: E402
from camproxy_process import CamProxy  # noqa: E402
from mariadb_server import MariaDB  # noqa: E402
from testutil import WaitAbort, die_with_parent, free_port, stop_process, wait_until  # noqa: E402

# The same CAM identity the integration tests use (tests/integration/conftest.py).
kInstanceId = "cdb-camproxy1"
kRegion = "ap-guangzhou"
kCamAccount = "camtest"
kCredential = Credential("AKID-camproxy-harness-0001", "camproxyHarnessSecretKey00000001")
kSbtestDb = "sbtest"
kAnyPassword = "any-password"  # camproxy accepts any application password
kStartTimeout = 30.0


@dataclass(frozen=True)
class Endpoint:
    port: int
    user: str
    password: str


def read_line(proc: subprocess.Popen, timeout: float, what: str) -> str:
    """The child's next stdout line, or RuntimeError after `timeout` seconds or at EOF."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                raise RuntimeError(f"{what}: the process exited (status {proc.wait()})")
            buf += chunk
    return buf.decode().strip()


class Stack:
    def __init__(self, tools: dict[str, str], workdir: Path, camproxy_bin: str,
                 extra_proxy_args: list[str], delay_us: int, baseline_bin: Optional[str] = None,
                 baseline_args: Optional[list[str]] = None, epoll_twin: bool = False):
        self._tools = tools
        self._dir = workdir
        self._camproxy_bin = camproxy_bin
        self._baseline_bin = baseline_bin  # a second camproxy (another build) beside the first
        self._baseline_args = baseline_args or []  # its own flags, after the shared ones
        self._epoll_twin = epoll_twin
        self._extra_proxy_args = list(extra_proxy_args)
        self._delay_us = delay_us
        self._exit = ExitStack()
        self._db: Optional[MariaDB] = None
        self._cam: Optional[EmulatorProcess] = None
        self._relay_port = 0
        self._delay_relay: Optional[subprocess.Popen] = None
        self._noop: Optional[subprocess.Popen] = None
        self._noop_port = 0
        self._haproxy: Optional[subprocess.Popen] = None
        self._haproxy_ports: dict[bool, int] = {}
        self._proxies: dict[str, CamProxy] = {}

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> "Stack":
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._exit.close()

    def _start(self) -> None:
        self._db = self._exit.enter_context(MariaDB(tls=False))
        self._prepare_accounts()
        self._cam = self._exit.enter_context(EmulatorProcess(self._emulator_args(), self._dir / "cam_emulator.log"))
        self._relay_port = self._start_delay_relay()
        self._start_noop_server()
        self._start_haproxy()
        for name in ("main", "delayed"):
            self.start_camproxy(name)
            if self._baseline_bin:
                self.start_camproxy(f"baseline-{name}", binary=self._baseline_bin, last_args=self._baseline_args)
        if self._epoll_twin:
            self.start_camproxy("epoll", last_args=["--data-path=epoll"])

    def _prepare_accounts(self) -> None:
        assert self._db is not None
        with self._db.admin() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {kSbtestDb}")
            cur.execute(f"GRANT ALL PRIVILEGES ON {kSbtestDb}.* TO '{kCamAccount}'@'%'")

    def _emulator_args(self) -> list[str]:
        assert self._db is not None
        return ["--credential", f"{kCredential.secret_id}:{kCredential.secret_key}",
                "--account", f"{kInstanceId}:{kRegion}:{kCamAccount}",
                "--mysql-host", "127.0.0.1", "--mysql-port", str(self._db.port),
                "--mysql-user", self._db.admin_user, "--mysql-password", self._db.admin_password,
                "--rotation-seconds", "86400"]

    def _spawn(self, cmd: list[str], log_name: str, stdout_pipe: bool = False) -> subprocess.Popen:
        with open(self._dir / log_name, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE if stdout_pipe else log, stderr=log,
                                    preexec_fn=die_with_parent)
        self._exit.callback(stop_process, proc)
        return proc

    def _start_delay_relay(self) -> int:
        assert self._db is not None
        self._delay_relay = self._spawn([self._tools["delay_relay"], "--listen-port", "0", "--target-port",
                                         str(self._db.port), "--delay-us", str(self._delay_us)],
                                        "delay_relay.log", stdout_pipe=True)
        return _listening_port(self._delay_relay, "the delay relay")

    def relay_counts(self) -> tuple[int, int]:
        """The delay relay's totals so far: (connections to the database, request bursts it
        answered); see bench/e2e/delay_relay.c."""
        assert self._delay_relay is not None
        self._delay_relay.send_signal(signal.SIGUSR1)
        words = read_line(self._delay_relay, kStartTimeout, "the delay relay's counts").split()
        if len(words) != 5 or words[:2] != ["counts", "connections"] or words[3] != "answered":
            raise RuntimeError(f"the delay relay said {' '.join(words)!r}, not its counts")
        return int(words[2]), int(words[4])

    def _start_noop_server(self) -> None:
        self._noop = self._spawn([self._tools["noop_server"], "--listen-port", "0"], "noop_server.log",
                                 stdout_pipe=True)
        self._noop_port = _listening_port(self._noop, "the no-op server")

    def _start_haproxy(self) -> None:
        assert self._db is not None
        self._haproxy_ports = {False: free_port(), True: free_port()}
        config = self._dir / "haproxy.cfg"
        # The plainest TCP relay (TESTING-NOTES.md "Measuring"): mode tcp, default threads
        # (one per core, as camproxy's default workers), long idle timeouts.
        config.write_text(
            "global\n  maxconn 5000\n"
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n"
            f"listen direct\n  bind 127.0.0.1:{self._haproxy_ports[False]}\n"
            f"  server db 127.0.0.1:{self._db.port}\n"
            f"listen delayed\n  bind 127.0.0.1:{self._haproxy_ports[True]}\n"
            f"  server db 127.0.0.1:{self._relay_port}\n")
        self._haproxy = self._spawn([self._tools["haproxy"], "-db", "-f", str(config)], "haproxy.log")
        for port in self._haproxy_ports.values():
            wait_until(lambda p=port: _port_open(p, self._haproxy), kStartTimeout, f"HAProxy on {port}")

    def start_camproxy(self, name: str, *args: str, binary: Optional[str] = None,
                       last_args: Optional[list[str]] = None, delayed: bool = False) -> CamProxy:
        """Starts (or returns) the camproxy called `name`; "delayed" and "baseline-delayed" (and
        any with `delayed`) log in through the relay. `args` go before the --camproxy-arg flags (so those win); `binary`
        replaces the camproxy under test (the baseline's); `last_args` come after everything."""
        if name in self._proxies:
            return self._proxies[name]
        assert self._db is not None and self._cam is not None
        upstream_port = self._relay_port if delayed or name.endswith("delayed") else self._db.port
        listen_port, admin_port = free_port(), free_port()
        # Plaintext on both hops, as the direct and HAProxy paths are.
        flags = ["--upstream", f"127.0.0.1:{upstream_port}", "--region", kRegion,
                "--instance-id", kInstanceId, "--listen", f"127.0.0.1:{listen_port}",
                "--cam-endpoint", self._cam.endpoint, "--admin", f"127.0.0.1:{admin_port}",
                "--db-user", kCamAccount, "--upstream-tls", "disable", "--client-tls", "off",
                *args, *self._extra_proxy_args, *(last_args or [])]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "CAMPROXY_"))}
        env["TENCENTCLOUD_SECRET_ID"] = kCredential.secret_id
        env["TENCENTCLOUD_SECRET_KEY"] = kCredential.secret_key
        proxy = CamProxy.launch(flags, env, self._dir / f"camproxy-{name}.log", admin_port, listen_port,
                                binary=binary or self._camproxy_bin)
        self._exit.callback(proxy.stop)
        self._proxies[name] = proxy
        return proxy

    def start_fresh(self, target: str, name: str) -> Endpoint:
        """A new camproxy process in front of the delay relay, with `target`'s ("camproxy" or
        "baseline") binary and flags, ready when this returns; stop it with stop_camproxy(name)."""
        baseline = target == "baseline"
        self.start_camproxy(name, binary=self._baseline_bin if baseline else None,
                            last_args=self._baseline_args if baseline else None, delayed=True)
        return self.camproxy_endpoint(name)

    def stop_camproxy(self, name: str) -> None:
        proxy = self._proxies.pop(name, None)
        if proxy is not None:
            proxy.stop()

    # -- what the workloads use ------------------------------------------------------
    def target(self, name: str, delayed: bool = False) -> Endpoint:
        assert self._db is not None
        if name == "direct":
            port = self._relay_port if delayed else self._db.port
            return Endpoint(port, self._db.admin_user, self._db.admin_password)
        if name == "haproxy":
            return Endpoint(self._haproxy_ports[delayed], self._db.admin_user, self._db.admin_password)
        if name in ("camproxy", "baseline", "epoll"):
            return self.camproxy_endpoint(self._proxy_name(name, delayed))
        if name == "noop" and not delayed:
            return Endpoint(self._noop_port, "noop", "unchecked")
        raise ValueError(f"unknown target {name!r}" + (" with the delay relay" if delayed else ""))

    @staticmethod
    def _proxy_name(target: str, delayed: bool) -> str:
        if target == "epoll" and not delayed:
            return "epoll"
        name = "delayed" if delayed else "main"
        return f"baseline-{name}" if target == "baseline" else name

    def camproxy_endpoint(self, name: str) -> Endpoint:
        port = self._proxies[name].port
        assert port is not None
        return Endpoint(port, kCamAccount, kAnyPassword)

    def camproxy_pid(self, name: str) -> int:
        return self._proxies[name].pid

    def relay_pid(self, name: str, delayed: bool = False) -> Optional[int]:
        """The pid of the relay process on `name`'s path (None for direct)."""
        if name == "haproxy":
            assert self._haproxy is not None
            return self._haproxy.pid
        if name in ("camproxy", "baseline", "epoll"):
            return self._proxies[self._proxy_name(name, delayed)].pid
        if name == "noop":
            assert self._noop is not None
            return self._noop.pid
        return None


def _listening_port(proc: subprocess.Popen, what: str) -> int:
    """The port from the child's "listening P" line."""
    line = read_line(proc, kStartTimeout, f"{what}'s 'listening' line")
    words = line.split()
    if len(words) != 2 or words[0] != "listening" or not words[1].isdigit():
        raise RuntimeError(f"{what} said {line!r}, not 'listening PORT'")
    return int(words[1])


def _port_open(port: int, proc: Optional[subprocess.Popen]) -> bool:
    if proc is not None and proc.poll() is not None:
        raise WaitAbort(f"exited with status {proc.returncode}")
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def find_tool(name: str) -> Optional[str]:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}")
                                       if os.access(p, os.X_OK)), None)
