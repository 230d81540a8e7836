#!/usr/bin/python3
"""CVM instance metadata emulator: the CAM role credentials of spec/tencentcloud-cam.md
§7.3, minted here and registered with the CAM emulator (POST /_emulator/credentials)
so they can sign BuildDataFlowAuthToken until their ExpiredTime.

    /usr/bin/python3 tests/tools/metadata_emulator.py --port 0 --port-file /tmp/p \\
        --role camproxy-role --lifetime-seconds 3600 --cam-endpoint http://127.0.0.1:PORT

API (plain HTTP GET, like http://metadata.tencentyun.com):
  /latest/meta-data/cam/security-credentials/        -> the role name; 404 without a role
  /latest/meta-data/cam/security-credentials/<role>  -> {"TmpSecretId","TmpSecretKey",
      "ExpiredTime","Expiration","Token","Code":"Success"}; 404 for another role
The same credential is served until half of its lifetime has passed, then a new one
(as the real service renews well before the SDKs' 300 s margin).

Control API under /_emulator/ (loopback only):
  GET  health | stats                   stats: calls per path, credentials issued
  POST config {"role": str|null, "lifetime_seconds": N}   null role = none bound (404)
  POST rotate {"revoke_old": bool}      a new credential now; optionally unregister the old
  POST fail {"mode": CODE|http500|hang|slow, "count": N|null, "delay_ms": N} | clear
       CODE answers {"Code": CODE, "Message": ...} with HTTP 200
  POST reset_stats

Logs one line per request; never keys or session tokens.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cam_faults import FaultInjector, kDefaultSlowMs, kErrorCode  # noqa: E402
from emulator_http import CamKeys, Reply, iso8601, json_reply, make_logger, serve_until_signalled  # noqa: E402

kRolePath = "/latest/meta-data/cam/security-credentials/"
kRoleName = re.compile(r"[A-Za-z0-9+=,.@_-]{1,128}")
kSupportedFaults = ("http500", "hang", "slow")


@dataclass(frozen=True)
class RoleCredential:
    secret_id: str
    secret_key: str
    token: str
    issued_at: float
    expired_time: int


class MetadataEmulator:
    def __init__(self, role: Optional[str], lifetime_seconds: int = 21600, cam_endpoint: Optional[str] = None,
                 log: Callable[[str], None] = make_logger("metadata-emulator")):
        self._lock = threading.Lock()
        self.role, self.lifetime_seconds = _check_role(role), _check_lifetime(lifetime_seconds)
        self.current: Optional[RoleCredential] = None
        self.cam = CamKeys(cam_endpoint)
        self.faults = FaultInjector()
        self.calls: collections.Counter[str] = collections.Counter()
        self.issued: list[dict] = []
        self.log = log

    # -- the API ---------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Any, body: bytes) -> Optional[Reply]:
        kind = "role" if path == kRolePath else "credentials" if path.startswith(kRolePath) else "other"
        fault = self.faults.take() if kind != "other" else None
        with self._lock:
            self.calls[kind] += 1
        try:
            reply = self._answer(method, path, kind, fault)
        except (OSError, RuntimeError) as exc:  # the CAM emulator refused or is gone
            self.log(f"cannot register a credential with the CAM emulator: {exc}")
            reply = Reply(500, b"cannot register the credential", "text/plain")
        self.log(f"{method} {path} status={reply.status if reply else 'none'} "
                 f"fault={fault.mode if fault else None}")
        return reply

    def _answer(self, method: str, path: str, kind: str, fault) -> Optional[Reply]:
        if fault is not None:
            if fault.mode == "hang":
                self.faults.hang(fault)
                return None
            if fault.mode == "http500":
                return Reply(500, b"<html>500 Internal Server Error</html>", "text/html")
            if fault.mode == "slow":
                time.sleep((fault.delay_ms if fault.delay_ms is not None else kDefaultSlowMs) / 1000.0)
            elif kind == "credentials":
                return json_reply({"Code": fault.mode, "Message": f"Injected error {fault.mode}."})
        with self._lock:
            role = self.role
        if method != "GET" or kind == "other" or role is None:
            return Reply(404, b"Not Found", "text/html")
        if kind == "role":
            return Reply(200, role.encode(), "text/plain")
        if path[len(kRolePath):] != role:
            return Reply(404, b"Not Found", "text/html")
        cred = self._credential()
        return json_reply({"TmpSecretId": cred.secret_id, "TmpSecretKey": cred.secret_key,
                           "ExpiredTime": cred.expired_time, "Expiration": iso8601(cred.expired_time),
                           "Token": cred.token, "Code": "Success"})

    def _credential(self, force_new: bool = False, revoke_old: bool = False) -> RoleCredential:
        """The current credential, renewed once half of its lifetime has passed."""
        with self._lock:
            now, old = time.time(), self.current
            if old is not None and not force_new and now < (old.issued_at + old.expired_time) / 2:
                return old
            cred = RoleCredential("AKIDcvm" + secrets.token_hex(12), secrets.token_urlsafe(24),
                                  secrets.token_urlsafe(48), now, int(now + self.lifetime_seconds))
            # Registered before it is served: CAM must accept whatever a client receives.
            self.cam.add(cred.secret_id, cred.secret_key, cred.token, cred.expired_time)
            if revoke_old and old is not None:
                self.cam.remove(old.secret_id)
            self.current = cred
            self.issued.append({"secret_id": cred.secret_id, "expired_time": cred.expired_time,
                                "issued_at": now})
        self.log(f"issued credential secret_id={cred.secret_id} expired_time={cred.expired_time}")
        return cred

    # -- the control API ---------------------------------------------------------------
    def control(self, method: str, action: str, body: dict) -> tuple[int, Any]:
        if method == "GET" and action == "health":
            return 200, {"status": "ok"}
        if method == "GET" and action == "stats":
            with self._lock:
                return 200, {"calls": dict(self.calls), "issued": list(self.issued), "role": self.role,
                             "lifetime_seconds": self.lifetime_seconds,
                             "current_secret_id": self.current.secret_id if self.current else None,
                             "active_fault": self.faults.describe()}
        if method != "POST":
            return 404, {"error": f"no control action {method} {action}"}
        if action == "config":
            with self._lock:
                if "role" in body:
                    self.role = _check_role(body["role"])
                if "lifetime_seconds" in body:
                    self.lifetime_seconds = _check_lifetime(body["lifetime_seconds"])
                return 200, {"role": self.role, "lifetime_seconds": self.lifetime_seconds}
        if action == "rotate":
            cred = self._credential(force_new=True, revoke_old=bool(body.get("revoke_old")))
            return 200, {"secret_id": cred.secret_id, "expired_time": cred.expired_time}
        if action == "fail":
            mode = body.get("mode")
            if not isinstance(mode, str) or (mode not in kSupportedFaults and not kErrorCode.fullmatch(mode)):
                raise ValueError(f"mode must be one of {', '.join(kSupportedFaults)} or an error code")
            self.faults.set(mode, body.get("count"), body.get("delay_ms"))
            return 200, {"active_fault": self.faults.describe()}
        if action == "clear":
            self.faults.clear()
            return 200, {"active_fault": None}
        if action == "reset_stats":
            with self._lock:
                self.calls.clear()
            return 200, {}
        return 404, {"error": f"no control action {method} {action}"}


def _check_role(role: Any) -> Optional[str]:
    if role is not None and (not isinstance(role, str) or not kRoleName.fullmatch(role)):
        raise ValueError("role must be a CAM role name ([A-Za-z0-9+=,.@_-]{1,128}) or null")
    return role


def _check_lifetime(seconds: Any) -> int:
    if not isinstance(seconds, int) or not 1 <= seconds <= 43200:
        raise ValueError("lifetime_seconds must be an integer in 1..43200")
    return seconds


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="CVM metadata service emulator (CAM role credentials) for tests.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="write the chosen port here once listening")
    p.add_argument("--role", help="the bound CAM role (omit: no role, 404)")
    p.add_argument("--lifetime-seconds", type=int, default=21600, help="credential lifetime (default 6 h)")
    p.add_argument("--cam-endpoint", help="CAM emulator to register issued credentials with")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_arg_parser().parse_args(argv)
    log = make_logger("metadata-emulator")
    try:
        app = MetadataEmulator(args.role, args.lifetime_seconds, args.cam_endpoint, log)
    except ValueError as exc:
        log(f"error: {exc}")
        return 2
    return serve_until_signalled(app, args.host, args.port, args.port_file, log)


if __name__ == "__main__":
    sys.exit(main())
