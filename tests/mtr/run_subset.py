#!/usr/bin/python3
"""MariaDB's own test suite (mysql-test-run, Debian package mariadb-test) through camproxy.

Runs the subset below twice, each time against a fresh MariaDB that mysql-test-run itself
installs and starts (`--start`: its own system tables, mtr schema, time zones, my.cnf):

  direct    mtr --extern socket=<server socket> port=<server port>
  camproxy  mtr --extern socket=<camproxy unix socket> port=<camproxy TCP port>; camproxy logs
            in with a CAM token (the CAM emulator owns root@localhost's password, so the
            server sees the same account, root@localhost, as in the direct run)

and prints a table (test, direct verdict, camproxy verdict). Exit status: 0 when every test
has the same verdict in both runs, or a difference listed in kAllowedDifferences (each with
its reason, also in docs/compatibility.md); 1 on any other difference; 2 when the harness
itself could not run.

    /usr/bin/python3 tests/mtr/run_subset.py [--json report.json] [--keep] [--mtr-option=--ps-protocol] [main.TEST ...]
    /usr/bin/python3 tests/mtr/run_subset.py --mysqltest tests/mtr/repro_reset_and_change_user.test

The camproxy binary: $CAMPROXY_BIN, else build/proxy/camproxy. Scratch files go to
$CAMPROXY_TEST_TMPDIR, else /dev/shm, else the temp dir; --keep leaves them (mtr's logs,
the .reject files of failed tests, camproxy's log) for a look.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from cam_client import EmulatorProcess  # noqa: E402
from camproxy_process import CamProxy  # noqa: E402
from testutil import WaitAbort, die_with_parent, free_port, tail_file, wait_until  # noqa: E402

kMtrDir = Path("/usr/share/mysql/mysql-test")
kMtr = str(kMtrDir / "mariadb-test-run.pl")

# Tests of the main suite that exercise the client protocol, pass against a plain server in
# --extern mode (no server restart, no debug build, no server options of their own), and
# take at most a few seconds each.
kSubset = (
    # prepared statements (COM_STMT_PREPARE/EXECUTE/FETCH/CLOSE, binary result sets)
    "main.ps_2myisam", "main.ps_3innodb", "main.ps_4heap", "main.ps_5merge", "main.ps_10nestset",
    "main.ps_11bugs", "main.ps_ddl", "main.ps_ddl1", "main.ps_grant", "main.ps_innodb",
    "main.ps_not_windows", "main.ps_missed_cmds_not_embedded", "main.prepare",
    "main.information_schema_prepare",
    # character sets: SET NAMES, multi-byte client character sets, conversion errors
    "main.ctype_utf8mb4", "main.ctype_latin1", "main.ctype_cp932", "main.mysql_cp932",
    "main.ctype_binary", "main.ctype_errors", "main.ctype_collate", "main.ctype_many",
    "main.ctype_recoding", "main.ctype_create",
    # stored procedures: multiple result sets per CALL, cursors, OUT parameters, handlers
    "main.sp-error", "main.sp-row", "main.sp-cursor", "main.sp-condition-handler", "main.sp-inout",
    "main.sp-vars", "main.sp-prelocking", "main.sp-dynamic", "main.sp_trans",
    # warnings and diagnostics; LOAD DATA [LOCAL] INFILE, SELECT ... INTO OUTFILE
    "main.warnings", "main.loaddata", "main.outfile_loaddata",
    # session: COM_CHANGE_USER, COM_RESET_CONNECTION, session state tracking, progress
    # reports, compression, user variables, status counters, the mariadb CLI's own protocol use
    "main.change_user", "main.reset_connection", "main.default_session", "main.connect-no-db",
    "main.mysqltest_tracking_info", "main.progress_976225", "main.compress", "main.user_var",
    "main.status", "main.mysql_protocols", "main.mysql_comments", "main.mysql-metadata",
    "main.mysql_binary_mode", "main.bulk_replace",
)

# Tests whose verdict may differ through camproxy, each with the reason (docs/compatibility.md
# "MariaDB's test suite through camproxy" repeats it).
kOneAccount = ("every client is the target's one database account (--db-user), whatever user name it "
               "sends: this test connects as other users and checks their privileges or USER()")
kPooledSession = ("a new client gets a pooled connection whose session variables were copied from the "
                  "globals when it was opened or last reset, so a SET GLOBAL made just before the "
                  "client connects is not seen")
kAllowedDifferences: dict[str, str] = {
    "main.ps_grant": kOneAccount,
    "main.status": kOneAccount,
    "main.default_session": kOneAccount,
    "main.change_user": kOneAccount,
    "main.mysqltest_tracking_info": kPooledSession + " (session_track_system_variables)",
    "main.mysql_comments": kPooledSession + " (sql_mode, for the mariadb client the test runs)",
    "main.compress": "camproxy offers no protocol compression (the client falls back to none) and "
                     "its idle pooled connections count as server sessions",
}

# The server mtr starts: the options the subset's tests would otherwise get from their
# include/have_*.opt files (mtr --extern cannot pass a test's options to a running server).
kServerOptions = ("--innodb", "--log-bin=master-bin", "--loose-enable-partition", "--sequence=on")
kServerStartTimeout = 180.0
kTestcaseTimeoutMinutes = 2
kCamInstance, kCamRegion = "cdb-mtr1", "ap-guangzhou"
kCamSecretId, kCamSecretKey = "AKID-camproxy-mtr-0001", "camproxyMtrSecretKey000000000001"
kAdminUser, kAdminPassword = "mtr_cam_admin", "mtr-Cam-Admin-pw-1"  # the emulator's ALTER USER

kVerdicts = {"MTR_RES_PASSED": "pass", "MTR_RES_FAILED": "fail", "MTR_RES_SKIPPED": "skip"}


class HarnessError(RuntimeError):
    pass


@dataclass
class Verdict:
    result: str  # pass, fail, skip, or missing (mtr did not report the test)
    detail: str = ""  # skip reason or the tail of the failure


class MtrServer:
    """`mariadb-test-run.pl --start` in its own process group: installs a datadir in
    <vardir>/mysqld.1 and runs mariadbd (under mtr's my_safe_process) until stopped. The
    extern runs use the same vardir, so that the paths tests use (../../std_data relative
    to the datadir, $MYSQLTEST_VARDIR/tmp under secure_file_priv) hold."""

    def __init__(self, vardir: Path):
        self.vardir = vardir
        self.port = 0
        self.socket = ""
        self._log = vardir.parent / "mtr-start.log"
        self._proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> "MtrServer":
        cmd = ["perl", kMtr, f"--vardir={self.vardir}", "--start",
               *[f"--mysqld={option}" for option in kServerOptions], "main.1st"]
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen(cmd, cwd=kMtrDir, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=die_with_parent)
        try:
            found = wait_until(self._started, kServerStartTimeout, "mtr --start", 0.2)
            self.port, self.socket = int(found.group(1)), found.group(2)
            with self.root() as conn, conn.cursor() as cur:
                # The CAM emulator's admin account, in both runs so that both servers hold the
                # same accounts.
                cur.execute(f"CREATE USER {kAdminUser}@'127.0.0.1' IDENTIFIED BY '{kAdminPassword}'")
                cur.execute(f"GRANT ALL ON *.* TO {kAdminUser}@'127.0.0.1' WITH GRANT OPTION")
        except BaseException:
            self.__exit__()
            raise
        return self

    def _started(self) -> Optional[re.Match]:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise WaitAbort(f"mtr --start exited with {self._proc.returncode}:\n{tail_file(self._log)}")
        return re.search(r"mysqld\.1\s+(\d+)\s+(\S+)\s*\n.*Waiting for server", self._log.read_text(), re.S)

    def root(self) -> pymysql.connections.Connection:
        """As root over the socket: before the CAM emulator changes root's password."""
        return pymysql.connect(unix_socket=self.socket, user="root", password="", autocommit=True,
                               connect_timeout=5)

    def admin(self) -> pymysql.connections.Connection:
        return pymysql.connect(host="127.0.0.1", port=self.port, user=kAdminUser, password=kAdminPassword,
                               autocommit=True, connect_timeout=5)

    def objects(self) -> set[tuple[str, str]]:
        """The databases, accounts and test.* tables that a test may leave behind."""
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT 'database', schema_name FROM information_schema.schemata UNION ALL "
                        "SELECT IF(is_role = 'Y', 'role', 'user'), IF(is_role = 'Y', QUOTE(user), "
                        "CONCAT(QUOTE(user), '@', QUOTE(host))) FROM mysql.user UNION ALL "
                        "SELECT IF(table_type = 'VIEW', 'view', 'table'), CONCAT('test.`', table_name, '`') "
                        "FROM information_schema.tables WHERE table_schema = 'test'")
            return set(cur.fetchall())

    def drop_new_objects(self, baseline: set[tuple[str, str]]) -> None:
        """What a test that failed half-way left behind would break the tests after it
        (there is no check-testcase against an --extern server)."""
        statements = {"database": "DROP DATABASE `{}`", "user": "DROP USER {}", "role": "DROP ROLE {}",
                      "view": "DROP VIEW {}", "table": "DROP TABLE {}"}
        with self.admin() as conn, conn.cursor() as cur:
            for kind, name in sorted(self.objects() - baseline):
                cur.execute(statements[kind].format(name))

    def __exit__(self, *exc) -> None:
        if self._proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):  # mtr, my_safe_process and mariadbd
            if self._proc.poll() is None:
                os.killpg(self._proc.pid, sig)
            try:
                self._proc.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                continue
        self._proc = None


@contextlib.contextmanager
def direct(vardir: Path) -> Iterator[tuple[MtrServer, str, int]]:
    with MtrServer(vardir) as server:
        yield server, server.socket, server.port


@contextlib.contextmanager
def via_camproxy(vardir: Path) -> Iterator[tuple[MtrServer, str, int]]:
    scratch = vardir.parent
    with MtrServer(vardir) as server:
        # The emulator takes over root@localhost (ALTER USER at start): camproxy's TCP login
        # from 127.0.0.1 resolves to localhost (mtr's server does not skip name resolution),
        # so through camproxy the tests run as the same account as directly.
        cam_args = ["--credential", f"{kCamSecretId}:{kCamSecretKey}",
                    "--account", f"{kCamInstance}:{kCamRegion}:root@localhost",
                    "--mysql-host", "127.0.0.1", "--mysql-port", str(server.port),
                    "--mysql-user", kAdminUser, "--mysql-password", kAdminPassword]
        with EmulatorProcess(cam_args, scratch / "cam_emulator.log") as cam:
            port, admin_port = free_port(), free_port()
            sock = scratch / "camproxy.sock"
            env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
            env.update(TENCENTCLOUD_SECRET_ID=kCamSecretId, TENCENTCLOUD_SECRET_KEY=kCamSecretKey)
            args = ["--upstream", f"127.0.0.1:{server.port}", "--region", kCamRegion,
                    "--instance-id", kCamInstance, "--cam-endpoint", cam.endpoint,
                    "--admin", f"127.0.0.1:{admin_port}", "--listen", f"127.0.0.1:{port}",
                    "--listen", f"unix:{sock}", "--db-user", "root",
                    # mtr's server certificate (std_data/server-cert.pem) names no address.
                    "--upstream-tls", "verify-ca", "--upstream-ca-file", str(kMtrDir / "std_data" / "cacert.pem")]
            proxy = CamProxy.launch(args, env, scratch / "camproxy.log", admin_port, port)
            try:
                yield server, str(sock), port
            finally:
                proxy.stop()


kModes = {"direct": direct, "camproxy": via_camproxy}


def run_tests(server: MtrServer, sock: str, port: int, vardir: Path, tests: list[str],
              options: list[str]) -> dict[str, Verdict]:
    """The tests expected to behave the same in one mtr run; each allowed difference alone
    after it, on a server cleared of what the previous one left."""
    baseline = server.objects()
    batch = [t for t in tests if t not in kAllowedDifferences]
    verdicts = run_mtr(sock, port, vardir, batch, options, "batch") if batch else {}
    for test in (t for t in tests if t in kAllowedDifferences):
        server.drop_new_objects(baseline)
        verdicts.update(run_mtr(sock, port, vardir, [test], options, test))
    return verdicts


def run_mtr(sock: str, port: int, vardir: Path, tests: list[str], options: list[str],
            name: str) -> dict[str, Verdict]:
    report = vardir.parent / f"report-{name}.xml"
    cmd = ["perl", kMtr, f"--extern=socket={sock}", f"--extern=port={port}", f"--vardir={vardir}",
           "--force", "--max-test-fail=0", "--retry=1", f"--testcase-timeout={kTestcaseTimeoutMinutes}",
           f"--xml-report={report}", *options, *tests]
    with open(vardir.parent / f"mtr-{name}.log", "ab") as log:
        subprocess.run(cmd, cwd=kMtrDir, stdin=subprocess.DEVNULL, stdout=log,
                       stderr=subprocess.STDOUT, check=False, preexec_fn=die_with_parent)
    if not report.exists():
        raise HarnessError(f"mtr wrote no report:\n{tail_file(vardir.parent / f'mtr-{name}.log')}")
    verdicts = {}
    for case in ET.parse(report).iter("testcase"):
        detail = ""
        for child in case:  # <skipped message=...> or <failure>log</failure>
            detail = child.get("message") or (child.text or "").strip()
        verdicts[f"{case.get('classname')}.{case.get('name')}"] = Verdict(
            kVerdicts.get(case.get("status", ""), case.get("status", "?")), detail)
    return verdicts


def run_script(sock: str, vardir: Path, script: Path) -> str:
    """A bug's reproduction: mariadb-test reading `script`, as root in database test, with
    $MYSQLTEST_VARDIR set as mtr sets it. --ps-protocol lets the script's enable_ps_protocol
    run statements as prepared statements (it starts with disable_ps_protocol)."""
    with open(script, "rb") as stdin:
        out = subprocess.run(["mariadb-test", f"--socket={sock}", "--user=root", "--database=test",
                              "--ps-protocol"],
                             stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env={**os.environ, "MYSQLTEST_VARDIR": str(vardir)},
                             timeout=kTestcaseTimeoutMinutes * 60, check=False)
    return out.stdout.decode("utf-8", "replace")


def scratch_parent() -> Optional[str]:
    explicit = os.environ.get("CAMPROXY_TEST_TMPDIR")
    if explicit:
        return explicit
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write {test: {direct, camproxy, allowed}} here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--mysqltest", metavar="FILE",
                        help="instead: run this mysqltest script both ways and print both outputs")
    parser.add_argument("--mtr-option", action="append", default=[], metavar="OPTION",
                        help="passed to both mtr runs, e.g. --mtr-option=--ps-protocol (repeatable)")
    parser.add_argument("tests", nargs="*", help=f"instead of the subset ({len(kSubset)} tests)")
    args = parser.parse_args(argv)
    tests = args.tests or list(kSubset)
    if not Path(kMtr).exists():
        print(f"{kMtr} missing: apt-get install mariadb-test (deploy/setup-debian.sh)", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="camproxy-mtr-", dir=scratch_parent()))
    script = Path(args.mysqltest).resolve() if args.mysqltest else None
    try:
        # The two runs use two servers and nothing else in common: side by side, they take
        # the time of the slower one.
        with ThreadPoolExecutor(max_workers=len(kModes)) as pool:
            futures = {mode: pool.submit(run_mode, mode, stack, scratch, tests, args.mtr_option, script)
                       for mode, stack in kModes.items()}
            outcomes = {mode: future.result() for mode, future in futures.items()}
    except Exception as exc:  # noqa: BLE001 - any harness failure is reported the same way
        print(f"harness failed: {exc}\n(scratch kept: {scratch})", file=sys.stderr)
        return 2
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    if script:
        for mode, output in outcomes.items():
            print(f"== {mode}\n{output}")
        return 0
    return report(tests, outcomes, args.json, scratch if args.keep else None)


def run_mode(mode: str, stack, scratch: Path, tests: list[str], options: list[str], script: Optional[Path]):
    """One side: its server (and camproxy), then the tests, or the script's output."""
    (scratch / mode).mkdir()
    started = time.monotonic()
    with stack(scratch / mode / "var") as (server, sock, port):
        if script:
            return run_script(sock, scratch / mode / "var", script)
        verdicts = run_tests(server, sock, port, scratch / mode / "var", tests, options)
    print(f"{mode}: {len(verdicts)} tests in {time.monotonic() - started:.0f} s", flush=True)
    return verdicts


def report(tests: list[str], results: dict[str, dict[str, Verdict]], json_path: Optional[str],
           kept: Optional[Path]) -> int:
    rows, unexplained = {}, []
    width = max(len(t) for t in tests)
    print(f"{'test':<{width}}  {'direct':<8}{'camproxy':<10}")
    for test in tests:
        direct_v = results["direct"].get(test, Verdict("missing"))
        proxy_v = results["camproxy"].get(test, Verdict("missing"))
        same = direct_v.result == proxy_v.result
        allowed = kAllowedDifferences.get(test)
        note = (f"allowed: {allowed}" if allowed else "DIFFERS") if not same else \
            ("(listed as an allowed difference, the same this time)" if allowed else "")
        print(f"{test:<{width}}  {direct_v.result:<8}{proxy_v.result:<10}{note}")
        if not same and not allowed:
            unexplained.append(test)
            print("    through camproxy: " + proxy_v.detail[-1500:].replace("\n", "\n    "))
        rows[test] = {"direct": asdict(direct_v), "camproxy": asdict(proxy_v), "allowed": allowed}
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=1))
    if kept:
        print(f"scratch kept: {kept}")
    print(f"{len(tests)} tests, {len(unexplained)} unexplained differences"
          + (f": {' '.join(unexplained)}" if unexplained else ""))
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
