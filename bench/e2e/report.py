"""Turns the raw runs of the end-to-end benchmark into one table (medians, spread, ratios and
issue 6's targets) and the JSON document that keeps every raw number."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable, Optional

kTargets = ("direct", "haproxy", "camproxy")
# run.py --baseline: another camproxy build in the same run, for a before/after comparison.
kBaseline = "baseline"
# The camproxy under test on its epoll data path (full runs only): the io_uring path's comparison.
kEpoll = "epoll"
# Scenarios the full run adds (issue 19): oltp_read_only per thread count, one large result.
kLargeResult = "large_result"
kLargeResultThreads = 2
# bench/e2e/noop_server.c: the ceiling of the plain connect loop, a column of its own.
kNoop = "noop"
kNoopScenarios = ("connect",)
# The connect loop at +1 ms during the first second after a new camproxy reports ready.
kFirstSecond = "connect_first_second"
kColumns = (*kTargets, kEpoll, kBaseline, kNoop)
kMiB = 1024.0


@dataclass(frozen=True)
class Target:
    """An issue 6 target on a ratio (or on the camproxy value when `against` is None)."""
    against: Optional[str]  # "haproxy", "direct" or None
    op: str                 # ">=" or "<="
    bound: float

    def describe(self) -> str:
        unit = "" if self.against is None else f"x {'HA' if self.against == 'haproxy' else 'direct'}"
        return f"{self.op} {self.bound:g}{unit}"

    def met(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound


@dataclass(frozen=True)
class Metric:
    label: str
    scenario: str
    value: Callable[[dict], Optional[float]]
    digits: int
    target: Optional[Target] = None


def _result(key: str) -> Callable[[dict], Optional[float]]:
    return lambda run: run["result"].get(key)


def _relay_cpu_us(per: str) -> Callable[[dict], Optional[float]]:
    """Relay CPU time per query (sysbench) or per connection (connect loop), in microseconds."""
    def value(run: dict) -> Optional[float]:
        cpu = run["relay"].get("cpu_s")
        ops = run["result"].get(per)
        return None if cpu is None or not ops else cpu / ops * 1e6
    return value


def _relay_cpu_ms_per_query(run: dict) -> Optional[float]:
    us = _relay_cpu_us("queries")(run)
    return None if us is None else us / 1000


def metrics(threads: list[int], full: bool) -> list[Metric]:
    rows = []
    for t in threads:
        rows.append(Metric(f"point_select tps, {t} thr", f"sysbench_t{t}", _result("tps"), 0,
                           Target("haproxy", ">=", 1.0)))
    for t in threads:
        rows.append(Metric(f"point_select p99 ms, {t} thr", f"sysbench_t{t}", _result("p99_ms"), 2,
                           Target("haproxy", "<=", 1.0) if t == 8 else None))
    rows += [
        Metric("connect+SELECT 1+close /s", "connect", _result("rate"), 0, Target("direct", ">=", 1.0)),
        Metric("  its p99 ms", "connect", _result("p99_ms"), 2),
        Metric("  its login p50 ms", "connect", _result("login_p50_ms"), 3),
        Metric("  its SELECT 1 p50 ms", "connect", _result("select_p50_ms"), 3),
        # Issue 16: 2.3x direct (the round-trip ideal is 2.5x), also from the first second.
        Metric("same, +1 ms RTT to db /s", "connect_delayed", _result("rate"), 0,
               Target("direct", ">=", 2.3)),
        Metric("  its p99 ms", "connect_delayed", _result("p99_ms"), 2),
        # bench/e2e/delay_relay.c's count: answered request bursts + half a round trip per new
        # database connection, per cycle (direct: greeting, login, query = 2.5).
        Metric("  its db round trips per cycle", "connect_delayed", _result("db_round_trips"), 2),
        Metric("  first second after start /s", kFirstSecond, _result("rate"), 0, Target("direct", ">=", 2.3)),
        Metric("  its db round trips per cycle", kFirstSecond, _result("db_round_trips"), 2),
    ]
    for t in threads:
        rows.append(Metric(f"relay CPU us/query, {t} thr", f"sysbench_t{t}", _relay_cpu_us("queries"), 1,
                           Target("haproxy", "<=", 0.6) if t in (8, 32) else None))
    rows.append(Metric("relay CPU us/connection", "connect", _relay_cpu_us("count"), 1))
    if not full:
        return rows
    for label, key, digits in (("tps", "tps", 0), ("p99 ms", "p99_ms", 2)):
        rows += [Metric(f"read_only {label}, {t} thr", f"readonly_t{t}", _result(key), digits) for t in threads]
    rows += [Metric(f"read_only relay CPU us/query, {t} thr", f"readonly_t{t}", _relay_cpu_us("queries"), 1)
             for t in threads]
    rows += [
        Metric(f"100k-row SELECT /s, {kLargeResultThreads} thr", kLargeResult, _result("tps"), 2),
        Metric("  its p99 ms", kLargeResult, _result("p99_ms"), 0),
        Metric("  relay CPU ms/query", kLargeResult, _relay_cpu_ms_per_query, 2),
    ]
    return rows


def _spread_pct(values: list[float]) -> float:
    """(max - min) / median, in percent: how far apart the repetitions were."""
    med = statistics.median(values)
    return 0.0 if med == 0 else (max(values) - min(values)) / med * 100


def summarize(runs: list[dict], threads: list[int], memory: dict, full: bool = False) -> list[dict]:
    rows = []
    for m in metrics(threads, full):
        row: dict = {"metric": m.label, "digits": m.digits}
        for target in kColumns:
            values = [v for r in runs if r["scenario"] == m.scenario and r["target"] == target
                      for v in [m.value(r)] if v is not None]
            if values:
                row[target] = {"median": statistics.median(values), "spread_pct": _spread_pct(values),
                               "values": values}
        cp = row.get("camproxy", {}).get("median")
        for other in ("haproxy", "direct", kEpoll, kBaseline):
            base = row.get(other, {}).get("median")
            row[f"camproxy/{other}"] = cp / base if cp is not None and base else None
        if m.target is not None:
            row["target"] = m.target.describe()
            ratio = row.get(f"camproxy/{m.target.against}")
            row["target_met"] = None if ratio is None else m.target.met(ratio)
        rows.append(row)
    rows += _memory_rows(memory)
    return rows


def _memory_rows(memory: dict) -> list[dict]:
    """camproxy's memory: single measurements (no spread), in MiB."""
    rows = []
    for label, key, bound in (("camproxy RSS idle MiB", "idle_rss_kib", 16),
                              ("  + per 1000 idle clients MiB", "growth_kib_per_1000", 32),
                              ("camproxy RSS peak in runs MiB", "peak_rss_kib_during_runs", None)):
        kib = memory.get(key)
        if kib is None:
            continue
        row = {"metric": label, "digits": 1, "camproxy": {"median": kib / kMiB, "spread_pct": None}}
        if bound is not None:
            row.update(target=f"<= {bound}", target_met=kib / kMiB <= bound)
        rows.append(row)
    return rows


def _cell(row: dict, target: str) -> str:
    cell = row.get(target)
    if cell is None:
        return "-"
    value = f"{cell['median']:.{row['digits']}f}"
    return value if cell["spread_pct"] is None else f"{value} ({cell['spread_pct']:.0f}%)"


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_table(rows: list[dict], header: str) -> str:
    """One fixed-width table: median (spread %) per target, the two ratios, the target."""
    columns = [c for c in kColumns if any(c in row for row in rows)]  # baseline only when run
    ratios = [("cp/HA", "haproxy"), ("cp/direct", "direct")] + \
        ([("cp/epoll", kEpoll)] if kEpoll in columns else []) + \
        ([("cp/baseline", kBaseline)] if kBaseline in columns else [])
    cols = ["metric", *columns, *(name for name, _ in ratios), "target"]
    lines = []
    for row in rows:
        verdict = ""
        if "target" in row:
            met = row.get("target_met")
            verdict = f"{row['target']} {'-' if met is None else 'met' if met else 'MISSED'}"
        lines.append([row["metric"], *(_cell(row, t) for t in columns),
                      *(_ratio(row.get(f"camproxy/{other}")) for _, other in ratios), verdict])
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(cols)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in (0, len(cols) - 1) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [header, fmt(cols), fmt(["-" * w for w in widths])]
    out += [fmt(line) for line in lines]
    out.append("cells: median (spread = (max-min)/median over the repetitions); "
               "ratios compare medians; relay CPU = the CPU time of HAProxy, camproxy or the noop server")
    if kEpoll in columns:
        out.append("epoll: the same camproxy with --data-path=epoll; camproxy runs its default (auto: io_uring "
                   "where the kernel allows it)")
    if kBaseline in columns:
        out.append("baseline: another camproxy build run beside camproxy in the same run (--baseline)")
    out.append("noop: a server that answers the login and SELECT 1 itself with no work, the most "
               "any server or relay could reach here")
    return "\n".join(out)
