"""Checks a BuildDataFlowAuthToken request the way the CAM API does (spec
tencentcloud-cam.md §1-2, §6.2) and names the API error for the first thing wrong.

Order of checks: action, version, Authorization format, SecretId, session token,
timestamp (missing, malformed, more than 300 s off), credential-scope date, signature,
region, body. The signature is recomputed over the signed headers as the request
carries them and the body bytes as received; values are accepted as sent (what the
SDKs sign) or lower-cased and trimmed (what the API documentation describes).
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Protocol

import tc3

kAction = "BuildDataFlowAuthToken"
kVersion = "2019-01-16"
kService = "cam"
kMaxSkewSeconds = 300
kBodyFields = ("ResourceId", "ResourceRegion", "ResourceAccount")

_kAuthorization = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/\s,]+)/(?P<date>[^/\s,]+)/"
    r"(?P<service>[^/\s,]+)/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;.\-_]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})")
_kDate = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Credential:
    secret_id: str
    secret_key: str
    session_token: Optional[str] = None


@dataclass(frozen=True)
class ApiError:
    code: str
    message: str


@dataclass(frozen=True)
class TokenRequest:
    secret_id: str
    instance_id: str
    region: str
    account: str


class Headers(Protocol):
    def get(self, name: str, default: Optional[str] = None) -> Optional[str]: ...


def _invalid_authorization(detail: str) -> ApiError:
    return ApiError("AuthFailure.InvalidAuthorization",
                    f"The request `Authorization` header does not conform to tencentcloud standards: {detail}")


class RequestVerifier:
    def __init__(self, credentials: Mapping[str, Credential]):
        self._credentials = dict(credentials)

    def verify(self, headers: Headers, body: bytes, now: float) -> TokenRequest | ApiError:
        action = headers.get("X-TC-Action")
        if not action:
            return ApiError("MissingParameter", "The request is missing a required parameter `Action`.")
        if action != kAction:
            return ApiError("InvalidAction", f"The requested action `{action}` does not exist.")
        version = headers.get("X-TC-Version")
        if version != kVersion:
            return ApiError("NoSuchVersion", f"The requested version `{version}` of `{action}` does not exist.")

        match = _kAuthorization.fullmatch(headers.get("Authorization") or "")
        if match is None:
            return _invalid_authorization("expected `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, "
                                          "SignedHeaders=..., Signature=...`.")
        if not _kDate.fullmatch(match["date"]):
            return _invalid_authorization("`Date` in Credential not valid format.")
        if match["service"] != kService:
            return _invalid_authorization(f"service `{match['service']}` in Credential is not `{kService}`.")
        signed_names = match["signed"].split(";")
        if "content-type" not in signed_names or "host" not in signed_names:
            return _invalid_authorization("SignedHeaders must include content-type and host.")
        signed_values = [(name, headers.get(name)) for name in signed_names]
        missing = [name for name, value in signed_values if value is None]
        if missing:
            return _invalid_authorization(f"signed header `{missing[0]}` is not in the request.")

        credential = self._credentials.get(match["secret_id"])
        if credential is None:
            return ApiError("AuthFailure.SecretIdNotFound",
                            "The SecretId is not found, please ensure that your SecretId is correct.")
        token_error = _check_session_token(credential, headers.get("X-TC-Token"))
        if token_error:
            return token_error

        timestamp_text = headers.get("X-TC-Timestamp")
        if not timestamp_text:
            return ApiError("MissingParameter", "The request is missing a required parameter `Timestamp`.")
        if not timestamp_text.isdigit() or len(timestamp_text) > 12:
            return ApiError("InvalidParameterValue", "The parameter `Timestamp` is not a Unix time in seconds.")
        timestamp = int(timestamp_text)
        if abs(now - timestamp) > kMaxSkewSeconds:
            return ApiError("AuthFailure.SignatureExpire",
                            "Signature expired. Timestamp and server time cannot differ by more than five minutes.")
        if match["date"] != tc3.utc_date(timestamp):
            return _invalid_authorization(f"`Date` in Credential ({match['date']}) is not the UTC date of "
                                          f"X-TC-Timestamp ({tc3.utc_date(timestamp)}).")

        if not _signature_matches(credential, match, timestamp, body, signed_values):
            return ApiError("AuthFailure.SignatureFailure",
                            "The provided credentials could not be validated. Please check your signature is correct.")

        if not headers.get("X-TC-Region"):
            return ApiError("MissingParameter", "The request is missing a required parameter `Region`.")
        parsed = _parse_body(body)
        if isinstance(parsed, ApiError):
            return parsed
        return TokenRequest(credential.secret_id, *parsed)


def _check_session_token(credential: Credential, sent: Optional[str]) -> Optional[ApiError]:
    # Spec §1: X-TC-Token is sent only with temporary credentials.
    if credential.session_token is None:
        if sent is not None:
            return ApiError("AuthFailure.TokenFailure", "X-TC-Token was sent with a permanent SecretId.")
        return None
    if sent is None or not hmac.compare_digest(sent.encode(), credential.session_token.encode()):
        return ApiError("AuthFailure.TokenFailure", "Token failure: the security token is expired or invalid.")
    return None


def _signature_matches(credential: Credential, match: re.Match, timestamp: int, body: bytes,
                       signed_values: list[tuple[str, Optional[str]]]) -> bool:
    pairs = [(name, value or "") for name, value in signed_values]
    for lowercase_values in (False, True):
        expected = tc3.sign(secret_id=credential.secret_id, secret_key=credential.secret_key,
                            service=kService, timestamp=timestamp, body=body, headers=pairs,
                            lowercase_values=lowercase_values, date=match["date"])
        # The client's signed-header list must be the sorted one the signer builds.
        if expected.signed_headers == match["signed"] and hmac.compare_digest(
                expected.signature, match["signature"]):
            return True
    return False


def _parse_body(body: bytes) -> tuple[str, str, str] | ApiError:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ApiError("InvalidParameter", "The request body is not valid JSON.")
    if not isinstance(document, dict):
        return ApiError("InvalidParameter", "The request body must be a JSON object.")
    unknown = sorted(set(document) - set(kBodyFields))
    if unknown:
        return ApiError("UnknownParameter", f"The parameter `{unknown[0]}` is not recognized.")
    values = []
    for field in kBodyFields:
        if field not in document:
            return ApiError("MissingParameter", f"The request is missing a required parameter `{field}`.")
        value = document[field]
        if not isinstance(value, str) or not value:
            return ApiError("InvalidParameter.ParamError", f"The parameter `{field}` must be a non-empty string.")
        values.append(value)
    return values[0], values[1], values[2]
