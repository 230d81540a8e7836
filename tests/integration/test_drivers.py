"""Five more real client libraries, all Debian 12 packages, straight to MariaDB (`direct`, as
the harness admin) and through camproxy (`proxy`, as camtest with any password): MariaDB
Connector/J with its pool, Python mysqlclient, Perl DBD::MariaDB, Ruby mysql2 and PHP mysqli
with persistent connections. Each client is one small program in tests/clients/<lang>/ that runs
every case once per target and prints one JSON object; the contract (what each case does and
reports) is tests/clients/README.md. The checks below are shared by all clients, and every case
runs both ways, so a check that fails only through camproxy is camproxy's difference.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from camproxy_process import ProxyNotFound, ProxyStartError
from conftest import not_in_transaction_mode

kClientsDir = Path(__file__).resolve().parents[1] / "clients"
kConnectorJ = Path("/usr/share/java/mariadb-java-client.jar")
kDatabase = "camdb"
kBlobBytes = 4 * 1024 * 1024  # the programs' kBlobBytes
kBulkRows = 1000  # the programs' kBulkRows
kSessionValue = 12345  # what the first pooled use sets group_concat_max_len to
kCancelSleepSeconds = 20  # the Java program's SLEEP that Statement.cancel() interrupts
kRunTimeout = 120
kTargets = ("direct", "proxy")

# The interpreter and program of each client; Java is compiled first (java_classes).
kScripts = {
    "python": ["/usr/bin/python3", str(kClientsDir / "python" / "drivers.py")],
    "perl": ["perl", str(kClientsDir / "perl" / "drivers.pl")],
    "ruby": ["ruby", str(kClientsDir / "ruby" / "drivers.rb")],
    "php": ["php", str(kClientsDir / "php" / "drivers.php")],
}
kClients = ("java", *kScripts)

# Clients whose reset case reuses one connection (a pool of one, a persistent connection),
# so the second use must see the same connection id, reset; the others reconnect, which
# through camproxy's pool of one (kResetProxyArgs) is the same database connection too.
kPooled = ("java", "php")
kResetProxyArgs = ("--workers", "1", "--pool-max", "1", "--pool-min-idle", "0")
# Clients whose prepared statements are server-side (COM_STMT_PREPARE); mysqlclient's are not.
kServerPrepare = ("java", "perl", "ruby", "php")
# The clients that have the case (tests/clients/README.md says why the others do not).
kIgnoreSpaceClients = ("java", "python", "ruby", "php")
kBulkClients = ("java", "python")

def params(clients=kClients):
    """(client, target) pairs for one case."""
    return [pytest.param(client, target, id=f"{client}-{target}") for client in clients for target in kTargets]


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory) -> Path:
    """Drivers.java compiled against Connector/J into a temp dir (nothing cached elsewhere)."""
    out = tmp_path_factory.mktemp("java-classes")
    done = subprocess.run(["javac", "-cp", str(kConnectorJ), "-d", str(out),
                           str(kClientsDir / "java" / "Drivers.java")],
                          capture_output=True, text=True, timeout=kRunTimeout)
    assert done.returncode == 0, f"javac failed:\n{done.stderr}"
    return out


@pytest.fixture(scope="module")
def proxies(camproxy_module) -> tuple:
    """(the proxy, the reset case's proxy): the reset case has one of its own whose pool holds
    one connection, so a client's second use is certainly the connection its first use left."""
    try:
        return camproxy_module.start(), camproxy_module.start(*kResetProxyArgs)
    except (ProxyNotFound, ProxyStartError) as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def observed(mariadb, request) -> Callable[[str, str], dict]:
    """(client, target) -> that program's JSON, each program run once per target on demand
    (the proxies start only for the proxy rows)."""
    cache: dict = {}

    def get(client: str, target: str) -> dict:
        if (client, target) not in cache:
            if target == "direct":
                endpoint = (mariadb.port, mariadb.admin_user, mariadb.admin_password, mariadb.port)
            else:
                proxy, reset_proxy = request.getfixturevalue("proxies")
                endpoint = (proxy.port, "camtest", "any-password-at-all", reset_proxy.port)
            cache[(client, target)] = run_client(client, target, endpoint, request)
        return cache[(client, target)]

    return get


def run_client(client: str, target: str, endpoint: tuple, request) -> dict:
    port, user, password, reset_port = endpoint
    if client == "java":
        classes = request.getfixturevalue("java_classes")
        command = ["java", "-cp", f"{classes}:{kConnectorJ}", "Drivers"]
    else:
        command = list(kScripts[client])
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is missing: run deploy/setup-debian.sh", pytrace=False)
    command += ["127.0.0.1", str(port), user, password, kDatabase, f"{client}_{target}", str(reset_port)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=kRunTimeout)
    assert done.returncode == 0 and done.stdout.strip(), \
        f"{client} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


def ok(obs: dict) -> dict:
    assert obs["ok"], f"the case failed: {obs.get('error')}"
    return obs


@pytest.mark.parametrize("client,target", params())
def test_login(client, target, observed):
    assert ok(observed(client, target)["login"])["value"] == "Success!"


@pytest.mark.parametrize("client,target", params())
def test_queries(client, target, observed):
    obs = ok(observed(client, target)["queries"])
    assert obs["affected"] == 3
    assert obs["rows"] == [[1, "one"], [2, "two"], [3, "three"]]


@pytest.mark.parametrize("client,target", params())
def test_prepared_statements(client, target, observed):
    obs = ok(observed(client, target)["prepared"])
    assert obs["results"] == [[5, "abc"], [11, "xyz"]]
    if client in kServerPrepare:
        assert obs["server_prepares"] >= 1, "expected COM_STMT_PREPARE on the server"
    else:
        assert obs["server_prepares"] == 0


@pytest.mark.parametrize("client,target", params())
def test_blob_4mib_round_trip(client, target, observed):
    obs = ok(observed(client, target)["blob"])
    assert obs["received_len"] == kBlobBytes
    assert obs["received_sha256"] == obs["sent_sha256"]


@pytest.mark.parametrize("client,target", params())
def test_reset_reuse_leaks_no_state(client, target, observed):
    obs = ok(observed(client, target)["reset"])
    assert obs["set_seen"] == kSessionValue, "the first use did not set the session variable"
    if client in kPooled or target == "proxy":
        assert obs["second_id"] == obs["first_id"], "the second use was not the pooled connection"
    assert obs["user_var"] is None, "a user variable leaked into the next use"
    assert obs["temp_table"] is False, "a temporary table leaked into the next use"
    assert obs["session_var"] == obs["global_default"] != kSessionValue, \
        "a session variable leaked into the next use"


@not_in_transaction_mode("CONNECTION_ID() names the shared connection of the client's last command, "
                         "not the client (docs/operations.md, Transaction pooling)")
@pytest.mark.parametrize("client,target", params())
def test_kill_by_connection_id_from_second_connection(client, target, observed):
    obs = ok(observed(client, target)["kill"])
    assert obs["kill_error"] is None, "KILL <CONNECTION_ID()> was refused"
    assert obs["victim_error"] is not None, "the killed connection still answers"
    assert obs["bystander"] == "alive", "KILL hit a connection it did not name"
    assert obs["killer"] == "alive"


@not_in_transaction_mode("the driver's program finds its SLEEP in the processlist by its CONNECTION_ID(), "
                         "which names the shared connection of an earlier command")
@pytest.mark.parametrize("client,target", params(("java",)))
def test_statement_cancel_kills_the_query_by_greeting_id(client, target, observed):
    obs = ok(observed(client, target)["cancel"])
    assert obs["outcome"].startswith("1317:"), "the SLEEP was not interrupted"
    assert obs["seconds_after_cancel"] < kCancelSleepSeconds / 2
    assert obs["still_usable"] == "alive", "KILL QUERY ended the connection"


@pytest.mark.parametrize("client,target", params(kIgnoreSpaceClients))
def test_ignore_space_count_star(client, target, observed):
    obs = ok(observed(client, target)["ignore_space"])
    assert "IGNORE_SPACE" in obs["sql_mode"].split(",")
    assert obs["count"] == 2


@pytest.mark.parametrize("client,target", params(kBulkClients))
def test_bulk_insert_array_binding(client, target, observed):
    obs = ok(observed(client, target)["bulk"])
    assert (obs["count"], obs["sum"]) == (kBulkRows, kBulkRows * (kBulkRows + 1) // 2)
    assert obs["statements"] < kBulkRows / 10, "the rows went one statement each, not in bulk"
