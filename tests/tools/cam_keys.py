"""The API keys the CAM emulator accepts: the permanent ones from its command line, and
keys added or removed at run time through POST /_emulator/credentials, e.g. the
temporary credentials the STS and metadata emulators hand out, with their session token
and expiry (spec/tencentcloud-cam.md §7.3, §7.4).

A temporary key past its expiry is refused with AuthFailure.TokenFailure (spec §6.2:
"bad or expired session token"); a removed key is unknown (AuthFailure.SecretIdNotFound).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Optional

from cam_verify import ApiError, Credential, Headers, RequestVerifier, TokenRequest

_kSecretId = re.compile(r"Credential=([^/\s,]+)/")


@dataclass(frozen=True)
class AcceptedKey:
    credential: Credential
    expires_at: Optional[float] = None  # Unix seconds; None = never

    def public(self, now: float) -> dict:
        """For the control API: never the key or the session token."""
        return {"secret_id": self.credential.secret_id,
                "temporary": self.credential.session_token is not None,
                "expires_at": self.expires_at,
                "expired": self.expires_at is not None and now >= self.expires_at}


def parse_key(item: Any) -> AcceptedKey:
    """{"secret_id", "secret_key", "session_token"?, "expires_at"?} -> AcceptedKey."""
    if not isinstance(item, dict):
        raise ValueError("each added key must be an object")
    secret_id, secret_key = item.get("secret_id"), item.get("secret_key")
    token, expires_at = item.get("session_token"), item.get("expires_at")
    if not isinstance(secret_id, str) or not secret_id or not isinstance(secret_key, str) or not secret_key:
        raise ValueError("secret_id and secret_key must be non-empty strings")
    if token is not None and (not isinstance(token, str) or not token):
        raise ValueError("session_token must be a non-empty string or absent")
    if expires_at is not None and not isinstance(expires_at, (int, float)):
        raise ValueError("expires_at must be Unix seconds or absent")
    return AcceptedKey(Credential(secret_id, secret_key, token), expires_at)


class KeyRegistry:
    def __init__(self, credentials: list[Credential]):
        self._lock = threading.Lock()
        self._keys = {c.secret_id: AcceptedKey(c) for c in credentials}
        self._verifier = RequestVerifier({k: v.credential for k, v in self._keys.items()})

    def verify(self, headers: Headers, body: bytes, now: float) -> TokenRequest | ApiError:
        match = _kSecretId.search(headers.get("Authorization") or "")
        with self._lock:
            key = self._keys.get(match[1]) if match else None
            verifier = self._verifier
        if key is not None and key.expires_at is not None and now >= key.expires_at:
            return ApiError("AuthFailure.TokenFailure", "The temporary credential has expired.")
        return verifier.verify(headers, body, now)

    def public(self, now: float) -> list[dict]:
        with self._lock:
            return [key.public(now) for key in self._keys.values()]

    def control(self, method: str, body: dict, now: float) -> dict:
        """GET: the accepted keys. POST {"add": [...], "remove": [secret_id, ...]}: both
        validated before anything changes; removing an unknown id is not an error."""
        if method == "POST":
            added = [parse_key(item) for item in body.get("add") or []]
            removed = body.get("remove") or []
            if not all(isinstance(r, str) for r in removed):
                raise ValueError("remove must be a list of secret ids")
            with self._lock:
                for secret_id in removed:
                    self._keys.pop(secret_id, None)
                for key in added:
                    self._keys[key.credential.secret_id] = key
                self._verifier = RequestVerifier({k: v.credential for k, v in self._keys.items()})
        return {"credentials": self.public(now)}
