"""The STS and CVM metadata emulators, and the CAM emulator's run-time keys
(spec/tencentcloud-cam.md §7.3, §7.4): what they answer, that the CAM emulator accepts
what they hand out until it expires, their faults and counters, and that their logs
never show a key, a session token or a web identity token.

These tests need no database: the CAM emulator runs without one (tokens are served,
passwords set nowhere).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cam_client import call_build_token
from cam_verify import Credential
from credential_emulators import (assume_role_with_web_identity, cam_child, kRolePath,
                                  metadata_child, metadata_get, sts_child)
from testutil import http_json, wait_until

kVectors = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "cam_responses.json").read_text())
kSourceVectors = {c["name"]: c for c in kVectors["related_credential_source_responses"]}
kInstance, kRegion, kAccount = "cdb-credtest", "ap-guangzhou", "camtest"
kPermanent = Credential("AKIDcredtestPERMANENT0000000000001", "credtestPermanentKey000001")
kProviderId = "tke-oidc-provider-test"
kRoleArn = "qcs::cam::uin/100000000001:roleName/camproxy-oidc"
kJwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpjYW1wcm94eSJ9.c2ln"


def vector_keys(name: str) -> set[str]:
    return set(json.loads(kSourceVectors[name]["body"]))


def build_token(local_cam, credential: Credential):
    return call_build_token(local_cam.endpoint, credential, kInstance, kRegion, kAccount).json()["Response"]


def error_code(response: dict):
    return response.get("Error", {}).get("Code")


@pytest.fixture(scope="module")
def local_cam(tmp_path_factory):
    """One CAM emulator for the module: every test adds keys of its own."""
    with cam_child(tmp_path_factory.mktemp("cam") / "cam.log", credentials=[f"{kPermanent.secret_id}:{kPermanent.secret_key}"],
                   accounts=[f"{kInstance}:{kRegion}:{kAccount}"]) as child:
        yield child


@pytest.fixture
def secrets_seen():
    """Secret strings handed out during a test; no emulator log may contain one."""
    return set()


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(kJwt + "\n")
    return path


@pytest.fixture
def sts(tmp_path, local_cam, token_file, secrets_seen):
    with sts_child(tmp_path / "sts.log", provider_id=kProviderId, role_arn=kRoleArn, token_file=str(token_file),
                   cam_endpoint=local_cam.endpoint) as child:
        yield child
        logs = child.log_text() + local_cam.log_text()
        for secret in secrets_seen | {kJwt}:
            assert secret not in logs


@pytest.fixture
def metadata(tmp_path, local_cam, secrets_seen):
    with metadata_child(tmp_path / "metadata.log", role="camproxy-role", cam_endpoint=local_cam.endpoint) as child:
        yield child
        logs = child.log_text() + local_cam.log_text()
        for secret in secrets_seen:
            assert secret not in logs


def assume(sts, **kwargs):
    kwargs.setdefault("token", kJwt)
    return assume_role_with_web_identity(sts.endpoint, provider_id=kProviderId, role_arn=kRoleArn, **kwargs)


def issued_credential(answer: dict, secrets_seen: set) -> Credential:
    creds = answer["Response"]["Credentials"]
    secrets_seen.update({creds["TmpSecretKey"], creds["Token"]})
    return Credential(creds["TmpSecretId"], creds["TmpSecretKey"], creds["Token"])


# -- the CAM emulator's run-time keys ---------------------------------------------------

def test_cam_accepts_keys_added_at_run_time_until_removed_or_expired(local_cam):
    temp = Credential("AKIDcredtestTEMP00000000000000001", "credtestTempKey01", "credtestSessionToken01")
    assert error_code(build_token(local_cam, temp)) == "AuthFailure.SecretIdNotFound"
    local_cam.control.post("credentials", {"add": [{"secret_id": temp.secret_id, "secret_key": temp.secret_key,
                                              "session_token": temp.session_token,
                                              "expires_at": time.time() + 60}]})
    assert "Credentials" in build_token(local_cam, temp)
    # The session token is checked like the API does (spec §1: X-TC-Token).
    wrong_token = Credential(temp.secret_id, temp.secret_key, "another-token")
    assert error_code(build_token(local_cam, wrong_token)) == "AuthFailure.TokenFailure"
    listed = local_cam.control.get("credentials")["credentials"]
    flags = {k["secret_id"]: k["temporary"] for k in listed}
    assert flags[kPermanent.secret_id] is False and flags[temp.secret_id] is True
    assert temp.secret_key not in json.dumps(listed) and temp.session_token not in json.dumps(listed)

    local_cam.control.post("credentials", {"add": [{"secret_id": temp.secret_id, "secret_key": temp.secret_key,
                                              "session_token": temp.session_token,
                                              "expires_at": time.time() - 1}]})
    assert error_code(build_token(local_cam, temp)) == "AuthFailure.TokenFailure"
    local_cam.control.post("credentials", {"remove": [temp.secret_id, "AKIDnever-added"]})
    assert error_code(build_token(local_cam, temp)) == "AuthFailure.SecretIdNotFound"
    assert "Credentials" in build_token(local_cam, kPermanent)


@pytest.mark.parametrize("body", [
    {"add": [{"secret_id": "AKIDx"}]},
    {"add": [{"secret_id": "AKIDx", "secret_key": "k", "session_token": ""}]},
    {"add": [{"secret_id": "AKIDx", "secret_key": "k", "expires_at": "soon"}]},
    {"add": ["AKIDx:k"]},
    {"remove": [1]},
])
def test_cam_key_control_refuses_malformed_changes(local_cam, body):
    before = local_cam.control.get("credentials")["credentials"]
    status, answer = http_json("127.0.0.1", local_cam.port, "POST", "/_emulator/credentials", body)
    assert status == 400, answer
    assert local_cam.control.get("credentials")["credentials"] == before


# -- STS --------------------------------------------------------------------------------

def test_sts_issues_temporary_credentials_that_cam_accepts(sts, local_cam, secrets_seen):
    before = int(time.time())
    status, answer = assume(sts)
    assert status == 200
    response = answer["Response"]
    assert set(response) == set(json.loads(kSourceVectors["sts_assume_role_with_web_identity_success"]["body"])
                                ["Response"])
    assert set(response["Credentials"]) == {"Token", "TmpSecretId", "TmpSecretKey"}
    assert before + 7200 <= response["ExpiredTime"] <= int(time.time()) + 7200
    assert response["Expiration"].endswith("Z")
    credential = issued_credential(answer, secrets_seen)
    assert "Credentials" in build_token(local_cam, credential)

    stats = sts.control.get("stats")
    assert stats["calls_total"] == 1 and stats["by_outcome"] == {"success": 1}
    assert [i["secret_id"] for i in stats["issued"]] == [credential.secret_id]
    assert stats["last_request"]["authorization"] == "SKIP"


def test_sts_checks_the_token_file_content_at_each_call(sts, token_file, secrets_seen):
    status, answer = assume(sts, token="eyJ.forged.token")
    assert status == 200 and error_code(answer["Response"]) == "InvalidParameter.WebIdentityTokenError"
    token_file.write_text("rotated.by.kubelet")
    assert error_code(assume(sts)[1]["Response"]) == "InvalidParameter.WebIdentityTokenError"
    status, answer = assume(sts, token="rotated.by.kubelet")
    issued_credential(answer, secrets_seen)
    assert sts.control.get("stats")["by_outcome"] == {"InvalidParameter.WebIdentityTokenError": 2, "success": 1}
    assert len(sts.control.get("stats")["issued"]) == 1


@pytest.mark.parametrize("change,code", [
    ({"headers": {"Authorization": "TC3-HMAC-SHA256 Credential=AKIDx/2024-01-01/sts/tc3_request, "
                                   "SignedHeaders=content-type;host, Signature=" + "0" * 64}},
     "AuthFailure.InvalidAuthorization"),
    ({"headers": {"X-TC-Token": "a-session-token"}}, "AuthFailure.TokenFailure"),
    ({"headers": {"X-TC-Action": "AssumeRole"}}, "InvalidAction"),
    ({"headers": {"X-TC-Version": "2019-01-16"}}, "NoSuchVersion"),
    ({"headers": {"X-TC-Region": None}}, "MissingParameter"),
    ({"duration_seconds": 43201}, "InvalidParameterValue"),
    ({"body": b'{"ProviderId":"p"}'}, "MissingParameter"),
    ({"body": b"not json"}, "InvalidParameter"),
])
def test_sts_refuses_requests_that_are_not_the_sdk_call(sts, change, code):
    status, answer = assume(sts, **change)
    assert status == 200 and error_code(answer["Response"]) == code
    assert sts.control.get("stats")["issued"] == []


def test_sts_refuses_another_role_or_provider(sts):
    status, answer = assume_role_with_web_identity(sts.endpoint, provider_id=kProviderId, token=kJwt,
                                                   role_arn="qcs::cam::uin/1:roleName/other")
    assert error_code(answer["Response"]) == "InvalidParameter.RoleArnError"
    status, answer = assume_role_with_web_identity(sts.endpoint, provider_id="other", token=kJwt, role_arn=kRoleArn)
    assert error_code(answer["Response"]) == "InvalidParameter.ProviderIdError"


def test_sts_credential_that_expires_during_the_test(sts, local_cam, secrets_seen):
    sts.control.post("config", {"lifetime_seconds": 2})
    status, answer = assume(sts)
    assert answer["Response"]["ExpiredTime"] <= time.time() + 2
    credential = issued_credential(answer, secrets_seen)
    assert "Credentials" in build_token(local_cam, credential)
    wait_until(lambda: error_code(build_token(local_cam, credential)) == "AuthFailure.TokenFailure", 10,
               "the STS credential to expire at the CAM emulator")
    # A fresh exchange gives a working credential again.
    sts.control.post("config", {"lifetime_seconds": None})
    fresh = issued_credential(assume(sts)[1], secrets_seen)
    assert fresh.secret_id != credential.secret_id
    assert "Credentials" in build_token(local_cam, fresh)


def test_sts_faults_and_counters(sts, secrets_seen):
    sts.control.post("fail", {"mode": "http500", "count": 1})
    assert assume(sts)[0] == 500
    sts.control.post("fail", {"mode": "RequestLimitExceeded", "count": 1})
    assert error_code(assume(sts)[1]["Response"]) == "RequestLimitExceeded"
    sts.control.post("fail", {"mode": "hang", "count": 1, "delay_ms": 5000})
    with pytest.raises(OSError):  # socket.timeout is an OSError
        assume(sts, timeout=0.5)
    sts.control.post("clear")
    issued_credential(assume(sts)[1], secrets_seen)
    stats = sts.control.get("stats")
    assert stats["calls_total"] == 4
    assert stats["by_outcome"] == {"http500": 1, "RequestLimitExceeded": 1, "hang": 1, "success": 1}
    with pytest.raises(AssertionError):
        sts.control.post("fail", {"mode": "malformed_json"})  # not an STS fault
    sts.control.post("reset_stats")
    assert sts.control.get("stats")["calls_total"] == 0


# -- CVM metadata -----------------------------------------------------------------------

def metadata_credential(metadata, role: str, secrets_seen: set) -> tuple[Credential, dict]:
    status, raw = metadata_get(metadata.endpoint, kRolePath + role)
    assert status == 200, raw
    document = json.loads(raw)
    secrets_seen.update({document["TmpSecretKey"], document["Token"]})
    return Credential(document["TmpSecretId"], document["TmpSecretKey"], document["Token"]), document


def test_metadata_serves_the_role_and_its_credentials(metadata, local_cam, secrets_seen):
    assert metadata_get(metadata.endpoint, kRolePath) == (200, b"camproxy-role")
    credential, document = metadata_credential(metadata, "camproxy-role", secrets_seen)
    assert set(document) == vector_keys("cvm_metadata_credentials")
    assert document["Code"] == "Success"
    assert time.time() + 21600 - 60 <= document["ExpiredTime"] <= time.time() + 21600
    assert "Credentials" in build_token(local_cam, credential)
    # The same credential until half of its lifetime has passed.
    again, _ = metadata_credential(metadata, "camproxy-role", secrets_seen)
    assert again == credential
    assert metadata_get(metadata.endpoint, kRolePath + "another-role")[0] == 404
    stats = metadata.control.get("stats")
    assert stats["calls"] == {"role": 1, "credentials": 3}
    assert len(stats["issued"]) == 1


def test_metadata_without_a_role_answers_404(metadata):
    metadata.control.post("config", {"role": None})
    assert metadata_get(metadata.endpoint, kRolePath)[0] == 404
    assert metadata_get(metadata.endpoint, kRolePath + "camproxy-role")[0] == 404


def test_metadata_renews_credentials_and_cam_follows(metadata, local_cam, secrets_seen):
    metadata.control.post("config", {"lifetime_seconds": 4})
    metadata.control.post("rotate")
    first, document = metadata_credential(metadata, "camproxy-role", secrets_seen)
    assert document["ExpiredTime"] <= time.time() + 4

    def renewed_credential():
        credential, _ = metadata_credential(metadata, "camproxy-role", secrets_seen)
        return credential if credential != first else None

    renewed = wait_until(renewed_credential, 10, "a renewed credential after half its lifetime")
    assert "Credentials" in build_token(local_cam, renewed)
    wait_until(lambda: error_code(build_token(local_cam, first)) == "AuthFailure.TokenFailure", 10,
               "the first credential to expire at the CAM emulator")
    # Revoking on rotation: the old key is gone at once.
    metadata.control.post("config", {"lifetime_seconds": 3600})
    current, _ = metadata_credential(metadata, "camproxy-role", secrets_seen)
    metadata.control.post("rotate", {"revoke_old": True})
    assert error_code(build_token(local_cam, current)) == "AuthFailure.SecretIdNotFound"
    newest, _ = metadata_credential(metadata, "camproxy-role", secrets_seen)
    assert "Credentials" in build_token(local_cam, newest)


def test_metadata_faults(metadata):
    metadata.control.post("fail", {"mode": "http500", "count": 1})
    assert metadata_get(metadata.endpoint, kRolePath)[0] == 500
    metadata.control.post("fail", {"mode": "Failed", "count": 1})
    status, raw = metadata_get(metadata.endpoint, kRolePath + "camproxy-role")
    assert status == 200 and json.loads(raw)["Code"] == "Failed"
    assert set(json.loads(raw)) == vector_keys("cvm_metadata_credentials_not_success")
    metadata.control.post("fail", {"mode": "hang", "count": 1, "delay_ms": 5000})
    with pytest.raises(OSError):
        metadata_get(metadata.endpoint, kRolePath, timeout=0.5)
    metadata.control.post("clear")
    assert metadata_get(metadata.endpoint, kRolePath)[0] == 200
    with pytest.raises(AssertionError):
        metadata.control.post("config", {"role": "../etc"})
