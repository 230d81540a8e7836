"""Fixtures for the integration tests (run with /usr/bin/python3 -m pytest tests/integration).

  mariadb          session: a throwaway MariaDB 10.11 (tests/tools/mariadb_server.py)
  cam              session: the CAM emulator as a subprocess, owning camtest/camtls
  camproxy         function: factory starting the camproxy binary, stopped at teardown
  camproxy_module  module: the same factory, for proxies shared by a whole module

CAMPROXY_TEST_DATA_PATH=epoll|io_uring and CAMPROXY_TEST_POOL_MODE=session|transaction add
--data-path / --pool-mode to every camproxy the factory starts (unless the test gives its own);
`not_in_transaction_mode(reason)` marks a test that asserts what transaction pooling changes by
design (docs/operations.md "Transaction pooling"), skipped in that run with the reason.

Helpers for tests live in tests/tools (on sys.path): testutil.free_port,
testutil.wait_until, cam_client.call_build_token, ...
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from cam_client import EmulatorControl, EmulatorProcess  # noqa: E402
from cam_verify import Credential  # noqa: E402
from camproxy_process import CamProxy, ProxyNotFound, ProxyStartError, proxy_binary  # noqa: E402
from mariadb_server import MariaDB  # noqa: E402
from testutil import free_port, wait_until  # noqa: E402,F401 - the harness helpers, also importable from here

kInstanceId = "cdb-camproxy1"
kRegion = "ap-guangzhou"
kCamAccounts = ("camtest", "camtls")
kDisabledAccount = "camoff"  # known to the emulator, CAM not enabled
kCredential = Credential("AKID-camproxy-harness-0001", "camproxyHarnessSecretKey00000001")
kTempCredential = Credential("AKID-camproxy-harness-temp-0002", "camproxyHarnessTempKey0000000002",
                             "camproxy-harness-session-token-0002")


kPoolMode = os.environ.get("CAMPROXY_TEST_POOL_MODE", "session")


def not_in_transaction_mode(reason: str):
    return pytest.mark.skipif(kPoolMode == "transaction", reason=f"not so in --pool-mode transaction: {reason}")


@dataclass
class Cam:
    """The session's CAM emulator and what it was configured with."""
    process: EmulatorProcess
    instance_id: str
    region: str
    credential: Credential
    temp_credential: Credential

    @property
    def endpoint(self) -> str:
        return self.process.endpoint

    @property
    def port(self) -> int:
        assert self.process.port is not None
        return self.process.port

    @property
    def control(self) -> EmulatorControl:
        return self.process.control

    @property
    def log_path(self) -> str:
        return self.process.log_path


@pytest.fixture(scope="session")
def mariadb():
    with MariaDB() as db:
        yield db


@pytest.fixture(scope="session")
def cam(mariadb, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("cam-emulator")
    args = ["--credential", f"{kCredential.secret_id}:{kCredential.secret_key}",
            "--credential", f"{kTempCredential.secret_id}:{kTempCredential.secret_key}:"
                            f"{kTempCredential.session_token}",
            "--disabled-account", f"{kInstanceId}:{kRegion}:{kDisabledAccount}",
            "--mysql-host", "127.0.0.1", "--mysql-port", str(mariadb.port),
            "--mysql-user", mariadb.admin_user, "--mysql-password", mariadb.admin_password,
            "--rotation-seconds", "3600"]
    for account in kCamAccounts:
        args += ["--account", f"{kInstanceId}:{kRegion}:{account}"]
    with EmulatorProcess(args, log_dir / "cam_emulator.log") as process:
        yield Cam(process, kInstanceId, kRegion, kCredential, kTempCredential)


@pytest.fixture(autouse=True)
def _restore_cam(request):
    """After a test that used the emulator: no fault, no clock offset, the CAM accounts
    enabled again. Costs nothing for tests that did not ask for `cam`."""
    yield
    if "cam" not in request.fixturenames:
        return
    cam = request.getfixturevalue("cam")
    cam.control.clear()
    stats = cam.control.stats()
    if stats["clock_offset_seconds"]:
        cam.control.set_clock_offset(0)
    for state in stats["accounts"]:
        user = state["account"].rsplit(":", 1)[1]
        if user in kCamAccounts and not state["enabled"]:
            cam.control.enable(user)


kProxyLogs: list[str] = []  # every camproxy log of the session, for the secret scan


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_any_proxy_log():
    """Issue: secrets never reach logs. After the whole run, every camproxy log is searched
    for the keys, session tokens and passwords the suite used."""
    yield
    secrets = [kCredential.secret_key, kTempCredential.secret_key, kTempCredential.session_token,
               "Fallback-Pw-1234", "wrong-secret-key", "Local-Pw-5678"]
    leaks = []
    for path in kProxyLogs:
        try:
            text = Path(path).read_text(errors="replace")
        except FileNotFoundError:
            continue
        leaks += [f"{path}: contains {s[:4]}..." for s in secrets if s in text]
    assert not leaks, "secrets in camproxy logs:\n" + "\n".join(leaks)


class ProxyFactory:
    """Starts camproxy processes wired to the session's MariaDB and emulator."""

    def __init__(self, mariadb: MariaDB, cam: Cam, log_dir: Path):
        self._mariadb, self._cam, self._log_dir = mariadb, cam, log_dir
        self._started: list[CamProxy] = []

    def __call__(self, *extra_args: str, **kwargs) -> CamProxy:
        """start(), turning "binary missing" and "not ready" into a plain test failure."""
        try:
            return self.start(*extra_args, **kwargs)
        except (ProxyNotFound, ProxyStartError) as exc:
            message = str(exc)
        pytest.fail(message, pytrace=False)

    def start(self, *extra_args: str, env: Optional[Mapping[str, Optional[str]]] = None,
              db_user: Optional[str] = "camtest", upstream_tls: Optional[str] = None,
              credential: Optional[Credential] = None, wait_ready: bool = True,
              upstream: Optional[str] = None, cam_endpoint: Optional[str] = None,
              expect_exit: bool = False, tcp_listener: bool = True) -> CamProxy:
        """Extra args go after the defaults; `upstream` and `cam_endpoint` replace theirs;
        without `upstream_tls` (and no TLS flag in the extra args) the default mode runs with
        the test MariaDB's CA as --upstream-ca-file;
        tcp_listener=False leaves out the default 127.0.0.1 listener (give --listen in the extra args). env entries override (None removes) the
        TENCENTCLOUD_* variables taken from `credential` (default: the permanent key).
        Raises ProxyNotFound or ProxyStartError."""
        proxy_binary()
        listen_port, admin_port = free_port(), free_port()
        args = ["--upstream", upstream or f"127.0.0.1:{self._mariadb.port}", "--region", self._cam.region,
                "--instance-id", self._cam.instance_id,
                "--cam-endpoint", cam_endpoint or self._cam.endpoint, "--admin", f"127.0.0.1:{admin_port}"]
        if tcp_listener:
            args += ["--listen", f"127.0.0.1:{listen_port}"]
        if db_user is not None:
            args += ["--db-user", db_user]
        if upstream_tls is not None:
            args += ["--upstream-tls", upstream_tls]
            if upstream_tls in ("verify-ca", "verify-identity"):
                args += ["--upstream-ca-file", self._mariadb.ca_file]
        elif not {"--upstream-tls", "--upstream-ca-file", "--config"} & set(extra_args):
            # The default --upstream-tls verify-identity, against the test MariaDB's CA (its
            # certificate names 127.0.0.1): most tests run the safe default.
            args += ["--upstream-ca-file", self._mariadb.ca_file]
        # The suite runs on either data path (tests/run.sh runs a subset on the one auto does not pick).
        data_path = os.environ.get("CAMPROXY_TEST_DATA_PATH")
        if data_path and "--data-path" not in extra_args:
            args += ["--data-path", data_path]
        # ... and in either pool mode (tests/run.sh runs the clients, pool and reconnect files again
        # with CAMPROXY_TEST_POOL_MODE=transaction); a config file says its own.
        pool_mode = os.environ.get("CAMPROXY_TEST_POOL_MODE")
        if pool_mode and not {"--pool-mode", "--config"} & set(extra_args):
            args += ["--pool-mode", pool_mode]
        args += list(extra_args)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
        credential = credential or self._cam.credential
        full_env["TENCENTCLOUD_SECRET_ID"] = credential.secret_id
        full_env["TENCENTCLOUD_SECRET_KEY"] = credential.secret_key
        if credential.session_token is not None:
            full_env["TENCENTCLOUD_SESSION_TOKEN"] = credential.session_token
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        log_path = self._log_dir / f"camproxy-{len(self._started) + 1}.log"
        kProxyLogs.append(str(log_path))
        proxy = CamProxy.launch(args, full_env, log_path, admin_port, listen_port, wait_ready=False)
        proxy.expected_exit = expect_exit  # a test of a refused start: a non-zero exit is the point
        self._started.append(proxy)
        if wait_ready:
            proxy.wait_ready()
        else:
            proxy.wait_healthy()
        return proxy

    def stop_all(self) -> None:
        problems = [p for p in (proxy.stop_and_check() for proxy in self._started) if p]
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def camproxy(mariadb, cam, tmp_path):
    factory = ProxyFactory(mariadb, cam, tmp_path)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def camproxy_module(mariadb, cam, tmp_path_factory):
    factory = ProxyFactory(mariadb, cam, tmp_path_factory.mktemp("camproxy"))
    yield factory
    factory.stop_all()
