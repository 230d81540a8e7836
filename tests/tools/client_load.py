"""Client threads that keep querying camproxy while a test breaks something, and a record of
everything they saw: answers checked against what was asked, errors by MySQL code, anything
that is neither (a garbled stream), and the longest single call (a hang shows up there even
when the driver's own read timeout turned it into an error).

    load = QueryLoad(port=proxy.port, threads=6)
    with load.running():
        ...break and repair things...
    report = load.report  # report.ok, report.errors, report.wrong, report.unexpected, ...
"""

from __future__ import annotations

import collections
import contextlib
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional

import pymysql

kReadTimeout = 30.0  # far beyond any wait camproxy is allowed: a call this long is a hang
kJoinTimeout = kReadTimeout + 15.0


@dataclass
class LoadReport:
    ok: int = 0
    errors: collections.Counter = field(default_factory=collections.Counter)  # MySQL code -> count
    wrong: list[str] = field(default_factory=list)       # answers that were not what was asked
    unexpected: list[str] = field(default_factory=list)  # exceptions without a MySQL error code
    longest_call: float = 0.0
    last_ok_at: dict[int, float] = field(default_factory=dict)  # thread index -> monotonic time


class QueryLoad:
    """`threads` clients as `user`; with `per_query` None every other one opens a connection per
    query and the rest keep theirs until an error (True / False: all of them do / keep). Each
    query asks for a random number and a random-length string, and the answer must echo them."""

    def __init__(self, port: int, threads: int, user: str = "camtest", connect_timeout: float = 10.0,
                 per_query: Optional[bool] = None):
        self._port, self._threads, self._user = port, threads, user
        self._per_query = per_query
        self._connect_timeout = connect_timeout
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.report = LoadReport()

    @contextlib.contextmanager
    def running(self) -> Iterator["QueryLoad"]:
        workers = [threading.Thread(target=self._run, args=(i,), daemon=True, name=f"load-{i}")
                   for i in range(self._threads)]
        for t in workers:
            t.start()
        try:
            yield self
        finally:
            self._stop.set()
            deadline = time.monotonic() + kJoinTimeout
            for t in workers:
                t.join(max(0.0, deadline - time.monotonic()))
            stuck = [t.name for t in workers if t.is_alive()]
            assert not stuck, f"client threads still blocked {kJoinTimeout:g}s after the load ended: {stuck}"

    def ok_since(self, moment: float) -> list[int]:
        """Threads that completed a query after `moment` (time.monotonic())."""
        with self._lock:
            return sorted(i for i, at in self.report.last_ok_at.items() if at > moment)

    def _connect(self) -> pymysql.connections.Connection:
        return pymysql.connect(host="127.0.0.1", port=self._port, user=self._user, password="any",
                               database="camdb", connect_timeout=self._connect_timeout,
                               read_timeout=kReadTimeout, write_timeout=kReadTimeout, autocommit=True)

    def _run(self, index: int) -> None:
        rng = random.Random(index)
        per_query = index % 2 == 1 if self._per_query is None else self._per_query
        conn: Optional[pymysql.connections.Connection] = None
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if conn is None:
                    conn = self._connect()
                self._query(conn, rng)
                self._record(started, index=index)
            except pymysql.err.MySQLError as exc:
                code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
                self._record(started, code=code, text=repr(exc))
                conn = _close(conn)
                self._stop.wait(0.05)  # an outage: do not spin on refused logins
                continue
            except Exception as exc:  # noqa: BLE001 - anything else is a broken stream: recorded
                self._record(started, text=f"{type(exc).__name__}: {exc}")
                conn = _close(conn)
                continue
            if per_query:
                conn = _close(conn)
        _close(conn)

    def _query(self, conn, rng: random.Random) -> None:
        number, length = rng.randrange(1 << 40), rng.randrange(1, 20000)
        with conn.cursor() as cur:
            cur.execute("SELECT %s, REPEAT('y', %s)", (number, length))
            row = cur.fetchone()
        if row != (number, "y" * length):
            got = None if row is None else (row[0], len(row[1]) if isinstance(row[1], str) else row[1])
            with self._lock:
                self.report.wrong.append(f"asked ({number}, {length} x 'y'), got {got}")

    def _record(self, started: float, index: Optional[int] = None, code: Optional[int] = None,
                text: str = "") -> None:
        now = time.monotonic()
        with self._lock:
            self.report.longest_call = max(self.report.longest_call, now - started)
            if index is not None:
                self.report.ok += 1
                self.report.last_ok_at[index] = now
            elif code is not None:
                self.report.errors[code] += 1
            else:
                self.report.unexpected.append(text)


def _close(conn) -> None:
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - already broken: nothing to say goodbye to
            pass
    return None
