#!/usr/bin/python3
"""STS emulator: AssumeRoleWithWebIdentity as sts.tencentcloudapi.com answers it for TKE
OIDC (spec/tencentcloud-cam.md §7.4), handing out temporary credentials that it
registers with the CAM emulator (POST /_emulator/credentials) so they can sign
BuildDataFlowAuthToken until their ExpiredTime.

    /usr/bin/python3 tests/tools/sts_emulator.py --port 0 --port-file /tmp/p \\
        --provider-id tke-oidc-1 --role-arn qcs::cam::uin/1:roleName/r \\
        --web-identity-token-file /var/run/token --cam-endpoint http://127.0.0.1:PORT

API: `POST /`, X-TC-Action AssumeRoleWithWebIdentity, X-TC-Version 2018-08-13, unsigned
(Authorization: SKIP, no X-TC-Token), X-TC-Region set. The WebIdentityToken must equal
the expected token (read from --web-identity-token-file at each call, or set through
the control API). Errors use the API 3.0 envelope with HTTP 200.

Control API under /_emulator/ (loopback only):
  GET  health | stats                    stats: calls by outcome, credentials issued
  POST config {"web_identity_token": str, "lifetime_seconds": N|null,
               "provider_id": str, "role_arn": str}   (each optional)
       lifetime_seconds: ExpiredTime = now + N instead of now + DurationSeconds
  POST fail {"mode": CODE|http500|hang|slow, "count": N|null, "delay_ms": N} | clear
  POST reset_stats

Logs one line per call; never the web identity token, keys or session tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import threading
import time
import uuid
from typing import Any, Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cam_faults import CallStats, FaultInjector, kDefaultSlowMs, kErrorCode  # noqa: E402
from emulator_http import CamKeys, Reply, iso8601, json_reply, make_logger, serve_until_signalled  # noqa: E402

kAction = "AssumeRoleWithWebIdentity"
kVersion = "2018-08-13"
kMaxDurationSeconds = 43200  # spec §7.4: DurationSeconds 1..43200
kSessionName = re.compile(r"[\w+=,.@-]{2,64}")
kSupportedFaults = ("http500", "hang", "slow")


def _error(code: str, message: str, request_id: str) -> Reply:
    return json_reply({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}})


class StsEmulator:
    def __init__(self, provider_id: str, role_arn: str, web_identity_token: Optional[str] = None,
                 token_file: Optional[str] = None, cam_endpoint: Optional[str] = None,
                 lifetime_seconds: Optional[int] = None, log: Callable[[str], None] = make_logger("sts-emulator")):
        if web_identity_token is None and token_file is None:
            raise ValueError("give the expected web identity token or its file")
        self._lock = threading.Lock()
        self.provider_id, self.role_arn = provider_id, role_arn
        self._token, self._token_file = web_identity_token, token_file
        self.lifetime_seconds = lifetime_seconds
        self.cam = CamKeys(cam_endpoint)
        self.faults = FaultInjector()
        self.stats = CallStats()
        self.issued: list[dict] = []  # public part of every credential handed out
        self.log = log

    def expected_token(self) -> str:
        with self._lock:
            if self._token is not None:
                return self._token
            path = self._token_file
        with open(path) as f:
            return f.read().strip()

    # -- the API ---------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Any, body: bytes) -> Optional[Reply]:
        if method != "POST" or path != "/":
            return Reply(404, b'{"error": "not found"}')
        request_id = str(uuid.uuid4())
        self.stats.begin({"action": headers.get("X-TC-Action"), "region": headers.get("X-TC-Region"),
                          "authorization": headers.get("Authorization"), "body_bytes": len(body)})
        outcome, secret_id, fault = "unanswered", None, self.faults.take()
        try:
            reply, outcome, secret_id = self._answer(headers, body, request_id, fault)
            return reply
        finally:
            self.stats.end(outcome, self.role_arn, secret_id, fault.mode if fault else None)
            self.log(f"POST / action={headers.get('X-TC-Action')} outcome={outcome} "
                     f"secret_id={secret_id} request_id={request_id}")

    def _answer(self, headers: Any, body: bytes, request_id: str, fault) -> tuple[Optional[Reply], str, Optional[str]]:
        if fault is not None:
            if fault.mode == "hang":
                self.faults.hang(fault)
                return None, "hang", None
            if fault.mode == "http500":
                return Reply(500, b"<html>500 Internal Server Error</html>", "text/html"), "http500", None
            if fault.mode == "slow":
                time.sleep((fault.delay_ms if fault.delay_ms is not None else kDefaultSlowMs) / 1000.0)
            elif fault.is_error_code:
                return _error(fault.mode, f"Injected error {fault.mode}.", request_id), fault.mode, None
        problem = self._check(headers, body)
        if problem is not None:
            return _error(*problem, request_id), problem[0], None
        duration = json.loads(body).get("DurationSeconds", 7200)
        with self._lock:
            lifetime = self.lifetime_seconds if self.lifetime_seconds is not None else duration
        now = time.time()
        expires = int(now + lifetime)
        secret_id = "AKIDsts" + secrets.token_hex(12)
        secret_key, session_token = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        try:
            self.cam.add(secret_id, secret_key, session_token, expires)
        except (OSError, RuntimeError) as exc:
            self.log(f"cannot register the credential with the CAM emulator: {exc}")
            return _error("InternalError", "Internal error.", request_id), "cam_registration_failed", None
        with self._lock:
            self.issued.append({"secret_id": secret_id, "expired_time": expires, "issued_at": now})
        return json_reply({"Response": {
            "Credentials": {"Token": session_token, "TmpSecretId": secret_id, "TmpSecretKey": secret_key},
            "ExpiredTime": expires, "Expiration": iso8601(expires), "RequestId": request_id}}), "success", secret_id

    def _check(self, headers: Any, body: bytes) -> Optional[tuple[str, str]]:
        """(code, message) for the first thing wrong with the request, or None."""
        action = headers.get("X-TC-Action")
        if action != kAction:
            return "InvalidAction", f"The requested action `{action}` does not exist."
        if headers.get("X-TC-Version") != kVersion:
            return "NoSuchVersion", "The requested version does not exist."
        if headers.get("Authorization") != "SKIP":
            return "AuthFailure.InvalidAuthorization", "AssumeRoleWithWebIdentity is called unsigned: Authorization: SKIP."
        if headers.get("X-TC-Token") is not None:
            return "AuthFailure.TokenFailure", "No X-TC-Token is sent with AssumeRoleWithWebIdentity."
        if not headers.get("X-TC-Region"):
            return "MissingParameter", "The request is missing a required parameter `Region`."
        if not (headers.get("X-TC-Timestamp") or "").isdigit():
            return "MissingParameter", "The request is missing a required parameter `Timestamp`."
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return "InvalidParameter", "The request body is not valid JSON."
        if not isinstance(document, dict):
            return "InvalidParameter", "The request body must be a JSON object."
        for field in ("ProviderId", "WebIdentityToken", "RoleArn", "RoleSessionName"):
            if not isinstance(document.get(field), str) or not document[field]:
                return "MissingParameter", f"The request is missing a required parameter `{field}`."
        duration = document.get("DurationSeconds", 7200)
        if not isinstance(duration, int) or not 1 <= duration <= kMaxDurationSeconds:
            return "InvalidParameterValue", "DurationSeconds must be an integer in 1..43200."
        if not kSessionName.fullmatch(document["RoleSessionName"]):
            return "InvalidParameterValue", "RoleSessionName must match [\\w+=,.@-]{2,64}."
        with self._lock:
            provider_id, role_arn = self.provider_id, self.role_arn
        if document["ProviderId"] != provider_id:
            return "InvalidParameter.ProviderIdError", "The identity provider does not exist."
        if document["RoleArn"] != role_arn:
            return "InvalidParameter.RoleArnError", "The role does not exist or does not trust the provider."
        if not secrets.compare_digest(document["WebIdentityToken"].encode(), self.expected_token().encode()):
            return "InvalidParameter.WebIdentityTokenError", "web identity token invalid"
        return None

    # -- the control API ---------------------------------------------------------------
    def control(self, method: str, action: str, body: dict) -> tuple[int, Any]:
        if method == "GET" and action == "health":
            return 200, {"status": "ok"}
        if method == "GET" and action == "stats":
            stats = self.stats.snapshot()
            with self._lock:
                stats.update(issued=list(self.issued), lifetime_seconds=self.lifetime_seconds,
                             active_fault=self.faults.describe())
            return 200, stats
        if method != "POST":
            return 404, {"error": f"no control action {method} {action}"}
        if action == "config":
            return 200, self._configure(body)
        if action == "fail":
            mode = body.get("mode")
            if not isinstance(mode, str) or (mode not in kSupportedFaults and not kErrorCode.fullmatch(mode)):
                raise ValueError(f"mode must be one of {', '.join(kSupportedFaults)} or an API error code")
            self.faults.set(body["mode"], body.get("count"), body.get("delay_ms"))
            return 200, {"active_fault": self.faults.describe()}
        if action == "clear":
            self.faults.clear()
            return 200, {"active_fault": None}
        if action == "reset_stats":
            self.stats.reset()
            return 200, {}
        return 404, {"error": f"no control action {method} {action}"}

    def _configure(self, body: dict) -> dict:
        lifetime = body.get("lifetime_seconds", self.lifetime_seconds)
        if lifetime is not None and (not isinstance(lifetime, int) or lifetime < -86400 or lifetime > 86400):
            raise ValueError("lifetime_seconds must be an integer (seconds, may be negative) or null")
        for field in ("web_identity_token", "provider_id", "role_arn"):
            if field in body and (not isinstance(body[field], str) or not body[field]):
                raise ValueError(f"{field} must be a non-empty string")
        with self._lock:
            self.lifetime_seconds = lifetime
            self._token = body.get("web_identity_token", self._token)
            self.provider_id = body.get("provider_id", self.provider_id)
            self.role_arn = body.get("role_arn", self.role_arn)
            return {"lifetime_seconds": self.lifetime_seconds, "provider_id": self.provider_id,
                    "role_arn": self.role_arn}


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Tencent Cloud STS AssumeRoleWithWebIdentity emulator for tests.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="write the chosen port here once listening")
    p.add_argument("--provider-id", required=True, help="the expected ProviderId (TKE_PROVIDER_ID)")
    p.add_argument("--role-arn", required=True, help="the expected RoleArn (TKE_ROLE_ARN)")
    token = p.add_mutually_exclusive_group(required=True)
    token.add_argument("--web-identity-token", help="the expected WebIdentityToken")
    token.add_argument("--web-identity-token-file", help="read the expected token from here at each call")
    p.add_argument("--cam-endpoint", help="CAM emulator to register issued credentials with")
    p.add_argument("--lifetime-seconds", type=int, help="ExpiredTime = now + this (default DurationSeconds)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_arg_parser().parse_args(argv)
    log = make_logger("sts-emulator")
    app = StsEmulator(args.provider_id, args.role_arn, args.web_identity_token, args.web_identity_token_file,
                      args.cam_endpoint, args.lifetime_seconds, log)
    return serve_until_signalled(app, args.host, args.port, args.port_file, log)


if __name__ == "__main__":
    sys.exit(main())
