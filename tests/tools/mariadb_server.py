"""A throwaway MariaDB 10.11 for tests (see /work/shared/TESTING-NOTES.md).

    with MariaDB() as db:
        with db.admin() as conn: ...
        db.port, db.socket, db.ca_file, db.status("Threads_connected")

Everything lives in one temp directory (data/, certs/, error.log, socket), on tmpfs
when there is room, removed on exit; directories of killed runs are swept at start. The system MariaDB (its config files, socket and port) is never
used: every program runs with --no-defaults.

Accounts made at first start (init file):
  harness@%  known password, ALL + GRANT OPTION: the harness's admin account.
  camtest@%  mysql_native_password, random password nobody knows; the CAM emulator
             takes it over with ALTER USER.
  camtls@%   the same, plus REQUIRE SSL.
Both CAM accounts get SELECT on *.* (so `USE nosuchdb` answers 1049 rather than
1044) and ALL on camdb.*, and may SET ROLE camproxy_role (no default role).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

from certs import CertificateAuthority
from testutil import WaitAbort, die_with_parent, free_port, pid_alive, stop_process, tail_file, wait_until

kAdminUser = "harness"
kAdminPassword = "harness-Admin-pw-1"
kCamAccounts = ("camtest", "camtls")
kDatabase = "camdb"
kReadyTimeout = 30.0
kDirPrefix = "camproxy-mariadb-"
kStaleSeconds = 600
kShm = "/dev/shm"
kShmMinFreeBytes = 2 << 30
kInstallTimeout = 120.0

# TESTING-NOTES.md "A throwaway MariaDB for tests": speed/size flags.
kServerFlags = (
    "--innodb-buffer-pool-size=256M",
    "--innodb-flush-log-at-trx-commit=2",
    "--skip-log-bin",
    "--performance-schema=OFF",
    "--max-allowed-packet=64M",
    "--max-connections=3000",
    "--local-infile=ON",
    "--skip-name-resolve",
)


def _scratch_parent() -> str | None:
    """Where the temp directory goes: $CAMPROXY_TEST_TMPDIR, else /dev/shm when it has
    room (fsync is free on tmpfs: mariadb-install-db takes 0.4 s there instead of ~5 s
    on this kind of machine's disk), else the default temp dir."""
    explicit = os.environ.get("CAMPROXY_TEST_TMPDIR")
    if explicit:
        return explicit
    try:
        st = os.statvfs(kShm)
    except OSError:
        return None
    if st.f_bavail * st.f_frsize >= kShmMinFreeBytes and os.access(kShm, os.W_OK):
        return kShm
    return None


def _pid_alive(pid_file: Path) -> bool:
    try:
        return pid_alive(int(pid_file.read_text().strip()))
    except (OSError, ValueError):
        return False


def _sweep_stale(parent: str | None) -> None:
    """Removes temp directories left by harness runs that were killed before their
    clean-up (on tmpfs they hold RAM): those whose owner and mariadbd are both gone.
    Directories without an owner file count as stale after kStaleSeconds."""
    root = Path(parent or tempfile.gettempdir())
    for base in root.glob(f"{kDirPrefix}*"):
        owner = base / "owner.pid"
        if owner.exists():
            stale = not _pid_alive(owner)
        else:
            try:
                stale = time.time() - base.stat().st_mtime > kStaleSeconds
            except OSError:
                continue
        if stale and not _pid_alive(base / "mysqld.pid"):
            shutil.rmtree(base, ignore_errors=True)


def _sql_string(value: str) -> str:
    """A single-quoted SQL literal for values we generate ourselves (no quotes inside)."""
    assert "'" not in value and "\\" not in value
    return f"'{value}'"


def _init_sql() -> str:
    lines = [
        f"CREATE USER IF NOT EXISTS '{kAdminUser}'@'%' IDENTIFIED BY {_sql_string(kAdminPassword)};",
        f"GRANT ALL PRIVILEGES ON *.* TO '{kAdminUser}'@'%' WITH GRANT OPTION;",
        f"CREATE DATABASE IF NOT EXISTS {kDatabase};",
    ]
    for account in kCamAccounts:
        require = " REQUIRE SSL" if account == "camtls" else ""
        initial = secrets.token_urlsafe(24)  # unknown to everyone until the emulator rotates it
        lines += [
            f"CREATE USER IF NOT EXISTS '{account}'@'%' IDENTIFIED VIA mysql_native_password"
            f" USING PASSWORD({_sql_string(initial)}){require};",
            f"GRANT SELECT ON *.* TO '{account}'@'%';",
            f"GRANT ALL PRIVILEGES ON {kDatabase}.* TO '{account}'@'%';",
        ]
    return "\n".join(lines) + "\n"


class MariaDBError(RuntimeError):
    pass


class MariaDB:
    def __init__(self, tls: bool = True, port: int | None = None, extra_args: tuple[str, ...] = ()):
        self._tls = tls
        self.port = port or free_port()
        self._extra_args = tuple(extra_args)
        self._base: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._initialised = False
        self.ca_file: str | None = None
        self._cert_file: str | None = None
        self._key_file: str | None = None

    # -- paths -------------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        assert self._base is not None, "MariaDB not started"
        return self._base

    @property
    def datadir(self) -> str:
        return str(self.base_dir / "data")

    @property
    def socket(self) -> str:
        return str(self.base_dir / "mysqld.sock")

    @property
    def error_log(self) -> str:
        return str(self.base_dir / "error.log")

    @property
    def admin_user(self) -> str:
        return kAdminUser

    @property
    def admin_password(self) -> str:
        return kAdminPassword

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # -- lifecycle ---------------------------------------------------------------
    def __enter__(self) -> "MariaDB":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """First call: makes the temp dir, certificates and datadir. Later calls (after
        stop/kill) start the server again on the same port and datadir."""
        if self._base is None:
            parent = _scratch_parent()
            _sweep_stale(parent)
            self._base = Path(tempfile.mkdtemp(prefix=kDirPrefix, dir=parent))
            (self._base / "owner.pid").write_text(f"{os.getpid()}\n")
            try:
                self._prepare()
            except BaseException:
                self.close()
                raise
        first = not self._initialised
        self._spawn(with_init=first)
        self._initialised = True
        if first:
            self._create_roles()

    def _create_roles(self) -> None:
        # A role a client may SET (MariaDB keeps it across COM_RESET_CONNECTION: issue 17). Made
        # by the admin account, which thereby holds it WITH ADMIN OPTION and may grant it (the
        # init file's bootstrap context may not).
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("CREATE ROLE IF NOT EXISTS camproxy_role")
            for account in kCamAccounts:
                cur.execute(f"GRANT camproxy_role TO '{account}'@'%'")

    def stop(self) -> None:
        """Clean shutdown (SIGTERM, SIGKILL after 30 s)."""
        if self._proc is not None:
            stop_process(self._proc, grace=30.0)
            self._proc = None

    def kill(self) -> None:
        """Crash it (SIGKILL): clients see their connections drop without a goodbye."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=30)
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- queries -----------------------------------------------------------------
    def admin(self, **kwargs) -> pymysql.connections.Connection:
        """A new PyMySQL connection as the harness admin (autocommit). Close it (or use
        it as a context manager)."""
        params = dict(host="127.0.0.1", port=self.port, user=kAdminUser,
                      password=kAdminPassword, autocommit=True, connect_timeout=5,
                      read_timeout=30, write_timeout=30)
        params.update(kwargs)
        return pymysql.connect(**params)

    def status(self, name: str) -> int | str:
        """SHOW GLOBAL STATUS value of `name`: an int when it is numeric."""
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
            row = cur.fetchone()
        if row is None:
            raise KeyError(f"no global status variable {name!r}")
        value = row[1]
        return int(value) if value.lstrip("-").isdigit() else value

    # -- internals ---------------------------------------------------------------
    def _prepare(self) -> None:
        if self._tls:
            ca = CertificateAuthority.create(self.base_dir / "certs")
            server = ca.issue("mariadb-server", dns_names=["localhost"], ip_addresses=["127.0.0.1"])
            self.ca_file, self._cert_file, self._key_file = ca.cert_file, server.cert_file, server.key_file
        (self.base_dir / "data").mkdir()
        cmd = ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
               "--auth-root-authentication-method=socket", "--skip-test-db"]
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                timeout=kInstallTimeout, check=False)
        if result.returncode != 0:
            out = result.stdout.decode("utf-8", "replace")[-4000:]
            raise MariaDBError(f"mariadb-install-db failed ({result.returncode}):\n{out}")

    def _spawn(self, with_init: bool) -> None:
        init_file = self.base_dir / "init.sql"
        cmd = ["mariadbd", "--no-defaults", "--user=root", f"--datadir={self.datadir}",
               f"--socket={self.socket}", f"--pid-file={self.base_dir / 'mysqld.pid'}",
               f"--log-error={self.error_log}", f"--port={self.port}",
               "--bind-address=127.0.0.1", *kServerFlags]
        if self._tls:
            cmd += [f"--ssl-ca={self.ca_file}", f"--ssl-cert={self._cert_file}",
                    f"--ssl-key={self._key_file}"]
        if with_init:
            init_file.write_text(_init_sql())
            os.chmod(init_file, 0o600)
            cmd.append(f"--init-file={init_file}")
        cmd += list(self._extra_args)
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        try:
            wait_until(self._ready, kReadyTimeout, f"MariaDB on 127.0.0.1:{self.port}", 0.1)
        except (AssertionError, WaitAbort) as exc:
            self.kill()
            raise MariaDBError(f"{exc}\n--- tail of {self.error_log} ---\n"
                               f"{tail_file(self.error_log)}") from None
        finally:
            # The init file holds the CAM accounts' initial passwords: gone once used.
            init_file.unlink(missing_ok=True)

    def _ready(self) -> bool:
        if self._proc is None or self._proc.poll() is not None:
            raise WaitAbort(f"mariadbd exited during start-up (status {self._proc and self._proc.returncode})")
        with self.admin(connect_timeout=1):
            return True
