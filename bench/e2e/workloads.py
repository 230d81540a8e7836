"""The loads of the end-to-end benchmark and the sampler that watches the relay process.

    with ProcessSampler(pid) as s: ...;  s.result() -> {"cpu_s", "rss_max_kib", "rss_end_kib"}
    run_sysbench(sysbench, endpoint, threads, seconds, test=, extra=) -> {"tps", "qps", "avg_ms", "p99_ms", ...}
    run_connect_loop(connect_loop, endpoint, count[, seconds]) -> {"rate", "p50_ms", "p90_ms", "p99_ms", ...}
    hold_connections(connect_loop, endpoint, count) as held: ...   # `count` logged-in clients
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from pathlib import Path
from contextlib import contextmanager
from typing import Iterator, Optional

from stack import Endpoint, kSbtestDb, read_line  # first: it puts tests/tools on sys.path
from proxy_probe import rss_kib
from testutil import die_with_parent, stop_process

# sysbench oltp_point_select, as issue 6 measures it: 4 tables x 10 000 rows, uniform keys;
# oltp_read_only on the same tables; large_result.lua, 100 000 rows of 200 bytes per SELECT.
kPointSelect = "oltp_point_select"
kReadOnly = "oltp_read_only"
kLargeResult = str(Path(__file__).resolve().parent / "large_result.lua")
kTables = 4
kTableSize = 10_000
kSampleInterval = 0.05  # seconds between RSS samples
kClockTicks = os.sysconf("SC_CLK_TCK")


class ToolError(RuntimeError):
    pass


def run_tool(cmd: list[str], timeout: float) -> str:
    """Runs `cmd` to completion (killed after `timeout` s); its stdout, or ToolError."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=die_with_parent)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise ToolError(f"{os.path.basename(cmd[0])} timed out after {timeout:g}s: {err.decode()[-2000:]}")
    if proc.returncode != 0:
        raise ToolError(f"{os.path.basename(cmd[0])} exited with {proc.returncode}:\n"
                        f"{err.decode()[-2000:]}{out.decode()[-2000:]}")
    return out.decode()


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / kClockTicks  # fields 14 and 15 of stat(5)


class ProcessSampler:
    """CPU time used by `pid` while the block runs, and its RSS sampled every 50 ms."""

    def __init__(self, pid: Optional[int]):
        self._pid = pid
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._cpu_start = 0.0
        self._cpu_end = 0.0
        self._rss_max = 0
        self._rss_end = 0

    def __enter__(self) -> "ProcessSampler":
        if self._pid is not None:
            self._cpu_start = cpu_seconds(self._pid)
            self._rss_max = rss_kib(self._pid)
            self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._pid is None or self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._cpu_end = cpu_seconds(self._pid)
        self._rss_end = rss_kib(self._pid)
        self._rss_max = max(self._rss_max, self._rss_end)

    def _sample(self) -> None:
        assert self._pid is not None
        while not self._stop.wait(kSampleInterval):
            try:
                self._rss_max = max(self._rss_max, rss_kib(self._pid))
            except (OSError, AssertionError):  # the process is gone (or a zombie without VmRSS)
                return

    def result(self) -> dict:
        if self._pid is None:
            return {}
        return {"cpu_s": round(self._cpu_end - self._cpu_start, 3), "rss_max_kib": self._rss_max,
                "rss_end_kib": self._rss_end}


def _sysbench_cmd(sysbench: str, ep: Endpoint, command: str, *extra: str, test: str = kPointSelect) -> list[str]:
    return [sysbench, test, "--db-driver=mysql", "--mysql-host=127.0.0.1",
            f"--mysql-port={ep.port}", f"--mysql-user={ep.user}", f"--mysql-password={ep.password}",
            f"--mysql-db={kSbtestDb}", f"--tables={kTables}", f"--table-size={kTableSize}",
            *extra, command]


def prepare_sysbench(sysbench: str, ep: Endpoint) -> None:
    run_tool(_sysbench_cmd(sysbench, ep, "prepare", "--threads=4"), timeout=300)


_kSysbenchPatterns = {
    "tps": r"transactions:\s+\d+\s+\(([\d.]+) per sec\.\)",
    "qps": r"queries:\s+\d+\s+\(([\d.]+) per sec\.\)",
    "queries": r"queries:\s+(\d+)",
    "errors": r"ignored errors:\s+(\d+)",
    "avg_ms": r"avg:\s+([\d.]+)",
    "p99_ms": r"99th percentile:\s+([\d.]+)",
    "max_ms": r"max:\s+([\d.]+)",
}


def parse_sysbench(output: str) -> dict:
    result = {}
    for key, pattern in _kSysbenchPatterns.items():
        m = re.search(pattern, output)
        if m is None:
            raise ToolError(f"sysbench output has no {key}:\n{output[-2000:]}")
        result[key] = float(m.group(1))
    return result


def run_sysbench(sysbench: str, ep: Endpoint, threads: int, seconds: float, test: str = kPointSelect,
                 extra: tuple[str, ...] = ()) -> dict:
    """One run of `test` (sysbench's oltp_* scripts share the prepared tables), `extra` flags
    added; the connections are made before the timed part starts."""
    out = run_tool(_sysbench_cmd(sysbench, ep, "run", f"--threads={threads}", f"--time={seconds:g}",
                                 "--rand-type=uniform", "--percentile=99", "--report-interval=0",
                                 *extra, test=test),
                   timeout=seconds + 120)
    result = parse_sysbench(out)
    if result["errors"]:
        raise ToolError(f"sysbench saw {result['errors']:g} errors:\n{out[-2000:]}")
    return result


def _connect_loop_cmd(connect_loop: str, ep: Endpoint, *extra: str) -> list[str]:
    return [connect_loop, "--host", "127.0.0.1", "--port", str(ep.port), "--user", ep.user,
            "--password", ep.password, *extra]


def run_connect_loop(connect_loop: str, ep: Endpoint, count: int, seconds: Optional[float] = None) -> dict:
    """`count` times connect + SELECT 1 + close, one after the other (or fewer: as many as
    `seconds` allow)."""
    limit = ["--seconds", f"{seconds:g}"] if seconds else []
    out = run_tool(_connect_loop_cmd(connect_loop, ep, "--count", str(count), *limit, "--json"),
                   timeout=120 + (seconds or count * 0.1))
    return json.loads(out)


@contextmanager
def hold_connections(connect_loop: str, ep: Endpoint, count: int) -> Iterator[None]:
    """Keeps `count` logged-in, idle client connections open for the duration of the block."""
    proc = subprocess.Popen(_connect_loop_cmd(connect_loop, ep, "--hold", str(count)),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=die_with_parent)
    try:
        try:
            line = read_line(proc, 120 + count * 0.1, f"{count} held connections")
        except RuntimeError as exc:
            proc.kill()
            raise ToolError(f"{exc}: {proc.communicate()[1].decode()[-2000:]}") from None
        if line != f"held {count}":
            raise ToolError(f"connect_loop --hold said {line!r}")
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # EOF: the program closes its connections and exits
        stop_process(proc, grace=30)
