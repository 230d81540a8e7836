"""Fault injection and call statistics for the CAM emulator's test control API."""

from __future__ import annotations

import collections
import re
import threading
from dataclasses import dataclass
from typing import Mapping, Optional

# Transport-level and response-shape faults; any other mode must be an API error code
# (e.g. "FailedOperation.BuildAuthToken", "InternalError"), answered as HTTP 200 JSON.
kKeywordModes = ("http500", "hang", "slow", "malformed_json", "garbage", "reset", "truncated_token")
kErrorCode = re.compile(r"[A-Z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*")
kDefaultSlowMs = 3000
kMaxHangSeconds = 600.0


@dataclass(frozen=True)
class Fault:
    mode: str
    delay_ms: Optional[int] = None

    @property
    def is_error_code(self) -> bool:
        return self.mode not in kKeywordModes


class FaultInjector:
    """One active fault at a time. `count` requests get it (None = until cleared)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: Optional[Fault] = None
        self._remaining: Optional[int] = None
        self._cleared = threading.Event()  # wakes "hang" requests

    def set(self, mode: str, count: Optional[int], delay_ms: Optional[int]) -> Fault:
        if mode not in kKeywordModes and not kErrorCode.fullmatch(mode):
            raise ValueError(f"unknown fault mode {mode!r}: use one of {', '.join(kKeywordModes)} "
                             "or an API error code such as FailedOperation.BuildAuthToken")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer or null")
        if delay_ms is not None and (not isinstance(delay_ms, int) or delay_ms < 0):
            raise ValueError("delay_ms must be a non-negative integer")
        fault = Fault(mode, delay_ms)
        with self._lock:
            self._release_hangs()
            self._fault, self._remaining = fault, count
        return fault

    def clear(self) -> None:
        with self._lock:
            self._release_hangs()
            self._fault, self._remaining = None, None

    def take(self) -> Optional[Fault]:
        """The fault for the next API request, if any (counts it down)."""
        with self._lock:
            fault = self._fault
            if fault is not None and self._remaining is not None:
                self._remaining -= 1
                if self._remaining == 0:
                    self._fault, self._remaining = None, None
            return fault

    def hang(self, fault: Fault) -> None:
        """Blocks a "hang" request until cleared, replaced, or delay_ms has passed."""
        with self._lock:
            cleared = self._cleared
        timeout = kMaxHangSeconds if fault.delay_ms is None else fault.delay_ms / 1000.0
        cleared.wait(timeout)

    def shutdown(self) -> None:
        self.clear()

    def describe(self) -> Optional[dict]:
        with self._lock:
            if self._fault is None:
                return None
            return {"mode": self._fault.mode, "remaining": self._remaining,
                    "delay_ms": self._fault.delay_ms}

    def _release_hangs(self) -> None:
        self._cleared.set()
        self._cleared = threading.Event()


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers for stats: the session token and the signature are replaced."""
    out = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower == "x-tc-token":
            value = "<redacted>"
        elif lower == "authorization":
            value = re.sub(r"Signature=[^,\s]*", "Signature=<redacted>", value)
        out[name] = value
    return out


class CallStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._total = 0
            self._in_flight = 0
            self._by_outcome: collections.Counter[str] = collections.Counter()
            self._by_account: collections.Counter[str] = collections.Counter()
            self._by_secret_id: collections.Counter[str] = collections.Counter()
            self._faults: collections.Counter[str] = collections.Counter()
            self._last_request: Optional[dict] = None

    def begin(self, request_summary: dict) -> None:
        with self._lock:
            self._total += 1
            self._in_flight += 1
            self._last_request = request_summary

    def end(self, outcome: str, account: Optional[str], secret_id: Optional[str],
            fault: Optional[str]) -> None:
        with self._lock:
            self._in_flight -= 1
            self._by_outcome[outcome] += 1
            if account:
                self._by_account[account] += 1
            if secret_id:
                self._by_secret_id[secret_id] += 1
            if fault:
                self._faults[fault] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"calls_total": self._total, "in_flight": self._in_flight,
                    "by_outcome": dict(self._by_outcome), "by_account": dict(self._by_account),
                    "by_secret_id": dict(self._by_secret_id),
                    "faults_injected": dict(self._faults), "last_request": self._last_request}
