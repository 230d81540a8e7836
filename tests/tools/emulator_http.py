"""Plumbing shared by the STS and metadata emulators: a threaded HTTP/1.1 server on
127.0.0.1 that hands each request to an app object, the /_emulator/ control prefix
(loopback peers only), the command-line life cycle (port file, SIGTERM), and a client
that registers keys with the CAM emulator's POST /_emulator/credentials.

An app implements `handle(method, path, headers, body) -> Reply | None` (None: close
the connection without an answer) and `control(method, action, body) -> (status, dict)`.
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

from testutil import http_json

kControlPrefix = "/_emulator/"
kMaxBodyBytes = 64 * 1024


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


def json_reply(document: Any, status: int = 200) -> Reply:
    """Compact JSON, as Tencent Cloud APIs write it."""
    return Reply(status, json.dumps(document, separators=(",", ":")).encode())


class App(Protocol):
    def handle(self, method: str, path: str, headers: Any, body: bytes) -> Optional[Reply]: ...
    def control(self, method: str, action: str, body: dict) -> tuple[int, Any]: ...


def iso8601(unix_seconds: float) -> str:
    """RFC 3339 UTC, as the Expiration fields of spec §7.3/§7.4 are written."""
    return datetime.datetime.fromtimestamp(int(unix_seconds), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_logger(name: str) -> Callable[[str], None]:
    def log(line: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        sys.stderr.write(f"{stamp} {name} {line}\n")
        sys.stderr.flush()
    return log


class EmulatorHttpServer:
    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0):
        self._server = _Server((host, port), _Handler, app)
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, app: App):
        self.app = app
        super().__init__(address, handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class name
        pass  # the apps log one line per request themselves

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit() or int(length) > kMaxBodyBytes:
            self._send(Reply(413, b'{"error": "body too large or unframed"}'))
            self.close_connection = True
            return
        body = self.rfile.read(int(length))
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith(kControlPrefix):
            self._control(path[len(kControlPrefix):], body)
            return
        reply = self.server.app.handle(self.command, path, self.headers, body)
        if reply is None:
            self.close_connection = True
        else:
            self._send(reply)

    def _control(self, action: str, raw: bytes) -> None:
        if self.client_address[0] not in ("127.0.0.1", "::1"):
            self._send(Reply(403, b'{"error": "the control API is loopback only"}'))
            return
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            status, answer = self.server.app.control(self.command, action, body)
        except (ValueError, TypeError) as exc:
            status, answer = 400, {"error": str(exc)}
        self._send(Reply(status, json.dumps(answer).encode()))

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


class CamKeys:
    """Registers keys with the CAM emulator (POST /_emulator/credentials on its port)."""

    def __init__(self, cam_endpoint: Optional[str]):
        self._target = urllib.parse.urlsplit(cam_endpoint) if cam_endpoint else None

    def add(self, secret_id: str, secret_key: str, session_token: str, expires_at: float) -> None:
        self._post({"add": [{"secret_id": secret_id, "secret_key": secret_key,
                             "session_token": session_token, "expires_at": expires_at}]})

    def remove(self, secret_id: str) -> None:
        self._post({"remove": [secret_id]})

    def _post(self, body: dict) -> None:
        if self._target is None:
            return  # standalone: nothing to tell
        status, answer = http_json(self._target.hostname, self._target.port, "POST",
                                   kControlPrefix + "credentials", body)
        if status != 200:
            raise RuntimeError(f"CAM emulator refused the key change: HTTP {status} {answer}")


def write_port_file(path: str, port: int) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)  # readers never see a half-written file


def serve_until_signalled(app: App, host: str, port: int, port_file: Optional[str],
                          log: Callable[[str], None]) -> int:
    server = EmulatorHttpServer(app, host, port)
    server.start()
    log(f"listening on {host}:{server.port}")
    if port_file:
        write_port_file(port_file, server.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log("stopping")
    server.stop()
    return 0
