"""Test-side access to the CAM emulator: a signed BuildDataFlowAuthToken call (with
knobs to break it in every documented way), the control API, and the emulator run as a
subprocess of the test session.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import tc3
from cam_verify import Credential, kAction, kVersion
from credential_emulators import EmulatorChild
from testutil import http_json

kEmulatorScript = str(Path(__file__).resolve().parent / "cam_emulator.py")
kPython = "/usr/bin/python3"


@dataclass
class ApiResponse:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def token_request_body(instance_id: str, region: str, account: str) -> bytes:
    """Compact JSON body in the order the Go SDK writes it (spec §1)."""
    return json.dumps({"ResourceId": instance_id, "ResourceRegion": region,
                       "ResourceAccount": account}, separators=(",", ":")).encode()


def call_build_token(
    endpoint: str,
    credential: Credential,
    instance_id: str,
    region: str,
    account: str,
    *,
    timestamp: Optional[int] = None,
    body: Optional[bytes] = None,
    sign_key: Optional[str] = None,
    scope_date: Optional[str] = None,
    extra_signed: Optional[Mapping[str, str]] = None,
    content_type: str = "application/json",
    headers_after_signing: Optional[Mapping[str, Optional[str]]] = None,
    body_after_signing: Optional[bytes] = None,
    chunked: bool = False,
    timeout: float = 10.0,
) -> ApiResponse:
    """POST / as an SDK would. The keyword knobs make one thing wrong at a time:
    `sign_key` signs with another key, `scope_date` puts another date in the credential
    scope, `headers_after_signing` replaces (value) or drops (None) headers after the
    signature is made, `body_after_signing` sends other bytes than those signed.
    `chunked` sends the body with Transfer-Encoding: chunked instead of Content-Length."""
    extra_signed = extra_signed or {}
    url = urllib.parse.urlsplit(endpoint)
    host = url.netloc
    timestamp = int(time.time()) if timestamp is None else timestamp
    body = token_request_body(instance_id, region, account) if body is None else body
    signed = [("content-type", content_type), ("host", host), *extra_signed.items()]
    signature = tc3.sign(secret_id=credential.secret_id, secret_key=sign_key or credential.secret_key,
                         service="cam", timestamp=timestamp, body=body, headers=signed,
                         lowercase_values=False, date=scope_date)
    headers: dict[str, Optional[str]] = {
        "Host": host, "Content-Type": content_type, "X-TC-Action": kAction,
        "X-TC-Version": kVersion, "X-TC-Timestamp": str(timestamp), "X-TC-Region": region,
        "Authorization": signature.authorization,
    }
    headers.update(extra_signed)
    if credential.session_token is not None:
        headers["X-TC-Token"] = credential.session_token
    headers.update(headers_after_signing or {})
    payload = body if body_after_signing is None else body_after_signing
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            if value is not None:
                conn.putheader(name, value)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(len(payload)))
        conn.endheaders(payload, encode_chunked=chunked)
        resp = conn.getresponse()
        return ApiResponse(resp.status, resp.getheader("Content-Type", ""), resp.read())
    finally:
        conn.close()


class EmulatorControl:
    """The /_emulator/ control API. Every call raises AssertionError on a non-200."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.host, self.port = host, port

    def _call(self, method: str, action: str, body: Optional[dict] = None) -> Any:
        status, answer = http_json(self.host, self.port, method, f"/_emulator/{action}", body, timeout=30)
        if status != 200:
            raise AssertionError(f"emulator control {action} answered {status}: {answer}")
        return answer

    def health(self) -> dict:
        return self._call("GET", "health")

    def stats(self) -> dict:
        return self._call("GET", "stats")

    def rotate(self, account: Optional[str] = None) -> dict:
        return self._call("POST", "rotate", {} if account is None else {"account": account})

    def fail(self, mode: str, count: Optional[int] = None, delay_ms: Optional[int] = None) -> dict:
        return self._call("POST", "fail", {"mode": mode, "count": count, "delay_ms": delay_ms})

    def clear(self) -> dict:
        return self._call("POST", "clear", {})

    def reset_stats(self) -> dict:
        return self._call("POST", "reset_stats", {})

    def enable(self, account: str) -> dict:
        return self._call("POST", "enable", {"account": account})

    def disable(self, account: str) -> dict:
        return self._call("POST", "disable", {"account": account})

    def set_clock_offset(self, seconds: float) -> dict:
        return self._call("POST", "clock", {"offset_seconds": seconds})


class EmulatorProcess(EmulatorChild):
    """cam_emulator.py as a child process (see EmulatorChild), with its control API."""

    def __init__(self, args: list[str], log_path: str | os.PathLike):
        super().__init__(kEmulatorScript, args, log_path)

    @property
    def control(self) -> EmulatorControl:
        assert self.port is not None, "emulator not started"
        return EmulatorControl(self.port)
