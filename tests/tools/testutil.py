"""Small helpers shared by the integration harness: ports, bounded waits, log tails,
and a loopback-only JSON-over-HTTP client for the emulator's control API and the
proxy's admin endpoint."""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WaitTimeout(AssertionError):
    """Raised by wait_until; an AssertionError so pytest reports it as a test failure."""


class WaitAbort(Exception):
    """Raise from a wait_until predicate to stop waiting at once (e.g. the process died)."""


def wait_until(pred: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Polls pred() until it returns a truthy value and returns that value.

    Exceptions from pred count as "not yet" (the last one is quoted on timeout), so a
    probe such as "can I log in" can simply raise while the server is starting; only
    WaitAbort ends the wait early.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
            last_error = None  # only the latest attempt's failure is worth quoting
        except WaitAbort:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(interval)


def tail_file(path: str | os.PathLike, lines: int = 40) -> str:
    """The last `lines` lines of a text file, or a note if it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(data.splitlines()[-lines:])


_kPrSetPdeathsig = 1


def die_with_parent() -> None:
    """preexec_fn for children of the harness: the kernel SIGKILLs the child when the
    test process dies, so a killed pytest leaves no mariadbd/emulator/proxy behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_kPrSetPdeathsig, signal.SIGKILL, 0, 0, 0)


def pid_alive(pid: int) -> bool:
    """True if `pid` runs (a zombie, which init may be slow to reap here, is dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> int | None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL. Returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)
    return proc.returncode


def http_request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a fresh connection; `body` (if not None) is sent as JSON, with
    `headers` added to the ones http.client sends (Host among them).

    Returns (status, raw body)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        sent = {} if payload is None else {"Content-Type": "application/json"}
        sent.update(headers or {})
        conn.request(method, path, body=payload, headers=sent)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def http_json(host: str, port: int, method: str, path: str, body: Any = None,
              timeout: float = 5.0) -> tuple[int, Any]:
    """Like http_request, but decodes the answer as JSON (None if it is not JSON)."""
    status, raw = http_request(host, port, method, path, body, timeout)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None
