"""GET /debug/targets and /debug/tokens on the admin endpoint (docs/operations.md
"Introspection"): what they show, and that they never show a token, a password or a key."""

from __future__ import annotations

import json

from test_cam_emulator import fetch, fetch_password
from testutil import http_request, wait_until


def debug(proxy, path: str) -> tuple[bytes, dict]:
    status, body = proxy.admin_get(path)
    assert status == 200, (path, body)
    return body, json.loads(body)


def test_debug_targets_lists_the_running_target(camproxy, cam):
    proxy = camproxy("--workers", "2")
    _, doc = debug(proxy, "/debug/targets")
    (target,) = doc["targets"]
    assert target == {
        "name": "default", "listen": [f"127.0.0.1:{proxy.port}"], "upstream": target["upstream"],
        "instance_id": cam.instance_id, "region": cam.region,
        "accounts": {"mode": "db-user", "account": "camtest"}, "workers": 2, "open_sessions": 0}
    assert target["upstream"].startswith("127.0.0.1:")


def test_debug_tokens_shows_the_token_state_never_a_secret(camproxy, cam):
    # First CAM fails: the error code shows, no token yet.
    cam.control.fail("InternalError")
    proxy = camproxy(wait_ready=False)

    def first_token() -> dict:
        (token,) = debug(proxy, "/debug/tokens")[1]["tokens"]
        return token

    wait_until(lambda: first_token()["last_cam_outcome"] == "InternalError", 30, "the CAM error in /debug/tokens")
    assert first_token()["fetched_at"] is None and first_token()["next_rotation"] is None
    cam.control.clear()
    wait_until(lambda: first_token()["fetched_at"] is not None, 30, "a token in /debug/tokens")
    token = first_token()
    assert token["target"] == "default" and token["account"] == "camtest"
    assert token["fallback_in_use"] is False and token["last_cam_outcome"] == "ok"
    assert token["fetch_ok"] >= 1 and token["fetch_retryable"] >= 1 and 0 <= token["age_seconds"] < 60
    assert token["next_rotation_in_seconds"] > 0 and token["next_rotation"].endswith("Z")

    # Never a token, a password or a key, in either answer.
    password, _ = fetch_password(cam)
    token_text = fetch(cam).json()["Response"]["Credentials"]["Token"]
    secrets = {"secret key": cam.credential.secret_key, "database password": password, "token": token_text,
               "token prefix": token_text[:24]}
    for path in ("/debug/tokens", "/debug/targets"):
        answer = proxy.admin_get(path)[1].decode()
        for what, secret in secrets.items():
            assert secret not in answer, f"{path} shows the {what}"


def test_debug_pages_are_not_on_the_read_only_listener(camproxy):
    from testutil import free_port
    port = free_port()
    camproxy("--http-address", f"127.0.0.1:{port}")
    for path in ("/debug/tokens", "/debug/targets"):
        assert http_request("127.0.0.1", port, "GET", path)[0] == 404
