#!/usr/bin/python3
"""Transaction pooling benchmark (issue 15): camproxy --pool-mode transaction against session
mode, interleaved in one run on this machine; prints one table and writes the raw numbers.

    /usr/bin/python3 bench/e2e/txpool.py           full run (~10 min on 2 cores)
    /usr/bin/python3 bench/e2e/txpool.py --short   smoke run (~30 s): 100 clients, 1 s sysbench
    /usr/bin/python3 bench/e2e/txpool.py --help    every knob (clients, think time, pool size, ...)

Two camproxy processes in front of one throwaway MariaDB (the stack of bench/e2e/run.py):
`session` (--pool-max clients+100: one database connection per client) and `transaction`
(--pool-mode transaction --pool-max 50). Each repetition runs, in both modes, the first going
first in turn:
  many clients: 1 000 connections from one asyncio process (bench/e2e/async_client.py), each
  thinking a random time (exponential, --think-ms) between operations: half autocommit point
  reads, half BEGIN; UPDATE one row; [--txn-hold-ms of its own work;] COMMIT. Every error
  counts; the updates must all be in the table at the end. A process of its own samples the
  database connections every 100 ms, from camproxy's camproxy_target_upstream_connections and
  from MariaDB's processlist (the sessions whose client port is that camproxy's);
  sysbench oltp_read_write and oltp_point_select at 8 and 32 threads, with --db-ps-mode=disable
  (text protocol: a server-side prepared statement pins a session in transaction mode, so with
  it nothing would be shared), and MariaDB's counts of the statements it ran (Questions,
  Com_select, Com_set_option), to see what camproxy adds per client statement.
The load generator's own CPU time is measured: it runs in one Python thread, so near 1 CPU
second per second it, not camproxy, is the limit. docs/benchmarks.md "Transaction pooling".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
import run  # noqa: E402  (first: through stack it puts tests/tools on sys.path)
import workloads  # noqa: E402
from proxy_probe import metric, parse_metrics  # noqa: E402
from stack import Stack  # noqa: E402
from testutil import tail_file, wait_until  # noqa: E402
from txpool_clients import Admin, ClientLoad, ConnectionSampler, kTable, prepare_table  # noqa: E402

kModes = ("session", "transaction")
kSysbenchTests = ("oltp_read_write", "oltp_point_select")
# What camproxy may add to a client's statements in transaction mode: the LAST_INSERT_ID() read
# (Com_select), the attach fix-ups (Com_set_option: SET last_insert_id, replayed SETs; Com_change_db).
kServerCounters = ("Questions", "Com_select", "Com_set_option", "Com_change_db")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", action="store_true", help="smoke mode: 100 clients, 1 repetition, short runs")
    p.add_argument("--repetitions", type=int, help="rounds over both modes (3; short: 1)")
    p.add_argument("--clients", type=int, help="client connections (1000; short: 100)")
    p.add_argument("--seconds", type=float, help="length of a many-clients run (30; short: 2)")
    p.add_argument("--think-ms", type=float, default=1000.0, help="mean think time between operations")
    p.add_argument("--txn-hold-ms", type=float, default=0.0,
                   help="the client's own work inside each transaction, between UPDATE and COMMIT (0)")
    p.add_argument("--pool-max", type=int, default=50, help="--pool-max of the transaction-mode camproxy")
    p.add_argument("--sysbench-threads", help="comma-separated (8,32; short: 8)")
    p.add_argument("--sysbench-seconds", type=float, help="sysbench run length (10; short: 1)")
    p.add_argument("--no-clients", action="store_true", help="skip the many-clients runs")
    p.add_argument("--no-sysbench", action="store_true", help="skip the sysbench runs")
    p.add_argument("--build-dir", default=os.environ.get("CAMPROXY_BUILD_DIR", "build"))
    p.add_argument("--camproxy", help="camproxy binary (default: $CAMPROXY_BIN or BUILD/proxy/camproxy)")
    p.add_argument("--camproxy-arg", action="append", default=[], help="extra flag for both camproxies")
    p.add_argument("--json", help="raw results file (default: $TMPDIR/camproxy-txpool-<time>.json)")
    p.add_argument("--no-install", action="store_true", help="never run apt-get")
    args = p.parse_args()
    short = args.short
    args.repetitions = args.repetitions or (1 if short else 3)
    args.clients = args.clients or (100 if short else 1000)
    args.seconds = args.seconds or (2 if short else 30)
    args.sysbench_threads = [int(t) for t in (args.sysbench_threads or ("8" if short else "8,32")).split(",")]
    args.sysbench_seconds = args.sysbench_seconds or (1 if short else 10)
    build = Path(args.build_dir)
    args.build_dir = build if build.is_absolute() else run.kRepoRoot / build
    args.camproxy = args.camproxy or os.environ.get("CAMPROXY_BIN") or str(args.build_dir / "proxy" / "camproxy")
    args.baseline = None  # run.tools() checks it
    return args


def raise_fd_limit(need: int) -> int:
    """Raises this process's soft descriptor limit to `need` (the processes it starts inherit it:
    session-mode camproxy holds two sockets per client); the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise SystemExit(f"the descriptor limit is {hard} (hard): {need} needed for the clients")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return max(soft, need)


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far, from /proc/stat: everyone's load, not just ours."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def counters(proxy) -> dict[str, float]:
    """Every counter sample of camproxy's /metrics, keyed by name{labels}."""
    status, body = proxy.admin_get("/metrics", timeout=5.0)
    assert status == 200, f"GET /metrics answered {status}"
    return {name + json.dumps(labels, sort_keys=True): value
            for name, labels, value in parse_metrics(body.decode()) if name.endswith("_total")}


def counter_deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def run_clients(stack: Stack, proxies: dict, args, mode: str, rep: int) -> dict:
    proxy = proxies[mode]
    admin = Admin(stack.target("direct"))
    try:
        before_sum = admin.value(f"SELECT SUM(n) FROM {kTable}")
        load = ClientLoad(proxy.port, args.clients, args.seconds, args.think_ms / 1000, args.txn_hold_ms / 1000)
        metrics_before = counters(proxy)
        jiffies_before = machine_busy()
        with workloads.ProcessSampler(os.getpid()) as gen_cpu, workloads.ProcessSampler(proxy.pid) as proxy_cpu, \
                ConnectionSampler(proxy, stack) as conns:
            wall = time.monotonic()
            asyncio.run(load.run())
            wall = time.monotonic() - wall
        jiffies = [a - b for a, b in zip(machine_busy(), jiffies_before)]
        if conns.result()["metric"]["samples"] == 0:
            raise RuntimeError("the connection sampler took no sample")
        result = load.result()
        result["table_delta"] = admin.value(f"SELECT SUM(n) FROM {kTable}") - before_sum
        if result["table_delta"] != result["committed"]:
            result["errors"] += 1
            result["error_kinds"]["lost updates"] = result["committed"] - result["table_delta"]
        # Once every client has gone: no session left pinned, the pool within its bound.
        wait_until(lambda: metric(proxy, "camproxy_target_client_connections") == 0, 30,
                   "camproxy to see every client gone")
        result["after"] = {"pinned": metric(proxy, "camproxy_pool_pinned_sessions"),
                           "db_connections": metric(proxy, "camproxy_target_upstream_connections"),
                           "processlist": admin.sessions_of(proxy.pid)}
    finally:
        admin.close()
    gen = gen_cpu.result()
    return {"kind": "clients", "mode": mode, "rep": rep, "result": result, "connections": conns.result(),
            "generator_cpu_per_s": gen["cpu_s"] / wall, "camproxy_cpu_per_s": proxy_cpu.result()["cpu_s"] / wall,
            "machine_busy_pct": jiffies[0] / jiffies[1] * 100 if jiffies[1] else None, "wall_s": wall,
            "counters": counter_deltas(metrics_before, counters(proxy))}


def run_sysbench(stack: Stack, proxies: dict, tool: dict, args, mode: str, test: str, threads: int,
                 rep: int) -> dict:
    proxy = proxies[mode]
    admin = Admin(stack.target("direct"))
    try:
        metrics_before = counters(proxy)
        server_before = admin.statement_counts(kServerCounters)
        with workloads.ProcessSampler(proxy.pid) as cpu:
            result = workloads.run_sysbench(tool["sysbench"], stack.camproxy_endpoint(mode), threads,
                                            args.sysbench_seconds, test=test, extra=("--db-ps-mode=disable",))
        # What MariaDB ran per statement sysbench sent (the `SHOW GLOBAL STATUS` counts itself once).
        server = {k: v - server_before.get(k, 0.0) for k, v in admin.statement_counts(kServerCounters).items()}
        server["Questions"] -= 1
        result["server_per_query"] = {k: v / result["queries"] for k, v in server.items()}
    finally:
        admin.close()
    return {"kind": "sysbench", "mode": mode, "rep": rep, "test": test, "threads": threads, "result": result,
            "camproxy_cpu_us_per_query": cpu.result()["cpu_s"] / result["queries"] * 1e6,
            "counters": counter_deltas(metrics_before, counters(proxy))}


def rotated(rep: int, i: int) -> tuple[str, ...]:
    """Both modes, the first going first in turn: neither always runs on a cold cache."""
    shift = (rep + i) % len(kModes)
    return kModes[shift:] + kModes[:shift]


def run_schedule(stack: Stack, proxies: dict, tool: dict, args) -> list[dict]:
    runs = []
    for rep in range(args.repetitions):
        if not args.no_clients:
            for mode in rotated(rep, 0):
                r = run_clients(stack, proxies, args, mode, rep)
                res, c = r["result"], r["connections"]
                run.log(f"[{rep + 1}/{args.repetitions}] {args.clients} clients {mode:11} "
                        f"{res['ops_per_s']:.0f} ops/s p99 {res['p99_ms']:.1f} ms busy {res['busy_pct']:.1f}% "
                        f"errors {res['errors']} db conns max {c['metric']['max']:.0f} (metric) "
                        f"{c['processlist']['max']:.0f} (processlist) generator CPU {r['generator_cpu_per_s']:.2f}")
                runs.append(r)
        if args.no_sysbench:
            continue
        for i, (test, threads) in enumerate((t, n) for t in kSysbenchTests for n in args.sysbench_threads):
            for mode in rotated(rep, i):
                r = run_sysbench(stack, proxies, tool, args, mode, test, threads, rep)
                res = r["result"]
                run.log(f"[{rep + 1}/{args.repetitions}] {test} {threads:2} thr {mode:11} {res['tps']:.0f} tps "
                        f"p99 {res['p99_ms']:.2f} ms server stmts/query {res['server_per_query']['Questions']:.3f}")
                runs.append(r)
    return runs


def _cell(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:.{digits}f}" + (f" ({report._spread_pct(values):.0f}%)" if len(values) > 1 else "")


def _rows(runs: list[dict], args) -> list[tuple[str, list[float], list[float], int, str]]:
    """(label, session values, transaction values, digits, how to aggregate) for the table."""
    def pick(select, value) -> list[list[float]]:
        return [[value(r) for r in runs if select(r) and r["mode"] == m] for m in kModes]

    rows = []
    clients = (lambda r: r["kind"] == "clients")
    for label, value, digits, agg in (
            ("ops/s", lambda r: r["result"]["ops_per_s"], 0, "median"),
            ("p50 ms", lambda r: r["result"]["p50_ms"], 2, "median"),
            ("p99 ms", lambda r: r["result"]["p99_ms"], 2, "median"),
            ("  read p99 ms", lambda r: r["result"]["read_p99_ms"], 2, "median"),
            ("  BEGIN/UPDATE/COMMIT p99 ms", lambda r: r["result"]["txn_p99_ms"], 2, "median"),
            ("busy % of each client's time", lambda r: r["result"]["busy_pct"], 2, "median"),
            ("errors", lambda r: r["result"]["errors"], 0, "max"),
            ("db connections, max (metric)", lambda r: r["connections"]["metric"]["max"], 0, "max"),
            ("db connections, max (processlist)", lambda r: r["connections"]["processlist"]["max"], 0, "max"),
            ("sessions still pinned after", lambda r: r["result"]["after"]["pinned"], 0, "max"),
            ("borrow queue, max waiting", lambda r: r["connections"]["borrow_waiting"]["max"], 0, "max"),
            ("load generator CPU s/s", lambda r: r["generator_cpu_per_s"], 2, "median"),
            ("camproxy CPU s/s", lambda r: r["camproxy_cpu_per_s"], 2, "median"),
            ("machine busy % (all processes)", lambda r: r["machine_busy_pct"], 0, "median")):
        s, t = pick(clients, value)
        if s or t:
            rows.append((f"{args.clients} clients: {label}", s, t, digits, agg))
    for test in kSysbenchTests:
        for n in args.sysbench_threads:
            this = (lambda r, test=test, n=n: r["kind"] == "sysbench" and r["test"] == test and r["threads"] == n)
            short = test.replace("oltp_", "")
            for label, value, digits in (("tps", lambda r: r["result"]["tps"], 0),
                                         ("p99 ms", lambda r: r["result"]["p99_ms"], 2),
                                         ("server stmts/query", lambda r: r["result"]["server_per_query"]["Questions"], 3),
                                         ("  SELECTs/query", lambda r: r["result"]["server_per_query"]["Com_select"], 3),
                                         ("  SETs/query", lambda r: r["result"]["server_per_query"]["Com_set_option"], 3),
                                         ("camproxy CPU us/query", lambda r: r["camproxy_cpu_us_per_query"], 1)):
                s, t = pick(this, value)
                if s or t:
                    rows.append((f"{short} {n} thr: {label}", s, t, digits, "median"))
    return rows


def format_table(runs: list[dict], args, header: str) -> str:
    lines = [header, "", "| metric | session | transaction | transaction/session |", "|---|---|---|---|"]
    for label, s, t, digits, agg in _rows(runs, args):
        if agg == "max":
            cells = [f"{max(v):.{digits}f}" if v else "-" for v in (s, t)]
            ratio = ""
        else:
            cells = [_cell(s, digits), _cell(t, digits)]
            ratio = f"{statistics.median(t) / statistics.median(s):.2f}" if s and t and statistics.median(s) else ""
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio} |")
    lines.append("")
    lines.append("cells: median (spread = (max-min)/median over the repetitions); errors, connections and "
                 "queue: the maximum of all repetitions")
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the clean-up below runs
    workdir = Path(tempfile.mkdtemp(prefix="camproxy-txpool-"))
    load_start = os.getloadavg()[0]
    fd_limit = raise_fd_limit(2 * args.clients + 200)
    try:
        tool = run.tools(args, workdir)
        with Stack(tool, workdir, args.camproxy, args.camproxy_arg, delay_us=500) as stack:
            run.log("preparing the tables")
            workloads.prepare_sysbench(tool["sysbench"], stack.target("direct"))
            admin = Admin(stack.target("direct"))
            prepare_table(admin)
            limits = {"max_connections": admin.value("SELECT @@max_connections"),
                      "open_files_limit": admin.value("SELECT @@open_files_limit")}
            admin.close()
            if limits["max_connections"] < args.clients + 50:
                raise SystemExit(f"MariaDB's max_connections is {limits['max_connections']:.0f}: "
                                 f"session mode needs {args.clients} connections and a few more")
            proxies = {"session": stack.start_camproxy("session", f"--pool-max={args.clients + 100}"),
                       "transaction": stack.start_camproxy("transaction", "--pool-mode=transaction",
                                                           f"--pool-max={args.pool_max}")}
            runs = run_schedule(stack, proxies, tool, args)
    except BaseException:
        for log_file in sorted(workdir.glob("*.log")):
            run.log(f"--- tail of {log_file.name} ---\n{tail_file(log_file, 15)}")
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info = {"date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": run.version(["git", "-C", str(run.kRepoRoot), "describe", "--always", "--dirty"]),
            "cpus": os.cpu_count(), "loadavg_start": load_start, "loadavg_end": os.getloadavg()[0],
            "fd_limit": fd_limit, "server_limits": limits,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    header = (f"camproxy transaction pooling benchmark ({'short' if args.short else 'full'}, {info['date_utc']}, "
              f"{info['cpus']} CPUs, {args.repetitions} rep, commit {info['commit']}, load average "
              f"{load_start:.1f} before / {info['loadavg_end']:.1f} after)")
    print(format_table(runs, args, header))
    failures = [r for r in runs if r["kind"] == "clients" and
                (r["result"]["errors"] or (r["mode"] == "transaction" and
                                           max(r["connections"]["metric"]["max"],
                                               r["connections"]["processlist"]["max"]) > args.pool_max))]
    out = Path(args.json or Path(tempfile.gettempdir()) /
               f"camproxy-txpool-{datetime.datetime.now():%Y%m%d-%H%M%S}.json")
    out.write_text(json.dumps({"meta": info, "runs": runs}, indent=1))
    print(f"raw results: {out}")
    if failures:
        print(f"FAILED: {len(failures)} many-clients runs had errors or more than {args.pool_max} database "
              "connections in transaction mode (see the JSON)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
