"""The database accounts whose passwords the CAM emulator owns, and their rotation.

A rotation makes a fresh random password, sets it on the database with ALTER USER over
an admin connection, and only then publishes it, so a token never carries a password
the server does not know yet. Enabled accounts rotate at start, every
`rotation_seconds`, and on demand (the console's "Refresh Password"). A disabled
account is left alone (CAM does not manage it); enabling it rotates it first.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Optional, Protocol

import pymysql

kRetrySeconds = 5.0  # after a failed rotation (database unreachable), try again this soon
kPunctuation = string.punctuation


class PasswordSetter(Protocol):
    def set_password(self, user: str, host: str, password: str) -> None:
        """Raises on failure."""


class MysqlAdmin:
    """Sets passwords with ALTER USER over a fresh admin connection each time (so a
    database restart between rotations costs nothing)."""

    def __init__(self, host: str, port: int, user: str, password: str):
        self._params = dict(host=host, port=port, user=user, password=password,
                            connect_timeout=5, read_timeout=10, write_timeout=10, autocommit=True)

    def set_password(self, user: str, host: str, password: str) -> None:
        with pymysql.connect(**self._params) as conn, conn.cursor() as cur:
            cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))


def new_password() -> str:
    """20-40 printable ASCII characters with lower, upper, digits and punctuation."""
    alphabet = string.ascii_letters + string.digits + kPunctuation
    length = 20 + secrets.randbelow(21)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.islower() for c in password) and any(c.isupper() for c in password)
                and any(c.isdigit() for c in password)
                and sum(c in kPunctuation for c in password) >= 2):
            return password


@dataclass(frozen=True)
class AccountSpec:
    instance_id: str
    region: str
    user: str
    host: str = "%"

    @property
    def key(self) -> str:
        return f"{self.instance_id}:{self.region}:{self.user}"

    @classmethod
    def parse(cls, text: str) -> "AccountSpec":
        """INSTANCE:REGION:USER[@HOST]"""
        parts = text.split(":")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"account must be INSTANCE:REGION:USER[@HOST], got {text!r}")
        user, _, host = parts[2].partition("@")
        return cls(parts[0], parts[1], user, host or "%")


@dataclass(frozen=True)
class AccountState:
    spec: AccountSpec
    enabled: bool
    password: Optional[str] = None
    rotated_at: float = 0.0          # wall clock, seconds
    next_rotation_at: float = 0.0    # wall clock, seconds
    last_cost_ms: int = 0            # -1 after a failed rotation (spec §3)
    status: str = "success"
    message: str = "success"
    rotations: int = 0
    failures: int = 0

    def public(self) -> dict:
        """For stats: everything but the password."""
        return {"account": self.spec.key, "enabled": self.enabled,
                "has_password": self.password is not None,
                "rotations": self.rotations, "failures": self.failures,
                "last_rotation_ms": int(self.rotated_at * 1000),
                "next_rotation_ms": int(self.next_rotation_at * 1000),
                "rotation_status": self.status, "rotation_message": self.message}


class RotationError(RuntimeError):
    pass


class AccountRegistry:
    def __init__(self, specs: list[AccountSpec], disabled: list[AccountSpec],
                 setter: Optional[PasswordSetter], rotation_seconds: float,
                 log: Callable[[str], None]):
        self._setter = setter
        self._period = rotation_seconds
        self._log = log
        self._lock = threading.Lock()             # guards _states
        self._rotation_lock = threading.Lock()    # one rotation at a time
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._thread: Optional[threading.Thread] = None
        self._states: dict[str, AccountState] = {}
        for spec, enabled in [(s, True) for s in specs] + [(s, False) for s in disabled]:
            if spec.key in self._states:
                raise ValueError(f"account {spec.key} given twice")
            self._states[spec.key] = AccountState(spec, enabled)

    # -- queries -----------------------------------------------------------------
    def lookup(self, instance_id: str, region: str, user: str) -> Optional[AccountState]:
        with self._lock:
            return self._states.get(f"{instance_id}:{region}:{user}")

    def select(self, name: Optional[str]) -> list[str]:
        """Keys matching `name` (a user name or INSTANCE:REGION:USER); all if None."""
        with self._lock:
            return [key for key, st in self._states.items()
                    if name is None or name in (key, st.spec.user)]

    def public_states(self) -> list[dict]:
        with self._lock:
            return [st.public() for st in self._states.values()]

    # -- changes -----------------------------------------------------------------
    def rotate(self, keys: list[str]) -> list[str]:
        """Rotates the enabled accounts among `keys`; returns those rotated. Raises
        RotationError if any rotation failed (the others are still done)."""
        done, failed = [], []
        for key in keys:
            with self._lock:
                enabled = self._states[key].enabled
            if enabled:
                (done if self._rotate_one(key) else failed).append(key)
        if failed:
            raise RotationError(f"rotation failed for {', '.join(failed)}")
        return done

    def set_enabled(self, keys: list[str], enabled: bool) -> None:
        for key in keys:
            with self._lock:
                already = self._states[key].enabled == enabled
            if already:
                continue
            # Enabling hands the account to CAM: its password is replaced first.
            if enabled and not self._rotate_one(key):
                raise RotationError(f"cannot enable {key}: rotation failed")
            with self._lock:
                self._states[key] = replace(self._states[key], enabled=enabled)
                self._wake.notify_all()
            self._log(f"account {key} {'enabled' if enabled else 'disabled'}")

    def _rotate_one(self, key: str) -> bool:
        with self._rotation_lock:
            with self._lock:
                spec = self._states[key].spec
            password = new_password()
            started = time.time()
            error = None
            try:
                if self._setter is not None:
                    self._setter.set_password(spec.user, spec.host, password)
            except Exception as exc:  # noqa: BLE001 - any failure is reported the same way
                # Only the class and error number: a server message could quote the SQL.
                error = f"{type(exc).__name__} {exc.args[0] if exc.args else ''}".strip()
            now = time.time()
            with self._lock:
                old = self._states[key]
                if error is None:
                    self._states[key] = replace(
                        old, password=password, rotated_at=now, next_rotation_at=now + self._period,
                        last_cost_ms=int((now - started) * 1000), status="success",
                        message="success", rotations=old.rotations + 1)
                else:
                    self._states[key] = replace(
                        old, next_rotation_at=now + min(self._period, kRetrySeconds),
                        last_cost_ms=-1, status="failed", message=f"rotation failed: {error}",
                        failures=old.failures + 1)
                self._wake.notify_all()
        self._log(f"rotation account={key} status={'success' if error is None else 'failed'}"
                  + (f" error={error}" if error else f" cost_ms={int((now - started) * 1000)}"))
        return error is None

    # -- schedule ----------------------------------------------------------------
    def start(self) -> None:
        """Rotates every enabled account (raises RotationError on failure), then starts
        the rotation schedule."""
        self.rotate(self.select(None))
        self._thread = threading.Thread(target=self._run_schedule, name="cam-rotation", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run_schedule(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                now = time.time()
                enabled = [st for st in self._states.values() if st.enabled]
                due = [st.spec.key for st in enabled if st.next_rotation_at <= now]
                if not due:
                    soonest = min((st.next_rotation_at for st in enabled), default=now + 3600)
                    self._wake.wait(timeout=max(0.01, soonest - now))
                    continue
            for key in due:
                self._rotate_one(key)
