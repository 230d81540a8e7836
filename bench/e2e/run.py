#!/usr/bin/python3
"""End-to-end benchmark (issue 6): camproxy against a direct connection and HAProxy (mode tcp),
all on this machine, interleaved and repeated; prints one table and writes the raw numbers.

    /usr/bin/python3 bench/e2e/run.py            full run (~10 min on 2 cores)
    /usr/bin/python3 bench/e2e/run.py --short    CI smoke (< 1 min): same table, tiny runs
    /usr/bin/python3 bench/e2e/run.py --baseline OLD/camproxy   the same with another camproxy
                                                 build beside it: before/after in one run

Installs what is missing (sysbench, haproxy, libmariadb-dev, MariaDB) with apt-get, starts a
throwaway MariaDB, the CAM emulator, two camproxy processes (one in front of the database,
one in front of the delay relay) and HAProxy, then runs round-robin over
direct / haproxy / camproxy, R repetitions:
  sysbench oltp_point_select (4 x 10 000 rows) at each thread count;
  full mode only (issue 19): oltp_read_only at each thread count, a 100 000-row x 200-byte
  SELECT (bench/e2e/large_result.lua), and camproxy's epoll data path as a target of its own
  beside its default (io_uring where the kernel allows it) in every sysbench case;
  connect + SELECT 1 + close N times (bench/e2e/connect_loop.c), also against a server that
  does no work (bench/e2e/noop_server.c), the ceiling of that loop on this machine;
  the same with ~1 ms round trip added in front of the database (bench/e2e/delay_relay.c),
  counting the database round trips each cycle costs (the relay's answered request bursts);
  the same for the first second after a new camproxy reports ready (its pool warming up);
and samples the relay process's CPU time and RSS during each run. Last, a fresh camproxy's
RSS idle and with 1000 idle clients. docs/benchmarks.md explains every number.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
import workloads  # noqa: E402
from stack import Stack, find_tool, kRepoRoot  # noqa: E402
from testutil import tail_file  # noqa: E402

kHere = Path(__file__).resolve().parent
kPackages = {"sysbench": "sysbench", "haproxy": "haproxy", "mariadbd": "mariadb-server",
             "mariadb-install-db": "mariadb-server"}
kDevPackage = "libmariadb-dev"  # only to compile connect_loop.c when CMake did not build it
kFirstSecondMax = 100_000  # connect cycles: the one second ends the loop first


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", action="store_true", help="CI mode: 1-2 s runs, 1 repetition")
    p.add_argument("--repetitions", type=int, help="rounds over all targets (3; short: 1)")
    p.add_argument("--seconds", type=float, help="sysbench run length (10; short: 2)")
    p.add_argument("--threads", help="sysbench thread counts, comma-separated (1,8,32; short: 1,8)")
    p.add_argument("--connects", type=int, help="connect loop iterations (2000; short: 200)")
    p.add_argument("--delayed-connects", type=int, help="with the delay relay (2000; short: 50)")
    p.add_argument("--idle-clients", type=int, default=1000, help="idle clients for the RSS growth")
    p.add_argument("--delay-us", type=int, default=500, help="delay relay hold per direction")
    p.add_argument("--build-dir", default=os.environ.get("CAMPROXY_BUILD_DIR", "build"),
                   help="CMake build dir with proxy/camproxy and bench/ tools (default: build)")
    p.add_argument("--camproxy", help="camproxy binary (default: $CAMPROXY_BIN or BUILD/proxy/camproxy)")
    p.add_argument("--camproxy-arg", action="append", default=[], help="extra camproxy flag (repeatable)")
    p.add_argument("--baseline", help="a second camproxy binary (e.g. the build before a change), run as "
                   "the 'baseline' target beside camproxy with the same flags")
    p.add_argument("--baseline-arg", action="append", default=[],
                   help="extra flag for the baseline only (repeatable): with --baseline BUILD/proxy/camproxy "
                   "--baseline-arg=--data-path=epoll the baseline is the epoll data path of the same build")
    p.add_argument("--json", help="raw results file (default: $TMPDIR/camproxy-bench-<time>.json)")
    p.add_argument("--no-install", action="store_true", help="never run apt-get")
    args = p.parse_args()
    short = args.short
    args.repetitions = args.repetitions or (1 if short else 3)
    args.seconds = args.seconds or (2 if short else 10)
    args.threads = [int(t) for t in (args.threads or ("1,8" if short else "1,8,32")).split(",")]
    args.connects = args.connects or (200 if short else 2000)
    args.delayed_connects = args.delayed_connects or (50 if short else 2000)
    build = Path(args.build_dir)
    args.build_dir = build if build.is_absolute() else kRepoRoot / build
    args.camproxy = args.camproxy or os.environ.get("CAMPROXY_BIN") or str(args.build_dir / "proxy" / "camproxy")
    return args


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def install(packages: list[str]) -> None:
    log(f"installing {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                   check=True, env=env, timeout=1200)


def dev_package_installed() -> bool:
    return subprocess.run(["pkg-config", "--exists", "libmariadb"], check=False).returncode == 0


def tools(args: argparse.Namespace, workdir: Path) -> dict[str, str]:
    """Paths of the programs the benchmark runs; installs and compiles what is missing."""
    built = {name: args.build_dir / "bench" / name for name in ("connect_loop", "delay_relay", "noop_server")}
    missing = sorted({pkg for prog, pkg in kPackages.items() if find_tool(prog) is None})
    if not built["connect_loop"].exists() and not dev_package_installed():
        missing.append(kDevPackage)
    if missing:
        if args.no_install:
            raise SystemExit(f"missing packages (and --no-install): {' '.join(missing)}")
        install(missing)
    found = {prog: find_tool(prog) for prog in ("sysbench", "haproxy")}
    for name, path in built.items():
        if path.exists():
            found[name] = str(path)
            continue
        out = workdir / name
        cmd = ["cc", "-O2", "-Wall", "-o", str(out), str(kHere / f"{name}.c")]
        if name == "connect_loop":
            flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmariadb"], check=True,
                                   capture_output=True, text=True).stdout.split()
            cmd += flags
        elif name == "delay_relay":
            cmd.append("-pthread")
        log(f"compiling {name}: {' '.join(cmd)}")
        subprocess.run(cmd, check=True, timeout=120)
        found[name] = str(out)
    if not os.access(args.camproxy, os.X_OK):
        raise SystemExit(f"camproxy binary not found at {args.camproxy} (build it, or pass --camproxy)")
    if args.baseline and not os.access(args.baseline, os.X_OK):
        raise SystemExit(f"--baseline: no executable camproxy at {args.baseline}")
    return found


def measure(stack: Stack, tool: dict[str, str], args, scenario: str, target: str, rep: int) -> dict:
    if scenario == report.kFirstSecond:
        return measure_first_second(stack, tool, target, rep)
    delayed = scenario == "connect_delayed"
    ep = stack.target(target, delayed)
    counts_before = stack.relay_counts() if delayed else None
    with workloads.ProcessSampler(stack.relay_pid(target, delayed)) as sampler:
        if scenario.startswith("sysbench_t"):
            result = workloads.run_sysbench(tool["sysbench"], ep, int(scenario[10:]), args.seconds)
        elif scenario.startswith("readonly_t"):
            result = workloads.run_sysbench(tool["sysbench"], ep, int(scenario[10:]), args.seconds,
                                            workloads.kReadOnly)
        elif scenario == report.kLargeResult:
            result = workloads.run_sysbench(tool["sysbench"], ep, report.kLargeResultThreads, args.seconds,
                                            workloads.kLargeResult)
        else:
            count = args.delayed_connects if delayed else args.connects
            result = workloads.run_connect_loop(tool["connect_loop"], ep, count)
    if counts_before is not None:
        result["db_round_trips"] = round_trips(stack, counts_before, count)
    return {"scenario": scenario, "target": target, "rep": rep, "result": result, "relay": sampler.result()}


def round_trips(stack: Stack, counts_before: tuple[int, int], cycles: int) -> float:
    """Database round trips per connect cycle since `counts_before`. The targets run one at a
    time, so the delay relay's counts in the meantime are this run's: every answered request
    burst is a round trip, every new connection half of one (its greeting). A proxy's pool work
    in the run (resets, warm-up dials) counts too."""
    connections, answered = (after - before for after, before in zip(stack.relay_counts(), counts_before))
    return (answered + connections / 2) / cycles


def measure_first_second(stack: Stack, tool: dict[str, str], target: str, rep: int) -> dict:
    """The connect loop at +1 ms for one second: against a camproxy (or the baseline) started
    for it, from the moment it reports ready (/readyz), its pool as it warms up; direct's for
    comparison. The proxy's warm-up dials are in the round trips."""
    name = f"fresh-{target}-{rep}"
    ep = stack.start_fresh(target, name) if target != "direct" else stack.target("direct", True)
    try:
        counts_before = stack.relay_counts()
        with workloads.ProcessSampler(None if target == "direct" else stack.camproxy_pid(name)) as sampler:
            result = workloads.run_connect_loop(tool["connect_loop"], ep, kFirstSecondMax, seconds=1.0)
        result["db_round_trips"] = round_trips(stack, counts_before, result["count"])
    finally:
        stack.stop_camproxy(name)
    return {"scenario": report.kFirstSecond, "target": target, "rep": rep, "result": result,
            "relay": sampler.result()}


def relays(args) -> list[str]:
    """The targets every scenario runs against: with --baseline, the other camproxy too."""
    return [*report.kTargets, *([report.kBaseline] if args.baseline else [])]


def targets_of(scenario: str, args) -> list[str]:
    if scenario == report.kFirstSecond:  # a fresh process each time: HAProxy has no pool to warm
        return [t for t in relays(args) if t != "haproxy"]
    epoll = [report.kEpoll] if not args.short and not scenario.startswith("connect") else []
    return relays(args) + epoll + ([report.kNoop] if scenario in report.kNoopScenarios else [])


def sysbench_scenarios(args) -> list[str]:
    scenarios = [f"sysbench_t{t}" for t in args.threads]
    if not args.short:
        scenarios += [f"readonly_t{t}" for t in args.threads] + [report.kLargeResult]
    return scenarios


def run_schedule(stack: Stack, tool: dict[str, str], args) -> list[dict]:
    scenarios = sysbench_scenarios(args) + ["connect", "connect_delayed", report.kFirstSecond]
    log("warm-up (not recorded)")
    for target in relays(args) + ([] if args.short else [report.kEpoll]):
        workloads.run_sysbench(tool["sysbench"], stack.target(target), max(args.threads), 1)
        for delayed in (False, True):
            workloads.run_connect_loop(tool["connect_loop"], stack.target(target, delayed), 10)
    workloads.run_connect_loop(tool["connect_loop"], stack.target(report.kNoop), 10)
    runs = []
    for rep in range(args.repetitions):
        for i, scenario in enumerate(scenarios):
            targets = targets_of(scenario, args)
            shift = (rep + i) % len(targets)  # rotate who goes first: no target always runs cold
            for target in targets[shift:] + targets[:shift]:
                run = measure(stack, tool, args, scenario, target, rep)
                res = run["result"]
                headline = f"{res['tps']:.0f} tps p99 {res['p99_ms']:.2f} ms" if "tps" in res else \
                    f"{res['rate']:.0f}/s p99 {res['p99_ms']:.2f} ms"
                log(f"[{rep + 1}/{args.repetitions}] {scenario:16} {target:9} {headline}")
                runs.append(run)
    return runs


def measure_idle_memory(stack: Stack, tool: dict[str, str], clients: int) -> dict:
    """A fresh camproxy: RSS once ready, then with `clients` logged-in idle clients. Each client
    holds a database connection (no multiplexing yet); --pool-max is split evenly across the
    workers while clients are not, so any one worker may need room for all of them."""
    pool_max = clients * (os.cpu_count() or 1) + 10
    proxy = stack.start_camproxy("idle", f"--pool-max={pool_max}")
    try:
        idle = workloads.rss_kib(proxy.pid)
        with workloads.hold_connections(tool["connect_loop"], stack.camproxy_endpoint("idle"), clients):
            held = workloads.rss_kib(proxy.pid)
    finally:
        stack.stop_camproxy("idle")
    return {"idle_rss_kib": idle, "idle_clients": clients, "rss_with_idle_clients_kib": held,
            "growth_kib_per_1000": (held - idle) * 1000 / clients}


def version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def meta(args, tool: dict[str, str]) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown")
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(), "cpu": cpu,
        "mode": "short" if args.short else "full",
        "commit": version(["git", "-C", str(kRepoRoot), "describe", "--always", "--dirty"]),
        "loadavg_start": os.getloadavg()[0],
        "baseline": args.baseline,
        "versions": {"camproxy": version([args.camproxy, "--version"]),
                     "haproxy": version([tool["haproxy"], "-v"]),
                     "sysbench": version([tool["sysbench"], "--version"]),
                     "mariadb": version(["mariadbd", "--version"])},
        "config": {"repetitions": args.repetitions, "seconds": args.seconds, "threads": args.threads,
                   "connects": args.connects, "delayed_connects": args.delayed_connects,
                   "idle_clients": args.idle_clients, "delay_us": args.delay_us,
                   "camproxy_args": args.camproxy_arg, "tables": workloads.kTables,
                   "table_size": workloads.kTableSize},
    }


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the clean-up below runs
    workdir = Path(tempfile.mkdtemp(prefix="camproxy-bench-"))
    try:
        tool = tools(args, workdir)
        info = meta(args, tool)
        with Stack(tool, workdir, args.camproxy, args.camproxy_arg, args.delay_us, args.baseline,
                   args.baseline_arg, epoll_twin=not args.short) as stack:
            log("preparing sysbench tables")
            workloads.prepare_sysbench(tool["sysbench"], stack.target("direct"))
            memory = {"main_rss_kib_at_start": workloads.rss_kib(stack.relay_pid("camproxy"))}
            runs = run_schedule(stack, tool, args)
            memory["peak_rss_kib_during_runs"] = max(
                r["relay"]["rss_max_kib"] for r in runs if r["target"] == "camproxy")
            memory.update(measure_idle_memory(stack, tool, args.idle_clients))
    except BaseException:
        for log_file in sorted(workdir.glob("*.log")):
            log(f"--- tail of {log_file.name} ---\n{tail_file(log_file, 15)}")
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info["loadavg_end"] = os.getloadavg()[0]
    rows = report.summarize(runs, args.threads, memory, full=not args.short)
    header = (f"camproxy e2e benchmark ({info['mode']}, {info['date_utc']}, {info['cpus']} CPUs, "
              f"{args.repetitions} rep x {args.seconds:g} s, commit {info['commit']})")
    if info["loadavg_start"] > (info["cpus"] or 1) / 2:  # before our own load began
        header += (f"\nWARNING: the machine was busy before the run (load average "
                   f"{info['loadavg_start']:.1f}); expect wide spreads")
    print(report.format_table(rows, header))
    out = Path(args.json or Path(tempfile.gettempdir()) /
               f"camproxy-bench-{datetime.datetime.now():%Y%m%d-%H%M%S}.json")
    out.write_text(json.dumps({"meta": info, "runs": runs, "memory": memory, "summary": rows}, indent=1))
    print(f"raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
