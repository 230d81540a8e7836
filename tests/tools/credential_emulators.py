"""Test-side access to the credential emulators (sts_emulator.py, metadata_emulator.py)
and to the CAM emulator's key control: the emulators run as child processes, their
control APIs, and an AssumeRoleWithWebIdentity call made the way the SDKs make it
(spec/tencentcloud-cam.md §7.4).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any, Mapping, Optional

from testutil import WaitAbort, die_with_parent, http_json, stop_process, tail_file, wait_until

kTools = Path(__file__).resolve().parent
kStsScript = str(kTools / "sts_emulator.py")
kMetadataScript = str(kTools / "metadata_emulator.py")
kCamScript = str(kTools / "cam_emulator.py")
kPython = "/usr/bin/python3"
kStartTimeout = 30.0
kRolePath = "/latest/meta-data/cam/security-credentials/"


class ControlClient:
    """/_emulator/<action> of one emulator; raises AssertionError on a non-200."""

    def __init__(self, port: int):
        self.port = port

    def get(self, action: str) -> Any:
        return self._call("GET", action, None)

    def post(self, action: str, body: Optional[dict] = None) -> Any:
        return self._call("POST", action, body or {})

    def _call(self, method: str, action: str, body: Optional[dict]) -> Any:
        status, answer = http_json("127.0.0.1", self.port, method, f"/_emulator/{action}", body, timeout=30)
        if status != 200:
            raise AssertionError(f"emulator control {method} {action} answered {status}: {answer}")
        return answer


class EmulatorChild:
    """An emulator script as a child process: the port comes through --port-file, and it
    is ready when GET /_emulator/health answers 200 (bounded waits). Its stdout and
    stderr go to `log_path`."""

    def __init__(self, script: str, args: list[str], log_path: str | os.PathLike):
        self._script, self._args = script, list(args)
        self.log_path = str(log_path)
        self._proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def control(self) -> ControlClient:
        assert self.port is not None, "emulator not started"
        return ControlClient(self.port)

    def start(self) -> "EmulatorChild":
        port_file = f"{self.log_path}.port"
        Path(port_file).unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen([kPython, self._script, "--port-file", port_file, *self._args],
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          preexec_fn=die_with_parent)
        name = Path(self._script).name
        try:
            self.port = wait_until(lambda: self._read_port(port_file), kStartTimeout, f"{name}'s port file")
            health = ControlClient(self.port)
            wait_until(lambda: health.get("health")["status"] == "ok", kStartTimeout, f"{name}'s health")
        except (AssertionError, WaitAbort) as exc:
            self.stop()
            raise RuntimeError(f"{name} did not start: {exc}\n--- tail of {self.log_path} ---\n"
                               f"{tail_file(self.log_path)}") from None
        return self

    def _read_port(self, port_file: str) -> Optional[int]:
        if self._proc is not None and self._proc.poll() is not None:
            raise WaitAbort(f"{self._script} exited with status {self._proc.returncode}")
        try:
            return int(Path(port_file).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def stop(self) -> Optional[int]:
        if self._proc is None:
            return None
        status = stop_process(self._proc)
        self._proc = None
        return status

    def log_text(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def __enter__(self) -> "EmulatorChild":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def sts_child(log_path, *, provider_id: str, role_arn: str, token_file: str, cam_endpoint: Optional[str],
              extra: tuple[str, ...] = ()) -> EmulatorChild:
    args = ["--provider-id", provider_id, "--role-arn", role_arn, "--web-identity-token-file", token_file]
    if cam_endpoint:
        args += ["--cam-endpoint", cam_endpoint]
    return EmulatorChild(kStsScript, args + list(extra), log_path)


def metadata_child(log_path, *, role: Optional[str], cam_endpoint: Optional[str],
                   lifetime_seconds: int = 21600) -> EmulatorChild:
    args = ["--lifetime-seconds", str(lifetime_seconds)]
    if role is not None:
        args += ["--role", role]
    if cam_endpoint:
        args += ["--cam-endpoint", cam_endpoint]
    return EmulatorChild(kMetadataScript, args, log_path)


def cam_child(log_path, *, credentials: list[str], accounts: list[str]) -> EmulatorChild:
    """The CAM emulator without a database: tokens are served, passwords set nowhere."""
    args = []
    for c in credentials:
        args += ["--credential", c]
    for a in accounts:
        args += ["--account", a]
    return EmulatorChild(kCamScript, args, log_path)


def assume_role_with_web_identity(endpoint: str, *, provider_id: str, role_arn: str, token: str,
                                  region: str = "ap-guangzhou", duration_seconds: Optional[int] = 7200,
                                  headers: Optional[Mapping[str, Optional[str]]] = None,
                                  body: Optional[bytes] = None, timeout: float = 10.0) -> tuple[int, Any]:
    """POST / as the SDKs call STS for TKE OIDC (unsigned). `headers` replaces (value)
    or drops (None) headers; `body` replaces the JSON body. Returns (status, JSON or None)."""
    document = {"ProviderId": provider_id, "WebIdentityToken": token, "RoleArn": role_arn,
                "RoleSessionName": f"camproxy-{int(time.time() * 1e6)}"}
    if duration_seconds is not None:
        document["DurationSeconds"] = duration_seconds
    payload = json.dumps(document, separators=(",", ":")).encode() if body is None else body
    url = urllib.parse.urlsplit(endpoint)
    sent: dict[str, Optional[str]] = {
        "Host": url.netloc, "Content-Type": "application/json", "X-TC-Action": "AssumeRoleWithWebIdentity",
        "X-TC-Version": "2018-08-13", "X-TC-Region": region, "X-TC-Timestamp": str(int(time.time())),
        "Authorization": "SKIP"}
    sent.update(headers or {})
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        for name, value in sent.items():
            if value is not None:
                conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(payload)))
        conn.endheaders(payload)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, None


def metadata_get(endpoint: str, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    url = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
