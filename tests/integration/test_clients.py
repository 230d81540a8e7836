"""The same scenarios through three real clients (mariadb CLI, PyMySQL, Node mysql2),
straight to MariaDB (`direct`, as the harness admin) and through camproxy (`proxy`,
as camtest with any password). The drivers live in tests/tools/client_scenarios.py
and tests/node/scenarios.js; the checks below are shared by all clients.
"""

from __future__ import annotations

import pytest

from camproxy_process import ProxyNotFound, ProxyStartError
from client_scenarios import (CliDriver, PymysqlDriver, Target, kBlobBytes, kLoadRows, kScenarios,
                              run_node, write_load_file)

kClients = ("mariadb_cli", "pymysql", "mysql2")
kDatabase = "camdb"


@pytest.fixture(scope="module")
def load_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("load-data") / "rows.csv"
    write_load_file(path)
    return str(path)


@pytest.fixture(scope="module", params=["direct", "proxy"])
def target(request, mariadb, camproxy_module) -> Target | str:
    """A Target, or why the proxy could not start (each test then fails with it)."""
    if request.param == "direct":
        return Target("direct", "127.0.0.1", mariadb.port, mariadb.admin_user, mariadb.admin_password,
                      "not-the-harness-password", kDatabase, accepts_any_password=False)
    try:
        proxy = camproxy_module.start()
    except (ProxyNotFound, ProxyStartError) as exc:
        return str(exc)
    return Target("proxy", "127.0.0.1", proxy.port, "camtest", "any-password-at-all",
                  "another-wrong-password", kDatabase, accepts_any_password=True)


@pytest.fixture(scope="module")
def node_results():
    """mysql2 runs every scenario in one node process per target: {target: {scenario: obs}}."""
    return {}


def observe(client: str, scenario: str, target: Target, load_file: str, node_results: dict) -> dict:
    tag = f"{client}_{target.name}"
    if client == "mysql2":
        if target.name not in node_results:
            node_results[target.name] = run_node(target, tag, load_file)
        return node_results[target.name][scenario]
    driver = (CliDriver if client == "mariadb_cli" else PymysqlDriver)(target, tag, load_file)
    return driver.run(scenario)


def _value(obs: dict) -> str:
    assert obs["ok"], f"expected success, got {obs}"
    return obs["value"]


def _errno(obs: dict) -> int:
    assert not obs["ok"] and obs["error"], f"expected a server error, got {obs}"
    return obs["error"]["errno"]


def check_wrong_password(obs, target):
    if target.accepts_any_password:
        assert _value(obs) == "Success!"
    else:  # straight to MariaDB a wrong password must fail: the scenario can tell
        assert _errno(obs) == 1045


def check_select_success(obs, target):
    assert _value(obs) == "Success!"


def check_transaction_rollback(obs, target):
    assert obs["ok"], obs
    assert (obs["inside"], obs["after"]) == (1, 0), obs


def check_prepared_statement(obs, target):
    assert obs["ok"], obs
    assert (obs["sums"], obs["text"]) == ([5, 11], "abc"), obs


def check_blob_20mib(obs, target):
    assert obs["ok"], obs
    assert obs["received_len"] == kBlobBytes
    assert obs["received_sha256"] == obs["sent_sha256"]


def check_multi_statements(obs, target):
    assert obs["ok"], obs
    assert obs["result_sets"] == [[["1"]], [["two"]]]


def check_load_data_local(obs, target):
    assert obs["ok"], obs
    assert obs["affected"] == obs["count"] == kLoadRows, obs
    assert obs["sum"] == kLoadRows * (kLoadRows + 1) // 2


def check_use_unknown_database(obs, target):
    assert obs["ok"] and obs["error"], f"USE nosuchdb should fail, got {obs}"
    assert obs["error"]["errno"] == 1049, obs
    assert "nosuchdb" in obs["error"]["message"]
    assert obs["still_usable"] == "Success!"


def check_connect_unknown_database(obs, target):
    assert _errno(obs) == 1049
    assert "nosuchdb" in obs["error"]["message"]


def check_caching_sha2_start(obs, target):
    assert _value(obs) == "Success!"


kChecks = {name: globals()[f"check_{name}"] for name in kScenarios}


@pytest.mark.parametrize("scenario", kScenarios)
@pytest.mark.parametrize("client", kClients)
def test_client_scenario(client, scenario, target, load_file, node_results):
    if isinstance(target, str):
        pytest.fail(target, pytrace=False)
    obs = observe(client, scenario, target, load_file, node_results)
    if "skip" in obs:
        pytest.skip(obs["skip"])
    kChecks[scenario](obs, target)
