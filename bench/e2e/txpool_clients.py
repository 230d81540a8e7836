"""The many-clients load of bench/e2e/txpool.py and what watches it.

    prepare_table(Admin(stack))
    load = ClientLoad(port, clients, seconds, think_s, hold_s); asyncio.run(load.run()); load.result()
    with ConnectionSampler(proxy, stack) as conns: ...;  conns.result()   # database connections
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import statistics
import time
from collections import Counter

from stack import Endpoint, Stack, kAnyPassword, kCamAccount, kSbtestDb  # first: it puts tests/tools on sys.path
from async_client import AsyncClient, ServerError
from proxy_probe import metric
from raw_mysql_client import ErrPacket, OkPacket

import pymysql

kTable = "txpool"
kRows = 10_000             # rows the clients update, uniformly: few lock waits
kLoginConcurrency = 50     # logins in flight at once while the clients connect
kOpTimeout = 60.0          # far beyond any wait camproxy allows (borrow timeout 30 s): a hang
kSampleInterval = 0.1


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) in milliseconds of durations in seconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000


class Admin:
    """A direct administrator connection to MariaDB (not through camproxy): `Admin(stack.target("direct"))`."""

    def __init__(self, ep: Endpoint):
        self.port = ep.port
        self._conn = pymysql.connect(host="127.0.0.1", port=ep.port, user=ep.user, password=ep.password,
                                     database=kSbtestDb, autocommit=True)

    def value(self, sql: str) -> float:
        with self._conn.cursor() as cur:
            cur.execute(sql)
            return float(cur.fetchone()[0] or 0)

    def execute(self, sql: str) -> None:
        with self._conn.cursor() as cur:
            cur.execute(sql)

    def sessions_of(self, pid: int) -> int:
        """The CAM account's sessions in the processlist whose client port is one of process
        `pid`'s sockets: one camproxy's database connections, not the other's."""
        ports = proxy_db_ports(pid, self.port)
        with self._conn.cursor() as cur:
            cur.execute("SELECT HOST FROM information_schema.PROCESSLIST WHERE USER = %s", (kCamAccount,))
            hosts = [row[0] for row in cur.fetchall()]
        ports |= proxy_db_ports(pid, self.port)  # before and after: a session that just closed counts
        return sum(1 for h in hosts if int(h.rpartition(":")[2] or 0) in ports)

    def statement_counts(self, names: tuple[str, ...]) -> dict[str, float]:
        """MariaDB's status counters `names` so far (this query counts itself in Questions)."""
        with self._conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN (%s)" % ", ".join(["%s"] * len(names)), names)
            return {name: float(value) for name, value in cur.fetchall()}

    def close(self) -> None:
        self._conn.close()


def proxy_db_ports(pid: int, db_port: int) -> set[int]:
    """The local ports of `pid`'s TCP connections to the database (/proc/<pid>/fd, /proc/net/tcp):
    the processlist's HOST column tells one camproxy's sessions from the other's."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[9] in inodes and int(fields[2].split(":")[1], 16) == db_port:
                ports.add(int(fields[1].split(":")[1], 16))
    return ports


def sample_connections(proxy, admin_ep: Endpoint, stop, out) -> None:
    """The sampler process's loop: every 100 ms until `stop` is set, the database connections of
    `proxy` from its camproxy_target_upstream_connections and from MariaDB's processlist, and its
    borrow queue."""
    admin = Admin(admin_ep)
    samples: dict[str, list[float]] = {"metric": [], "processlist": [], "borrow_waiting": []}
    try:
        while not stop.wait(kSampleInterval):
            samples["metric"].append(metric(proxy, "camproxy_target_upstream_connections"))
            samples["borrow_waiting"].append(metric(proxy, "camproxy_pool_borrow_waiting"))
            samples["processlist"].append(admin.sessions_of(proxy.pid))
    finally:
        admin.close()
        out.send(samples)


class ConnectionSampler:
    """Runs sample_connections in a process of its own while the block runs (in this one it would
    take the load generator's CPU and delay its clients)."""

    def __init__(self, proxy, stack: Stack):
        ctx = multiprocessing.get_context("fork")
        self._stop = ctx.Event()
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=sample_connections, args=(proxy, stack.target("direct"), self._stop, send),
                                 daemon=True)
        self.samples: dict[str, list[float]] = {}

    def __enter__(self) -> "ConnectionSampler":
        self._proc.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._recv.poll(30):
            self.samples = self._recv.recv()
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()

    def result(self) -> dict:
        def stats(xs: list[float]) -> dict:
            return {"max": max(xs, default=0), "median": statistics.median(xs) if xs else 0, "samples": len(xs)}
        return {name: stats(self.samples.get(name, [])) for name in ("metric", "processlist", "borrow_waiting")}


class ClientLoad:
    """`clients` connections, each: think (exponential, mean `think` s), then an autocommit
    point read or a short transaction, until `seconds` have passed; every answer checked."""

    def __init__(self, port: int, clients: int, seconds: float, think: float, hold: float):
        self._port, self._clients, self._seconds, self._think, self._hold = port, clients, seconds, think, hold
        self.latency: dict[str, list[float]] = {"read": [], "txn": []}
        self.errors: Counter = Counter()  # "ERR <code>" or the exception's type, with the first text
        self.first_error: dict[str, str] = {}
        self.committed = 0
        self.statements = 0
        self.busy = 0.0
        self.login_seconds = 0.0

    def _error(self, kind: str, text: str) -> None:
        self.errors[kind] += 1
        self.first_error.setdefault(kind, text)

    async def _connect(self, sem: asyncio.Semaphore) -> AsyncClient | None:
        async with sem:
            try:
                return await asyncio.wait_for(
                    AsyncClient.connect(self._port, kCamAccount, kAnyPassword, kSbtestDb), kOpTimeout)
            except ServerError as exc:
                self._error(f"login ERR {exc.err.code}", str(exc))
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
                self._error(f"login {type(exc).__name__}", str(exc))
            return None

    async def _statement(self, c: AsyncClient, sql: str, want_rows: int | None = None) -> bool:
        reply = await c.query(sql)
        self.statements += 1
        if isinstance(reply, ErrPacket):
            self._error(f"ERR {reply.code}", f"{sql}: {reply.message}")
            return False
        if want_rows is not None and (not isinstance(reply, list) or len(reply) != want_rows):
            self._error("wrong answer", f"{sql}: {reply!r}")
            return False
        if want_rows is None and not isinstance(reply, OkPacket):
            self._error("wrong answer", f"{sql}: {reply!r}")
            return False
        return True

    async def _operation(self, c: AsyncClient, rng: random.Random) -> tuple[str, bool]:
        key = rng.randrange(kRows)
        if rng.random() < 0.5:
            return "read", await self._statement(c, f"SELECT n FROM {kTable} WHERE id = {key}", want_rows=1)
        ok = await self._statement(c, "BEGIN") and \
            await self._statement(c, f"UPDATE {kTable} SET n = n + 1 WHERE id = {key}")
        if ok and self._hold:
            await asyncio.sleep(self._hold)  # the application's work while its transaction is open
        ok = ok and await self._statement(c, "COMMIT")
        self.committed += ok
        return "txn", ok

    async def _client(self, c: AsyncClient, index: int, end: float) -> None:
        rng = random.Random(index)
        await asyncio.sleep(rng.uniform(0, 2 * self._think))  # spread the first operations
        while time.monotonic() < end:
            start = time.monotonic()
            try:
                kind, ok = await asyncio.wait_for(self._operation(c, rng), kOpTimeout)
                if not ok:
                    await c.query("ROLLBACK")  # a transaction may be open: leave nothing behind
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ServerError) as exc:
                self._error(type(exc).__name__, str(exc))
                c.close()
                return  # the connection is in an unknown state: this client stops
            took = time.monotonic() - start
            self.busy += took
            self.latency[kind].append(took)
            await asyncio.sleep(rng.expovariate(1 / self._think))
        await c.quit()

    async def run(self) -> None:
        sem = asyncio.Semaphore(kLoginConcurrency)
        start = time.monotonic()
        conns = await asyncio.gather(*(self._connect(sem) for _ in range(self._clients)))
        self.login_seconds = time.monotonic() - start
        end = time.monotonic() + self._seconds
        await asyncio.gather(*(self._client(c, i, end) for i, c in enumerate(conns) if c is not None))

    def result(self) -> dict:
        every = self.latency["read"] + self.latency["txn"]
        ops = len(every)
        return {"clients": self._clients, "seconds": self._seconds, "think_ms": self._think * 1000,
                "txn_hold_ms": self._hold * 1000,
                "login_s": round(self.login_seconds, 2), "ops": ops, "ops_per_s": ops / self._seconds,
                "statements_per_s": self.statements / self._seconds, "committed": self.committed,
                "p50_ms": percentile(every, 50), "p99_ms": percentile(every, 99),
                "read_p99_ms": percentile(self.latency["read"], 99),
                "txn_p99_ms": percentile(self.latency["txn"], 99),
                "busy_pct": self.busy / (self._clients * self._seconds) * 100,
                "errors": sum(self.errors.values()), "error_kinds": dict(self.errors),
                "first_errors": self.first_error}


def prepare_table(admin: Admin) -> None:
    admin.execute(f"CREATE TABLE IF NOT EXISTS {kTable} (id INT PRIMARY KEY, n BIGINT NOT NULL) ENGINE=InnoDB")
    admin.execute(f"DELETE FROM {kTable}")
    admin.execute(f"INSERT INTO {kTable} (id, n) SELECT seq, 0 FROM seq_0_to_{kRows - 1}")
