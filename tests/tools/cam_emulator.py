#!/usr/bin/python3
"""CAM API emulator: serves BuildDataFlowAuthToken like cam.tencentcloudapi.com
(spec/tencentcloud-cam.md §1-4, §6) and owns the passwords of MariaDB accounts.

    /usr/bin/python3 tests/tools/cam_emulator.py --port 0 --port-file /tmp/p \\
        --credential AKIDxxx:secretkey --account cdb-1:ap-guangzhou:camtest \\
        --mysql-host 127.0.0.1 --mysql-port 3306 --mysql-user harness --mysql-password pw

API: `POST /` with X-TC-Action: BuildDataFlowAuthToken, TC3-signed. Every API error is
HTTP 200 with {"Response":{"Error":{Code,Message},"RequestId"}}.

Test control API (JSON, loopback peers only), under /_emulator/:
  GET  health | stats
  POST rotate  {"account": "camtest"}      (no account: all) the console's "Refresh Password"
  POST fail    {"mode": CODE|http500|hang|slow|malformed_json|garbage|reset|truncated_token,
                "count": N|null, "delay_ms": N}
  POST clear | reset_stats
  POST enable | disable {"account": "camtest"}
  POST clock   {"offset_seconds": N}        shifts the emulator's clock (SignatureExpire tests)
  GET  credentials | POST credentials {"add": [{"secret_id", "secret_key", "session_token"?,
       "expires_at"?}], "remove": [secret_id]}   accepted keys at run time (cam_keys.py)

Logs one line per request to stderr; never keys, session tokens, tokens or passwords.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from typing import Any, Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cam_accounts import AccountRegistry, AccountSpec, MysqlAdmin, RotationError  # noqa: E402
from cam_faults import CallStats, Fault, FaultInjector, kDefaultSlowMs, redact_headers  # noqa: E402
from cam_keys import KeyRegistry  # noqa: E402
from cam_token import AuthTokenInfo, make_token  # noqa: E402
from cam_verify import ApiError, Credential, TokenRequest  # noqa: E402

kMaxBodyBytes = 64 * 1024
kControlPrefix = "/_emulator/"
kAppId = 1250000000
kOwnerUin = 100000000001
kTruncateChars = 10  # the truncated_token fault drops this many characters
kGarbageMaxBytes = 4096  # the garbage fault answers up to this many random bytes


def stderr_log(line: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sys.stderr.write(f"{stamp} cam-emulator {line}\n")
    sys.stderr.flush()


def parse_credential(text: str) -> Credential:
    """ID:KEY[:SESSIONTOKEN]"""
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError("credential must be ID:KEY[:SESSIONTOKEN]")
    return Credential(parts[0], parts[1], parts[2] if len(parts) == 3 and parts[2] else None)


class CamEmulator:
    def __init__(self, credentials: list[Credential], accounts: list[AccountSpec],
                 disabled_accounts: list[AccountSpec] = (), mysql: Optional[MysqlAdmin] = None,
                 rotation_seconds: float = 3600, host: str = "127.0.0.1", port: int = 0,
                 log: Callable[[str], None] = stderr_log):
        self.keys = KeyRegistry(credentials)
        self._period = rotation_seconds
        self.registry = AccountRegistry(list(accounts), list(disabled_accounts), mysql,
                                        rotation_seconds, log)
        self.faults = FaultInjector()
        self.stats = CallStats()
        self.clock_offset = 0.0
        self.log = log
        self._address = (host, port)
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        assert self._server is not None, "emulator not started"
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def now(self) -> float:
        return time.time() + self.clock_offset

    def start(self) -> None:
        """Sets every enabled account's password (raises RotationError if the database
        refuses), then listens."""
        self.registry.start()
        self._server = _Server(self._address, _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="cam-http", daemon=True)
        self._thread.start()
        self.log(f"listening on {self._address[0]}:{self.port}")

    def stop(self) -> None:
        self.faults.shutdown()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.registry.stop()

    def __enter__(self) -> "CamEmulator":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the API -----------------------------------------------------------------
    def answer(self, headers, body: bytes, request_id: str) -> tuple[dict, str, Optional[str], Optional[str]]:
        """(response document, outcome, account key, secret id) for one API request."""
        result = self.keys.verify(headers, body, self.now())
        if isinstance(result, ApiError):
            return _error_document(result, request_id), result.code, None, None
        state = self.registry.lookup(result.instance_id, result.region, result.account)
        key = f"{result.instance_id}:{result.region}:{result.account}"
        if state is None or not state.enabled:
            error = ApiError("ResourceNotFound.DataFlowAuthClose",
                             f"CAM data flow authentication is not enabled for {key}.")
            return _error_document(error, request_id), error.code, key, result.secret_id
        if state.password is None:
            error = ApiError("FailedOperation.BuildAuthToken", "AuthToken generation exception.")
            return _error_document(error, request_id), error.code, key, result.secret_id
        return self._credentials(result, state, request_id), "success", key, result.secret_id

    def _credentials(self, req: TokenRequest, state, request_id: str) -> dict:
        now_ms = int(self.now() * 1000)
        uin = 100000000000 + int(hashlib.sha256(req.secret_id.encode()).hexdigest()[:8], 16) % 10**9
        info = AuthTokenInfo(
            app_id=kAppId, uin=uin, owner_uin=kOwnerUin, req_id=request_id,
            instance_id=req.instance_id, region=req.region, username=req.account,
            password=state.password, create_time=now_ms,
            extra_info=_compact({"rotation": f"{int(self._period)}s"}).decode(),
            token_type=1, rand_num=secrets.randbits(32))
        next_ms = int((state.next_rotation_at + self.clock_offset) * 1000)
        return {"Response": {"Credentials": {
            "Token": make_token(info), "CurrentTime": now_ms, "NextRotationTime": next_ms,
            "LastRotationTimeCost": state.last_cost_ms, "RotationStatus": state.status,
            "RotationMessage": state.message}, "RequestId": request_id}}

    # -- the control API -----------------------------------------------------------
    def control(self, method: str, action: str, body: dict) -> tuple[int, Any]:
        account = body.get("account")
        if method == "GET" and action == "health":
            return 200, {"status": "ok", "port": self.port, "accounts": self.registry.select(None)}
        if method == "GET" and action == "stats":
            stats = self.stats.snapshot()
            stats.update(accounts=self.registry.public_states(), active_fault=self.faults.describe(),
                         clock_offset_seconds=self.clock_offset)
            return 200, stats
        if action == "credentials":
            return 200, self.keys.control(method, body, self.now())
        if method != "POST":
            return 404, {"error": f"no control action {method} {action}"}
        if action == "fail":
            self.faults.set(body.get("mode", ""), body.get("count"), body.get("delay_ms"))
            return 200, {"active_fault": self.faults.describe()}
        if action == "clear":
            self.faults.clear()
            return 200, {"active_fault": None}
        if action == "reset_stats":
            self.stats.reset()
            return 200, {}
        if action == "clock":
            self.clock_offset = float(body.get("offset_seconds", 0))
            return 200, {"clock_offset_seconds": self.clock_offset}
        if action in ("rotate", "enable", "disable"):
            if account is None and action != "rotate":
                raise ValueError(f"{action} needs an account")
            keys = self.registry.select(account)
            if not keys:
                return 404, {"error": f"no account {account!r}"}
            try:
                if action == "rotate":
                    return 200, {"rotated": self.registry.rotate(keys),
                                 "accounts": self.registry.public_states()}
                self.registry.set_enabled(keys, action == "enable")
                return 200, {"accounts": self.registry.public_states()}
            except RotationError as exc:
                return 500, {"error": str(exc)}
        return 404, {"error": f"no control action {method} {action}"}


def _compact(document: dict) -> bytes:
    """JSON as the real service writes it: no spaces (spec §3 examples)."""
    return json.dumps(document, separators=(",", ":")).encode()


def _error_document(error: ApiError, request_id: str) -> dict:
    return {"Response": {"Error": {"Code": error.code, "Message": error.message}, "RequestId": request_id}}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, emulator: CamEmulator):
        self.emulator = emulator
        super().__init__(address, handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class name
        pass  # we write our own one-line log per request

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        started = time.monotonic()
        body = self._read_body()
        if body is None:
            return
        if self.path.startswith(kControlPrefix):
            self._control(body)
        elif self.command == "POST" and self.path == "/":
            self._api(body, started)
        else:
            self._send(404, b'{"error": "not found"}')

    def _read_body(self) -> Optional[bytes]:
        """The request body (Content-Length or chunked), or None after answering an
        oversized or unframed request."""
        length_text = self.headers.get("Content-Length")
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        elif length_text is not None:
            body = self.rfile.read(int(length_text)) if length_text.isdigit() and \
                int(length_text) <= kMaxBodyBytes else None
        elif self.command == "POST":
            self._send(411, b'{"error": "Content-Length required"}')
            self.close_connection = True
            return None
        else:
            body = b""
        if body is None:
            error = _error_document(ApiError("RequestSizeLimitExceeded", "The request body is too large."),
                                    str(uuid.uuid4()))
            self._send(200, _compact(error))
            self.close_connection = True
        return body

    def _read_chunked(self) -> Optional[bytes]:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(64).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            if len(body) + size > kMaxBodyBytes:
                return None
            body += self.rfile.read(size)
            self.rfile.readline(8)  # CRLF after the chunk

    def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _control(self, raw: bytes) -> None:
        if self.client_address[0] not in ("127.0.0.1", "::1"):
            self._send(403, b'{"error": "the control API is loopback only"}')
            return
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            status, answer = self.server.emulator.control(self.command, self.path[len(kControlPrefix):], body)
        except (ValueError, TypeError) as exc:
            status, answer = 400, {"error": str(exc)}
        self._send(status, json.dumps(answer).encode())
        if self.path != kControlPrefix + "health":  # polled during start-up: not worth a line each
            self.server.emulator.log(f"control {self.command} {self.path} status={status}")

    def _api(self, body: bytes, started: float) -> None:
        emulator = self.server.emulator
        request_id = str(uuid.uuid4())
        emulator.stats.begin({"method": self.command, "path": self.path,
                              "headers": redact_headers(dict(self.headers.items())),
                              "body": body[:1024].decode("utf-8", "replace")})
        outcome, account, secret_id, fault = "unanswered", None, None, None
        try:
            fault = emulator.faults.take()
            outcome, account, secret_id = self._api_answer(body, request_id, fault)
        finally:
            fault_name = fault.mode if fault else None
            emulator.stats.end(outcome, account, secret_id, fault_name)
            emulator.log(f"{self.client_address[0]} POST / action={self.headers.get('X-TC-Action')} "
                         f"account={account} outcome={outcome} fault={fault_name} "
                         f"ms={int((time.monotonic() - started) * 1000)} request_id={request_id}")

    def _api_answer(self, body: bytes, request_id: str, fault: Optional[Fault]):
        emulator = self.server.emulator
        if fault is not None and fault.mode == "slow":
            time.sleep((fault.delay_ms if fault.delay_ms is not None else kDefaultSlowMs) / 1000.0)
        elif fault is not None and fault.mode == "hang":
            emulator.faults.hang(fault)
            self.close_connection = True  # give up without an answer
            return "hang", None, None
        elif fault is not None and fault.mode == "reset":
            # SO_LINGER 0: close() sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return "reset", None, None
        elif fault is not None and fault.mode == "http500":
            self._send(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html")
            return "http500", None, None
        elif fault is not None and fault.mode == "malformed_json":
            self._send(200, b'{"Response": {"Credentials": {"Token": "')
            return "malformed_json", None, None
        elif fault is not None and fault.mode == "garbage":
            # A broken middlebox: random bytes (NULs, invalid UTF-8) labelled as JSON; the
            # first, 0x80, can start neither JSON nor UTF-8 text, so it never parses by chance.
            self._send(200, b"\x80" + secrets.token_bytes(secrets.randbelow(kGarbageMaxBytes)))
            return "garbage", None, None
        elif fault is not None and fault.is_error_code:
            error = ApiError(fault.mode, f"Injected error {fault.mode}.")
            self._send(200, _compact(_error_document(error, request_id)))
            return fault.mode, None, None

        document, outcome, account, secret_id = emulator.answer(self.headers, body, request_id)
        if fault is not None and fault.mode == "truncated_token" and outcome == "success":
            credentials = document["Response"]["Credentials"]
            credentials["Token"] = credentials["Token"][:-kTruncateChars]
            outcome = "truncated_token"
        self._send(200, _compact(document))
        return outcome, account, secret_id


def _write_port_file(path: str, port: int) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)  # readers never see a half-written file


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Tencent Cloud CAM BuildDataFlowAuthToken emulator for tests.")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="listen port; 0 picks a free one (default 0)")
    p.add_argument("--port-file", help="write the chosen port here once listening")
    p.add_argument("--credential", action="append", default=[], required=True,
                   metavar="ID:KEY[:SESSIONTOKEN]", help="an accepted API key (repeatable)")
    p.add_argument("--account", action="append", default=[], metavar="INSTANCE:REGION:USER[@HOST]",
                   help="a CAM-enabled MariaDB account whose password the emulator owns (repeatable)")
    p.add_argument("--disabled-account", action="append", default=[], metavar="INSTANCE:REGION:USER[@HOST]",
                   help="an account known but not enabled (ResourceNotFound.DataFlowAuthClose)")
    p.add_argument("--mysql-host", help="admin connection for ALTER USER (omit: passwords are not set anywhere)")
    p.add_argument("--mysql-port", type=int, default=3306)
    p.add_argument("--mysql-user", default="root")
    p.add_argument("--mysql-password", default="")
    p.add_argument("--rotation-seconds", type=float, default=3600.0,
                   help="password rotation period (default 3600)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_arg_parser().parse_args(argv)
    try:
        credentials = [parse_credential(c) for c in args.credential]
        accounts = [AccountSpec.parse(a) for a in args.account]
        disabled = [AccountSpec.parse(a) for a in args.disabled_account]
    except ValueError as exc:
        stderr_log(f"error: {exc}")
        return 2
    if args.rotation_seconds <= 0:
        stderr_log("error: --rotation-seconds must be positive")
        return 2
    mysql = None
    if args.mysql_host:
        mysql = MysqlAdmin(args.mysql_host, args.mysql_port, args.mysql_user, args.mysql_password)
    else:
        stderr_log("warning: no --mysql-host; rotated passwords are not set on any database")
    emulator = CamEmulator(credentials, accounts, disabled, mysql, args.rotation_seconds,
                           args.host, args.port)
    try:
        emulator.start()
    except (RotationError, OSError) as exc:
        stderr_log(f"error: cannot start: {exc}")
        emulator.stop()
        return 1
    if args.port_file:
        _write_port_file(args.port_file, emulator.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    emulator.log("stopping")
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
