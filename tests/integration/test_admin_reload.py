"""POST /reload on the admin endpoint: what SIGHUP does, answering with the outcome (docs/config.md
"Reload"): applied with the reload log line's fields, rejected with the reason and nothing
changed, refused on the read-only listener."""

from __future__ import annotations

import json

import pytest

from test_config import ConfigProxies, current_user, refused
from testutil import free_port, http_request


@pytest.fixture
def proxies(mariadb, cam, tmp_path):
    factory = ConfigProxies(mariadb, cam, tmp_path)
    yield factory
    factory.stop_all()


def post_reload(proxy) -> tuple[int, dict]:
    status, body = proxy.admin_post("/reload", timeout=15)
    assert body.endswith(b"\n") and body.count(b"\n") == 1, body
    return status, json.loads(body)


def test_post_reload_applies_the_file_and_says_what_changed(proxies):
    a, b = free_port(), free_port()
    proxy = proxies.start(proxies.document(proxies.target("a", a, "    account: camtest\n")))
    assert refused(b)
    proxies.write(proxies.document(proxies.target("a", a, "    account: camtest\n"),
                                   proxies.target("b", b, "    account: camtls\n"), workers=2))
    status, outcome = post_reload(proxy)
    assert status == 200, outcome
    assert outcome == {"outcome": "applied", "added": "b", "removed": "", "replaced": "", "updated": "",
                       "credentials": "unchanged", "needs_restart": "workers"}
    assert current_user(b) == "camtls@%"
    assert '"reload_applied"' in proxy.log_text()


def test_post_reload_of_a_broken_file_answers_the_error_and_changes_nothing(proxies):
    a, b = free_port(), free_port()
    good = proxies.document(proxies.target("a", a, "    account: camtest\n"))
    proxy = proxies.start(good)
    proxies.write(proxies.document(proxies.target("a", a, "    account: camtest\n    pool:\n      max: ten\n"),
                                   proxies.target("b", b, "    account: camtls\n")))
    status, outcome = post_reload(proxy)
    assert status == 422, outcome
    assert outcome["outcome"] == "rejected"
    assert "targets[0].pool.max: expected a number from 1 to 100000, got 'ten'" in outcome["error"], outcome
    proxies.write("targets: [\n")
    status, outcome = post_reload(proxy)
    assert status == 422 and "not valid YAML or JSON" in outcome["error"], outcome
    assert refused(b), "a rejected reload must not start the file's new target"
    assert current_user(a) == "camtest@%"
    assert proxy.admin_get("/readyz")[0] == 200
    assert "reload_applied" not in proxy.log_text()
    # Only POST reloads.
    assert http_request("127.0.0.1", proxy.admin_port, "GET", "/reload")[0] == 405


def test_post_reload_without_a_config_file_is_refused(camproxy):
    proxy = camproxy()
    status, body = proxy.admin_post("/reload")
    assert status == 409 and json.loads(body) == {
        "outcome": "ignored", "error": "no --config file: flags and environment are read only at start"}
