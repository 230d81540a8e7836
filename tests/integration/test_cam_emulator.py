"""The CAM emulator behaves like BuildDataFlowAuthToken (spec/tencentcloud-cam.md §1-6).

The signer is checked against tests/vectors/tc3_signature.json, and the token decoder
below (written here from spec §4.3, independently of tests/tools/cam_token.py) against
tests/vectors/auth_token.json; both are then used to check what the emulator serves.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import socket
import string
import subprocess
import time
import uuid
from pathlib import Path

import pymysql
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import cam_token
import tc3
from cam_client import call_build_token, kEmulatorScript, kPython
from cam_emulator import CamEmulator
from cam_accounts import AccountSpec
from cam_verify import Credential, RequestVerifier, TokenRequest
from testutil import http_json, wait_until

kVectors = Path(__file__).resolve().parents[1] / "vectors"
kTc3 = json.loads((kVectors / "tc3_signature.json").read_text())["cases"]
kTokens = json.loads((kVectors / "auth_token.json").read_text())
_kSeenSecrets: set[str] = set()  # passwords and tokens served during this module


# --------------------------------------------------------------------------------------
# A token decoder written from spec §4.3 (check order = the vectors' failure reasons).

class DecodeError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


kFields = {1: ("appId", "uint64"), 2: ("uin", "uint64"), 3: ("ownerUin", "uint64"),
           4: ("reqId", "string"), 5: ("instanceId", "string"), 6: ("region", "string"),
           7: ("username", "string"), 8: ("password", "string"), 9: ("createTime", "uint64"),
           10: ("extraInfo", "string"), 11: ("tokenType", "uint32"), 12: ("randNum", "uint32")}
kWireType = {"uint64": 0, "uint32": 0, "string": 2}


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(10):
        if pos >= len(data):
            raise DecodeError("protobuf")  # truncated varint
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, pos
    raise DecodeError("protobuf")  # longer than 10 bytes


def parse_auth_token_info(data: bytes) -> dict:
    # proto3: an absent field has its default value.
    fields: dict = {name: "" if kind == "string" else 0 for name, kind in kFields.values()}
    pos = 0
    while pos < len(data):
        tag, pos = _read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise DecodeError("protobuf")
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise DecodeError("protobuf")
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise DecodeError("protobuf")  # length runs past the end
            value, pos = data[pos:pos + size], pos + size
        else:
            raise DecodeError("protobuf")
        known = kFields.get(number)
        if known is None or kWireType[known[1]] != wire:
            continue  # unknown field, or a known one with another wire type: skipped
        name, kind = known
        if kind == "string":
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError("protobuf") from None
        elif kind == "uint32":
            value &= 0xFFFFFFFF
        fields[name] = value  # repeated: last wins
    return fields


def decode_token(instance_id: str, region: str, user: str, token: str) -> dict:
    if not (instance_id and region and user and token):
        raise DecodeError("empty_input")
    if len(token) < 64:
        raise DecodeError("too_short")
    prefix, encoded = token[:64], token[64:]
    stripped = encoded.rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9+/_-]*", stripped) or len(stripped) % 4 == 1:
        raise DecodeError("base64")
    standard = stripped.replace("-", "+").replace("_", "/")
    ciphertext = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    if not ciphertext or len(ciphertext) % 16:
        raise DecodeError("block_size")
    seed = hashlib.sha256(f"{instance_id}_{region}_{user}".encode()).hexdigest()
    decryptor = Cipher(algorithms.AES(seed[:32].encode()), modes.CBC(seed[33:49].encode())).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != bytes([pad]) * pad:
        raise DecodeError("padding")
    plaintext = padded[:-pad]
    if hashlib.sha256(plaintext).hexdigest() != prefix:
        raise DecodeError("hash_mismatch")
    if len(plaintext) < 4:
        raise DecodeError("plaintext_too_short")
    fields = parse_auth_token_info(plaintext[4:])
    if not fields.get("password"):
        raise DecodeError("empty_password")
    return fields


# --------------------------------------------------------------------------------------
# Vectors: signer, decoder, encoder, verifier.

@pytest.mark.parametrize("case", kTc3, ids=[c["name"] for c in kTc3])
def test_tc3_signer_matches_vector(case):
    inputs, expected = case["inputs"], case["expected"]
    headers = [("Content-Type", inputs["content_type"]), ("Host", inputs["host"]),
               *[tuple(h) for h in inputs["extra_signed_headers"]]]
    sig = tc3.sign(secret_id=inputs["secret_id"], secret_key=inputs["secret_key"],
                   service=inputs["service"], timestamp=inputs["timestamp"],
                   body=bytes.fromhex(inputs["body_hex"]), headers=headers)
    got = {"date": sig.date, "hashed_payload": sig.hashed_payload,
           "canonical_headers": sig.canonical_headers, "signed_headers": sig.signed_headers,
           "canonical_request": sig.canonical_request,
           "hashed_canonical_request": sig.hashed_canonical_request,
           "credential_scope": sig.credential_scope, "string_to_sign": sig.string_to_sign,
           "secret_date_hex": sig.secret_date.hex(), "secret_service_hex": sig.secret_service.hex(),
           "secret_signing_hex": sig.secret_signing.hex(), "signature": sig.signature,
           "authorization": sig.authorization}
    assert got == expected


kCamCases = [c for c in kTc3 if c["inputs"]["action"] == "BuildDataFlowAuthToken"]


@pytest.mark.parametrize("case", kCamCases, ids=[c["name"] for c in kCamCases])
def test_verifier_accepts_vector_requests(case):
    inputs = case["inputs"]
    credential = Credential(inputs["secret_id"], inputs["secret_key"], inputs["session_token"])
    headers = _HeaderMap(case["http_headers_to_send"])
    body = bytes.fromhex(inputs["body_hex"])
    result = RequestVerifier({credential.secret_id: credential}).verify(headers, body, inputs["timestamp"] + 10)
    document = json.loads(body)
    assert result == TokenRequest(credential.secret_id, document["ResourceId"], document["ResourceRegion"],
                                  document["ResourceAccount"])
    tampered = body.replace(b"Resource", b"resource", 1)
    assert RequestVerifier({credential.secret_id: credential}).verify(
        headers, tampered, inputs["timestamp"]).code == "AuthFailure.SignatureFailure"


class _HeaderMap:
    def __init__(self, pairs):
        self._pairs = [(k.lower(), v) for k, v in pairs]

    def get(self, name, default=None):
        return next((v for k, v in self._pairs if k == name.lower()), default)


@pytest.mark.parametrize("case", kTokens["positive"], ids=[c["name"] for c in kTokens["positive"]])
def test_decoder_accepts_positive_vector(case):
    i = case["inputs"]
    fields = decode_token(i["instance_id"], i["region"], i["user_name"], i["token"])
    assert fields["password"] == case["expected"]["password"]
    assert fields == case["expected"]["fields"]


@pytest.mark.parametrize("case", kTokens["negative"], ids=[c["name"] for c in kTokens["negative"]])
def test_decoder_rejects_negative_vector(case):
    i = case["inputs"]
    with pytest.raises(DecodeError) as err:
        decode_token(i["instance_id"], i["region"], i["user_name"], i["token"])
    assert err.value.reason == case["expected"]["reason"]


def test_encoder_reproduces_vector_tokens():
    full = next(c for c in kTokens["positive"] if c["name"] == "all_fields_doc_example_account")
    f = full["expected"]["fields"]
    info = cam_token.AuthTokenInfo(f["appId"], f["uin"], f["ownerUin"], f["reqId"], f["instanceId"],
                                   f["region"], f["username"], f["password"], f["createTime"],
                                   f["extraInfo"], f["tokenType"], f["randNum"])
    assert cam_token.make_token(info) == full["inputs"]["token"]
    sealed = [c for c in kTokens["positive"] if c["intermediate"]["ciphertext_encoding"] == "b64url_nopad"]
    assert len(sealed) >= 5
    for case in sealed:
        i = case["inputs"]
        plaintext = bytes.fromhex(case["intermediate"]["plaintext_hex"])
        assert cam_token.seal(i["instance_id"], i["region"], i["user_name"], plaintext) == i["token"], case["name"]


def test_cli_help():
    out = subprocess.run([kPython, kEmulatorScript, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    for flag in ("--port-file", "--credential", "--account", "--disabled-account", "--mysql-host",
                 "--rotation-seconds"):
        assert flag in out.stdout


# --------------------------------------------------------------------------------------
# The emulator as the proxy sees it.

def fetch(cam, account="camtest", credential=None, **knobs):
    return call_build_token(cam.endpoint, credential or cam.credential, cam.instance_id, cam.region,
                            account, **knobs)


def fetch_password(cam, account="camtest", credential=None) -> tuple[str, dict]:
    resp = fetch(cam, account, credential)
    doc = resp.json()
    assert "Credentials" in doc["Response"], doc
    token = doc["Response"]["Credentials"]["Token"]
    fields = decode_token(cam.instance_id, cam.region, account, token)
    _kSeenSecrets.update({token, fields["password"]})
    return fields["password"], doc


def login(mariadb, user, password, **kwargs):
    return pymysql.connect(host="127.0.0.1", port=mariadb.port, user=user, password=password,
                           connect_timeout=5, **kwargs)


def assert_access_denied(mariadb, user, password, **kwargs):
    with pytest.raises(pymysql.err.OperationalError) as err:
        login(mariadb, user, password, **kwargs).close()
    assert err.value.args[0] == 1045


def assert_api_error(resp, code):
    assert resp.status == 200
    assert resp.content_type == "application/json"
    doc = resp.json()["Response"]
    assert doc["Error"]["Code"] == code, doc
    assert doc["Error"]["Message"]
    assert "Credentials" not in doc
    assert uuid.UUID(doc["RequestId"]).version == 4


def test_health(cam):
    health = cam.control.health()
    assert health["status"] == "ok" and health["port"] == cam.port
    assert f"{cam.instance_id}:{cam.region}:camtest" in health["accounts"]


def test_token_response_and_password_log_in(cam, mariadb):
    before_ms = int(time.time() * 1000)
    password, doc = fetch_password(cam)
    response = doc["Response"]
    creds = response["Credentials"]
    assert set(creds) == {"Token", "CurrentTime", "NextRotationTime", "LastRotationTimeCost",
                          "RotationStatus", "RotationMessage"}
    assert uuid.UUID(response["RequestId"]).version == 4
    assert before_ms - 1000 <= creds["CurrentTime"] <= int(time.time() * 1000) + 1000
    assert 0 < creds["NextRotationTime"] - creds["CurrentTime"] <= 3600 * 1000
    assert creds["LastRotationTimeCost"] >= 0
    assert (creds["RotationStatus"], creds["RotationMessage"]) == ("success", "success")
    fields = decode_token(cam.instance_id, cam.region, "camtest", creds["Token"])
    assert (fields["instanceId"], fields["region"], fields["username"]) == (cam.instance_id, cam.region, "camtest")
    assert fields["reqId"] == response["RequestId"]
    assert set(fields) == {f for f, _ in kFields.values()}
    assert 20 <= len(password) <= 40
    assert all(c in string.printable and not c.isspace() for c in password)
    assert any(c in string.punctuation for c in password)
    with login(mariadb, "camtest", password) as conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        assert cur.fetchone()[0] == "camtest@%"


def test_camtls_password_needs_tls(cam, mariadb):
    password, _ = fetch_password(cam, "camtls")
    assert_access_denied(mariadb, "camtls", password)
    with login(mariadb, "camtls", password, ssl={"ca": mariadb.ca_file}) as conn, conn.cursor() as cur:
        cur.execute("SHOW STATUS LIKE 'Ssl_version'")
        assert cur.fetchone()[1].startswith("TLS")


def test_temporary_credential_needs_its_session_token(cam):
    temp = cam.temp_credential
    fetch_password(cam, credential=temp)
    assert_api_error(fetch(cam, credential=temp, headers_after_signing={"X-TC-Token": None}),
                     "AuthFailure.TokenFailure")
    assert_api_error(fetch(cam, credential=temp, headers_after_signing={"X-TC-Token": "stale"}),
                     "AuthFailure.TokenFailure")
    assert_api_error(fetch(cam, headers_after_signing={"X-TC-Token": "unexpected"}),
                     "AuthFailure.TokenFailure")


def _utc_tomorrow() -> str:
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime("%Y-%m-%d")


kRequestErrors = [
    ("no_authorization", dict(headers_after_signing={"Authorization": None}), "AuthFailure.InvalidAuthorization"),
    ("malformed_authorization", dict(headers_after_signing={"Authorization": "TC3-HMAC-SHA256 Credential=x"}),
     "AuthFailure.InvalidAuthorization"),
    ("scope_date_not_utc_date", dict(scope_date=_utc_tomorrow()), "AuthFailure.InvalidAuthorization"),
    ("unknown_secret_id", dict(credential=Credential("AKIDnobodyKnowsThis", "k")), "AuthFailure.SecretIdNotFound"),
    ("wrong_secret_key", dict(sign_key="not-the-key"), "AuthFailure.SignatureFailure"),
    ("body_changed_after_signing", dict(body_after_signing=b'{"ResourceId":"cdb-other","ResourceRegion":'
                                        b'"ap-guangzhou","ResourceAccount":"camtest"}'), "AuthFailure.SignatureFailure"),
    ("host_changed_after_signing", dict(headers_after_signing={"Host": "cam.tencentcloudapi.com"}),
     "AuthFailure.SignatureFailure"),
    ("timestamp_330s_old", dict(timestamp_delta=-330), "AuthFailure.SignatureExpire"),
    ("timestamp_330s_ahead", dict(timestamp_delta=330), "AuthFailure.SignatureExpire"),
    ("wrong_action", dict(headers_after_signing={"X-TC-Action": "DescribeInstances"}), "InvalidAction"),
    ("wrong_version", dict(headers_after_signing={"X-TC-Version": "2017-03-12"}), "NoSuchVersion"),
    ("no_region", dict(headers_after_signing={"X-TC-Region": None}), "MissingParameter"),
    ("body_not_json", dict(body=b"ResourceId=cdb"), "InvalidParameter"),
    ("body_without_account", dict(body=b'{"ResourceId":"cdb-camproxy1","ResourceRegion":"ap-guangzhou"}'),
     "MissingParameter"),
    ("body_unknown_field", dict(body=b'{"ResourceId":"cdb-camproxy1","ResourceRegion":"ap-guangzhou",'
                                     b'"ResourceAccount":"camtest","Extra":"1"}'), "UnknownParameter"),
    ("unknown_account", dict(account="nosuchuser"), "ResourceNotFound.DataFlowAuthClose"),
    ("account_case_differs", dict(account="CamTest"), "ResourceNotFound.DataFlowAuthClose"),
    ("disabled_account", dict(account="camoff"), "ResourceNotFound.DataFlowAuthClose"),
]


@pytest.mark.parametrize("knobs,code", [e[1:] for e in kRequestErrors], ids=[e[0] for e in kRequestErrors])
def test_request_error(cam, knobs, code):
    knobs = dict(knobs)
    if "timestamp_delta" in knobs:
        knobs["timestamp"] = int(time.time()) + knobs.pop("timestamp_delta")
    assert_api_error(fetch(cam, **knobs), code)


@pytest.mark.parametrize("knobs", [
    dict(content_type="application/json; charset=utf-8"),  # Java SDK
    dict(extra_signed={"X-TC-Action": "BuildDataFlowAuthToken"}),  # documentation style
    dict(body=b'{"ResourceId": "cdb-camproxy1", "ResourceRegion": "ap-guangzhou", "ResourceAccount": "camtest"}'),
    dict(chunked=True),
], ids=["java_content_type", "x_tc_action_signed", "python_style_body", "chunked_body"])
def test_sdk_request_variants_accepted(cam, knobs):
    doc = fetch(cam, **knobs).json()["Response"]
    assert "Credentials" in doc, doc
    if knobs.get("chunked"):
        assert cam.control.stats()["last_request"]["headers"]["Transfer-Encoding"] == "chunked"


def test_clock_offset_moves_the_expiry_window(cam):
    cam.control.set_clock_offset(400)
    assert_api_error(fetch(cam), "AuthFailure.SignatureExpire")
    ahead = int(time.time()) + 400
    creds = fetch(cam, timestamp=ahead).json()["Response"]["Credentials"]
    assert abs(creds["CurrentTime"] - ahead * 1000) < 5000


def test_rotate_refreshes_password(cam, mariadb):
    old_password, old_doc = fetch_password(cam)
    rotations = _account_state(cam, "camtest")["rotations"]
    with login(mariadb, "camtest", old_password) as session:
        result = cam.control.rotate("camtest")
        assert result["rotated"] == [f"{cam.instance_id}:{cam.region}:camtest"]
        new_password, new_doc = fetch_password(cam)
        assert new_password != old_password
        assert_access_denied(mariadb, "camtest", old_password)
        login(mariadb, "camtest", new_password).close()
        with session.cursor() as cur:  # sessions logged in before a rotation survive it
            cur.execute("SELECT 1")
    assert new_doc["Response"]["Credentials"]["NextRotationTime"] >= \
        old_doc["Response"]["Credentials"]["NextRotationTime"]
    assert _account_state(cam, "camtest")["rotations"] == rotations + 1


def _account_state(cam, user):
    return next(a for a in cam.control.stats()["accounts"] if a["account"].endswith(f":{user}"))


def test_disable_then_enable_takes_the_password_over(cam, mariadb):
    old_password, _ = fetch_password(cam)
    cam.control.disable("camtest")
    assert_api_error(fetch(cam), "ResourceNotFound.DataFlowAuthClose")
    cam.control.enable("camtest")
    new_password, _ = fetch_password(cam)
    assert new_password != old_password
    assert_access_denied(mariadb, "camtest", old_password)


def test_scheduled_rotation():
    with CamEmulator([Credential("AKIDsched", "k")], [AccountSpec("cdb-s", "ap-s", "u")],
                     rotation_seconds=0.5, log=lambda line: None) as emulator:
        def password():
            doc = call_build_token(emulator.endpoint, Credential("AKIDsched", "k"), "cdb-s", "ap-s", "u").json()
            creds = doc["Response"]["Credentials"]
            assert 0 < creds["NextRotationTime"] - creds["CurrentTime"] <= 500
            return decode_token("cdb-s", "ap-s", "u", creds["Token"])["password"]
        first = password()
        wait_until(lambda: password() != first, 10, "a scheduled rotation")


# --------------------------------------------------------------------------------------
# Faults and the control API.

def test_fault_error_code_for_count_requests(cam):
    cam.control.reset_stats()
    cam.control.fail("FailedOperation.BuildAuthToken", count=2)
    for _ in range(2):
        assert_api_error(fetch(cam), "FailedOperation.BuildAuthToken")
    fetch_password(cam)
    stats = cam.control.stats()
    assert stats["faults_injected"] == {"FailedOperation.BuildAuthToken": 2}
    assert stats["by_outcome"] == {"FailedOperation.BuildAuthToken": 2, "success": 1}
    assert stats["active_fault"] is None


def test_fault_until_cleared(cam):
    cam.control.fail("AuthFailure.UnauthorizedOperation")
    for _ in range(3):
        assert_api_error(fetch(cam), "AuthFailure.UnauthorizedOperation")
    cam.control.clear()
    fetch_password(cam)


def test_fault_http500(cam):
    cam.control.fail("http500", count=1)
    resp = fetch(cam)
    assert resp.status == 500 and resp.content_type == "text/html"


def test_fault_malformed_json(cam):
    cam.control.fail("malformed_json", count=1)
    resp = fetch(cam)
    assert resp.status == 200
    with pytest.raises(ValueError):
        resp.json()


def test_fault_garbage(cam):
    cam.control.fail("garbage", count=2)
    answers = [fetch(cam) for _ in range(2)]
    assert all(a.status == 200 and a.content_type == "application/json" and a.body for a in answers)
    for answer in answers:
        with pytest.raises(ValueError):
            answer.json()
    fetch_password(cam)


def test_fault_truncated_token(cam):
    cam.control.fail("truncated_token", count=1)
    token = fetch(cam).json()["Response"]["Credentials"]["Token"]
    with pytest.raises(DecodeError) as err:
        decode_token(cam.instance_id, cam.region, "camtest", token)
    assert err.value.reason in ("base64", "block_size", "padding")


def test_fault_reset(cam):
    cam.control.fail("reset", count=1)
    with pytest.raises(ConnectionError):
        fetch(cam)
    fetch_password(cam)


def test_fault_hang_until_cleared(cam):
    cam.control.reset_stats()
    cam.control.fail("hang")
    with pytest.raises((socket.timeout, TimeoutError)):
        fetch(cam, timeout=0.5)
    assert cam.control.stats()["in_flight"] == 1
    cam.control.clear()
    wait_until(lambda: cam.control.stats()["in_flight"] == 0, 5, "the hung request to be released")
    fetch_password(cam)


def test_fault_slow(cam):
    cam.control.fail("slow", count=1, delay_ms=400)
    started = time.monotonic()
    fetch_password(cam)
    assert time.monotonic() - started >= 0.4


def test_fault_unknown_mode_rejected(cam):
    status, answer = http_json("127.0.0.1", cam.port, "POST", "/_emulator/fail", {"mode": "no such mode"})
    assert status == 400 and "unknown fault mode" in answer["error"]


def test_stats_hide_secrets(cam):
    fetch_password(cam, credential=cam.temp_credential)
    stats = cam.control.stats()
    headers = stats["last_request"]["headers"]
    assert headers["X-TC-Token"] == "<redacted>"
    assert headers["Authorization"].endswith("Signature=<redacted>")
    assert stats["by_account"][f"{cam.instance_id}:{cam.region}:camtest"] >= 1
    _assert_no_secrets(json.dumps(stats), cam)


def _assert_no_secrets(text, cam):
    secrets = {cam.credential.secret_key, cam.temp_credential.secret_key,
               cam.temp_credential.session_token} | _kSeenSecrets
    assert _kSeenSecrets, "no secrets collected to look for"
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"{len(leaked)} secret value(s) found"


def test_log_one_line_per_request_without_secrets(cam):
    log = Path(cam.log_path)

    def request_lines():
        return log.read_text().count(" POST / action=")
    before = request_lines()
    for _ in range(3):
        fetch_password(cam)
    wait_until(lambda: request_lines() == before + 3, 5, "three new request log lines")
    _assert_no_secrets(log.read_text(), cam)
