"""TC3-HMAC-SHA256 request signing, written from spec/tencentcloud-cam.md section 2.

Used by the CAM emulator to verify requests and by tests to make them. Every
intermediate is returned so tests can compare against tests/vectors/tc3_signature.json.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from dataclasses import dataclass
from typing import Sequence

kAlgorithm = "TC3-HMAC-SHA256"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    """Spec §2 step 1: the UTC calendar date of the timestamp, never local time."""
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Tc3Signature:
    date: str
    hashed_payload: str
    canonical_headers: str
    signed_headers: str
    canonical_request: str
    hashed_canonical_request: str
    credential_scope: str
    string_to_sign: str
    secret_date: bytes
    secret_service: bytes
    secret_signing: bytes
    signature: str
    authorization: str


def canonical_headers(headers: Sequence[tuple[str, str]], lowercase_values: bool) -> tuple[str, str]:
    """(canonical header block, signed header list) for (name, value) pairs.

    Spec §2 step 4: names are lower-cased and sorted. The SDKs put values in as sent;
    the API documentation lower-cases and trims them. Both give the same bytes for the
    usual `content-type;host` with a lower-case host, and the emulator accepts either.
    """
    pairs = sorted((name.strip().lower(), value.strip().lower() if lowercase_values else value)
                   for name, value in headers)
    block = "".join(f"{name}:{value}\n" for name, value in pairs)
    return block, ";".join(name for name, _ in pairs)


def sign(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    body: bytes,
    headers: Sequence[tuple[str, str]],
    lowercase_values: bool = True,
    date: str | None = None,
    method: str = "POST",
) -> Tc3Signature:
    """Signs one request. `headers` are the signed headers (at least content-type and
    host) with their values as sent. `date` overrides the credential-scope date (only
    tests that want a wrong date use it)."""
    date = date or utc_date(timestamp)
    hashed_payload = sha256_hex(body)
    block, signed = canonical_headers(headers, lowercase_values)
    # Spec §2 step 3: method, path "/", empty query, headers, signed list, payload hash.
    canonical_request = f"{method}\n/\n\n{block}\n{signed}\n{hashed_payload}"
    hashed_canonical_request = sha256_hex(canonical_request.encode("utf-8"))
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = f"{kAlgorithm}\n{timestamp}\n{scope}\n{hashed_canonical_request}"
    # Spec §2 step 6: each key is the previous raw 32-byte output.
    secret_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    secret_service = _hmac(secret_date, service)
    secret_signing = _hmac(secret_service, "tc3_request")
    signature = hmac.new(secret_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = (f"{kAlgorithm} Credential={secret_id}/{scope}, "
                     f"SignedHeaders={signed}, Signature={signature}")
    return Tc3Signature(
        date=date, hashed_payload=hashed_payload, canonical_headers=block,
        signed_headers=signed, canonical_request=canonical_request,
        hashed_canonical_request=hashed_canonical_request, credential_scope=scope,
        string_to_sign=string_to_sign, secret_date=secret_date,
        secret_service=secret_service, secret_signing=secret_signing,
        signature=signature, authorization=authorization,
    )
