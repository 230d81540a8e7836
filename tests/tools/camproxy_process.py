"""The camproxy binary as a child process of a test.

    proxy = CamProxy.launch(args, env, log_path, admin_port)   # ready or raises
    proxy.port, proxy.admin_get("/metrics"), proxy.metric(name, label=value), proxy.log_tail(), proxy.stop()

Ready means GET http://127.0.0.1:<admin>/readyz answers 200 within 15 s; on timeout (or
an early exit) the error carries the tail of the proxy's stderr.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Mapping, Optional, Sequence

from testutil import WaitAbort, die_with_parent, http_request, stop_process, tail_file, wait_until

kReadyTimeout = 15.0
kStopGrace = 5.0
kRepoRoot = Path(__file__).resolve().parents[2]


class ProxyNotFound(RuntimeError):
    pass


class ProxyStartError(RuntimeError):
    pass


def proxy_binary() -> str:
    """$CAMPROXY_BIN, else <repo>/build/proxy/camproxy. Raises ProxyNotFound if it is
    not an executable file."""
    path = os.environ.get("CAMPROXY_BIN") or str(kRepoRoot / "build" / "proxy" / "camproxy")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ProxyNotFound(
            f"camproxy binary not found at {path} (build it: cmake -S . -B build && "
            "cmake --build build --target camproxy; or set CAMPROXY_BIN)")
    return path


class CamProxy:
    def __init__(self, proc: subprocess.Popen, port: Optional[int], admin_port: int, log_path: str):
        self._proc = proc
        self.port = port
        self.admin_port = admin_port
        self.log_path = log_path
        self.expected_exit = False  # set by tests that make the proxy exit on purpose

    @classmethod
    def launch(cls, args: Sequence[str], env: Mapping[str, str], log_path: str | os.PathLike,
               admin_port: int, listen_port: Optional[int] = None,
               wait_ready: bool = True, binary: Optional[str] = None) -> "CamProxy":
        binary = binary or proxy_binary()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([binary, *args], env=dict(env), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, preexec_fn=die_with_parent)
        proxy = cls(proc, listen_port, admin_port, str(log_path))
        if wait_ready:
            proxy.wait_ready()
        return proxy

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> Optional[int]:
        return self._proc.poll()

    def admin_get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        return http_request("127.0.0.1", self.admin_port, "GET", path, timeout=timeout)

    def admin_post(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """A POST as an operator sends it: with the X-Camproxy-Admin header (proxy/admin_access.h)."""
        return http_request("127.0.0.1", self.admin_port, "POST", path, timeout=timeout,
                            headers={"X-Camproxy-Admin": "1"})

    def metric(self, name: str, **labels: str) -> float:
        """One sample of GET /metrics: `name` with exactly these labels; 0 when absent."""
        status, body = self.admin_get("/metrics")
        assert status == 200, f"GET /metrics answered {status}"
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
        for line in body.decode().splitlines():
            sample, _, value = line.rpartition(" ")
            if sample == wanted:
                return float(value)
        return 0.0

    def wait_ready(self, timeout: float = kReadyTimeout) -> None:
        """Ready to serve (GET /readyz == 200): listening, and a token in hand with --db-user."""
        self._wait_for_200("/readyz", timeout)

    def wait_healthy(self, timeout: float = kReadyTimeout) -> None:
        """Listening and its loops turning (GET /healthz == 200), token or not."""
        self._wait_for_200("/healthz", timeout)

    def _wait_for_200(self, path: str, timeout: float) -> None:
        def answered() -> bool:
            if self._proc.poll() is not None:
                raise WaitAbort(f"camproxy exited with status {self._proc.returncode}")
            status, body = self.admin_get(path, timeout=1.0)
            if status != 200:
                raise AssertionError(f"GET {path} answered {status}: {body[:200]!r}")
            return True
        try:
            wait_until(answered, timeout, f"camproxy GET {path} == 200 on 127.0.0.1:{self.admin_port}")
        except (AssertionError, WaitAbort) as exc:
            self.stop()
            raise ProxyStartError(f"{exc}\n--- tail of camproxy stderr ({self.log_path}) ---\n"
                                  f"{self.log_tail()}") from None

    def log_tail(self, lines: int = 40) -> str:
        return tail_file(self.log_path, lines)

    def log_text(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def stop(self) -> Optional[int]:
        """SIGTERM, SIGKILL after 5 s. Returns the exit status."""
        return stop_process(self._proc, grace=kStopGrace)

    def stop_and_check(self) -> Optional[str]:
        """Stops the proxy; returns a problem report, or None when it exited cleanly (status 0
        after SIGTERM, no sanitizer report in its log: the suite also runs on ASan/UBSan builds)."""
        status = self.stop()
        text = self.log_text()
        if "Sanitizer" in text or "runtime error:" in text:
            return f"{self.log_path}: sanitizer report\n{self.log_tail(60)}"
        if status not in (0, None) and not self.expected_exit:
            return f"{self.log_path}: exit status {status}\n{self.log_tail(20)}"
        return None

    def kill(self) -> None:
        self._proc.kill()
        self._proc.wait(timeout=kStopGrace)
