"""The client scenarios of tests/integration/test_clients.py, driven through three real
clients: PyMySQL, the `mariadb` command-line client, and Node mysql2
(tests/node/scenarios.js).

Every driver reports the same observation dict per scenario, so one set of checks
applies to all clients:
  {"ok": True, ...what was seen}   or   {"ok": False, "error": {"errno", "sqlstate", "message"}}
  {"skip": "reason"}               when the client cannot run the scenario at all.
Each driver makes its own tables, named <scenario>_<tag>, in the target database.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import pymysql
from pymysql.constants import CLIENT

kBlobBytes = 20 * 1024 * 1024
kLoadRows = 1000
kScenarios = ("wrong_password", "select_success", "transaction_rollback", "prepared_statement",
              "blob_20mib", "multi_statements", "load_data_local", "use_unknown_database",
              "connect_unknown_database", "caching_sha2_start")
kNodeScript = Path(__file__).resolve().parents[1] / "node" / "scenarios.js"
kClientTimeout = 120
kSha2Plugin = "caching_sha2_password"


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int
    user: str
    password: str
    wrong_password: str
    database: str
    accepts_any_password: bool


def write_load_file(path: str | os.PathLike) -> None:
    """kLoadRows lines "id,name_id" for LOAD DATA LOCAL INFILE."""
    Path(path).write_text("".join(f"{i},name_{i}\n" for i in range(1, kLoadRows + 1)))


def _error(errno: int, message: str, sqlstate: str | None = None) -> dict:
    return {"ok": False, "error": {"errno": errno, "sqlstate": sqlstate, "message": message}}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------
class _Sha2FirstConnection(pymysql.connections.Connection):
    """Starts with caching_sha2_password whatever the server advertises, like a MySQL 8
    client library does by default."""

    def _get_server_information(self):
        super()._get_server_information()
        self._auth_plugin_name = kSha2Plugin


class PymysqlDriver:
    def __init__(self, target: Target, tag: str, load_file: str):
        self.t, self.tag, self.load_file = target, tag, load_file

    def run(self, scenario: str) -> dict:
        try:
            return {"ok": True, **getattr(self, scenario)()}
        except pymysql.err.MySQLError as exc:
            errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else -1
            return _error(errno, str(exc.args[-1]) if exc.args else repr(exc))

    def _connect(self, cls=pymysql.connections.Connection, **kwargs) -> pymysql.connections.Connection:
        params = dict(host=self.t.host, port=self.t.port, user=self.t.user, password=self.t.password,
                      database=self.t.database, connect_timeout=10, read_timeout=60, write_timeout=60,
                      max_allowed_packet=64 * 1024 * 1024, autocommit=True)
        params.update(kwargs)
        return cls(**params)

    def _one(self, conn, sql: str, args=None):
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()[0]

    def wrong_password(self):
        with self._connect(password=self.t.wrong_password) as conn:
            return {"value": self._one(conn, "SELECT 'Success!'")}

    def select_success(self):
        with self._connect() as conn:
            return {"value": self._one(conn, "SELECT 'Success!'")}

    def transaction_rollback(self):
        table = f"transaction_rollback_{self.tag}"
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB")
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO {table} VALUES (1, 'x')")
            inside = self._one(conn, f"SELECT COUNT(*) FROM {table}")
            cur.execute("ROLLBACK")
            return {"inside": inside, "after": self._one(conn, f"SELECT COUNT(*) FROM {table}")}

    def prepared_statement(self):
        # PyMySQL has no binary-protocol prepare: SQL PREPARE/EXECUTE is server-side too.
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute("PREPARE camproxy_stmt FROM 'SELECT ? + ?, ?'")
            sums = []
            for a, b in ((2, 3), (5, 6)):
                cur.execute("SET @a = %s, @b = %s, @c = 'abc'", (a, b))
                cur.execute("EXECUTE camproxy_stmt USING @a, @b, @c")
                row = cur.fetchone()
                sums.append(int(row[0]))
            cur.execute("DEALLOCATE PREPARE camproxy_stmt")
            return {"sums": sums, "text": row[1]}

    def blob_20mib(self):
        table = f"blob_20mib_{self.tag}"
        blob = os.urandom(kBlobBytes)
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, b LONGBLOB)")
            cur.execute(f"INSERT INTO {table} VALUES (1, %s)", (blob,))
            back = self._one(conn, f"SELECT b FROM {table} WHERE id = 1")
            return {"sent_sha256": _sha256(blob), "received_sha256": _sha256(back),
                    "received_len": len(back)}

    def multi_statements(self):
        with self._connect(client_flag=CLIENT.MULTI_STATEMENTS) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 AS a; SELECT 'two' AS b")
            sets = [[[str(v) for v in row] for row in cur.fetchall()]]
            while cur.nextset():
                sets.append([[str(v) for v in row] for row in cur.fetchall()])
            return {"result_sets": sets}

    def load_data_local(self):
        table = f"load_data_local_{self.tag}"
        with self._connect(local_infile=True) as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(32))")
            affected = cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} "
                                   "FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n'", (self.load_file,))
            cur.execute(f"SELECT COUNT(*), SUM(id) FROM {table}")
            count, total = cur.fetchone()
            return {"affected": affected, "count": count, "sum": int(total)}

    def use_unknown_database(self):
        with self._connect() as conn:
            try:
                with conn.cursor() as cur:
                    cur.execute("USE nosuchdb")
            except pymysql.err.MySQLError as exc:
                return {**_error(exc.args[0], exc.args[1]), "ok": True,
                        "still_usable": self._one(conn, "SELECT 'Success!'")}
            return {"error": None}

    def connect_unknown_database(self):
        with self._connect(database="nosuchdb") as conn:
            return {"value": self._one(conn, "SELECT 'Success!'")}

    def caching_sha2_start(self):
        with self._connect(cls=_Sha2FirstConnection) as conn:
            return {"value": self._one(conn, "SELECT 'Success!'")}


# --------------------------------------------------------------------------------------
_kCliError = re.compile(r"ERROR (\d+) \((\w+)\)(?: at line \d+)?: (.*)")


def cli_sha2_plugin_dir() -> str | None:
    """The directory holding the client-side caching_sha2_password plugin, if any."""
    found = glob.glob(f"/usr/lib/*/libmariadb3/plugin/{kSha2Plugin}.so") + \
        glob.glob(f"/usr/lib/mysql/plugin/{kSha2Plugin}.so")
    return os.path.dirname(found[0]) if found else None


class CliDriver:
    """The `mariadb` client, one process per step, never reading the system's my.cnf."""

    def __init__(self, target: Target, tag: str, load_file: str):
        self.t, self.tag, self.load_file = target, tag, load_file

    def run(self, scenario: str) -> dict:
        return getattr(self, scenario)()

    def _mariadb(self, sql: str, *options: str, password: str | None = None,
                 database: str | None = None) -> tuple[int, str, str]:
        cmd = ["mariadb", "--no-defaults", f"--host={self.t.host}", f"--port={self.t.port}",
               f"--user={self.t.user}", f"--password={self.t.password if password is None else password}",
               "--batch", "--skip-column-names", "--connect-timeout=10", *options,
               database or self.t.database]
        proc = subprocess.run(cmd, input=sql.encode(), capture_output=True, timeout=kClientTimeout)
        return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")

    def _observe(self, sql: str, parse: Callable[[str], dict], *options: str, **kwargs) -> dict:
        rc, out, err = self._mariadb(sql, *options, **kwargs)
        match = _kCliError.search(err)
        if match:
            return _error(int(match[1]), match[3], match[2])
        if rc != 0:
            return _error(-1, f"mariadb exited {rc}: {err.strip()[-500:]}")
        return {"ok": True, **parse(out)}

    def wrong_password(self):
        return self._observe("SELECT 'Success!';", lambda out: {"value": out.strip()},
                             password=self.t.wrong_password)

    def select_success(self):
        return self._observe("SELECT 'Success!';", lambda out: {"value": out.strip()})

    def transaction_rollback(self):
        table = f"transaction_rollback_{self.tag}"
        sql = (f"DROP TABLE IF EXISTS {table};"
               f"CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB;"
               f"BEGIN; INSERT INTO {table} VALUES (1, 'x'); SELECT COUNT(*) FROM {table};"
               f"ROLLBACK; SELECT COUNT(*) FROM {table};")
        return self._observe(sql, lambda out: dict(zip(("inside", "after"), map(int, out.split()))))

    def prepared_statement(self):
        sql = ("PREPARE camproxy_stmt FROM 'SELECT ? + ?, ?';"
               "SET @a = 2, @b = 3, @c = 'abc'; EXECUTE camproxy_stmt USING @a, @b, @c;"
               "SET @a = 5, @b = 6; EXECUTE camproxy_stmt USING @a, @b, @c;"
               "DEALLOCATE PREPARE camproxy_stmt;")

        def parse(out):
            rows = [line.split("\t") for line in out.splitlines()]
            return {"sums": [int(r[0]) for r in rows], "text": rows[-1][1]}
        return self._observe(sql, parse)

    def blob_20mib(self):
        table = f"blob_20mib_{self.tag}"
        blob = os.urandom(kBlobBytes)
        sql = (f"DROP TABLE IF EXISTS {table};"
               f"CREATE TABLE {table} (id INT PRIMARY KEY, b LONGBLOB);"
               f"INSERT INTO {table} VALUES (1, X'{blob.hex()}');"
               f"SELECT HEX(b) FROM {table} WHERE id = 1;")

        def parse(out):
            back = bytes.fromhex(out.strip())
            return {"sent_sha256": _sha256(blob), "received_sha256": _sha256(back), "received_len": len(back)}
        return self._observe(sql, parse, "--max-allowed-packet=64M")

    def multi_statements(self):
        # The client splits input on the delimiter; with another delimiter the two
        # SELECTs go to the server as one COM_QUERY. --xml shows each result set.
        sql = "DELIMITER //\nSELECT 1 AS a; SELECT 'two' AS b//\n"

        def parse(out):
            sets = []
            for doc in re.findall(r"<resultset.*?</resultset>", out, re.S):
                root = ElementTree.fromstring(doc)
                sets.append([[field.text or "" for field in row] for row in root.findall("row")])
            return {"result_sets": sets}
        return self._observe(sql, parse, "--xml")

    def load_data_local(self):
        table = f"load_data_local_{self.tag}"
        sql = (f"DROP TABLE IF EXISTS {table};"
               f"CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(32));"
               f"LOAD DATA LOCAL INFILE '{self.load_file}' INTO TABLE {table} "
               "FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n';"
               f"SELECT ROW_COUNT(); SELECT COUNT(*), SUM(id) FROM {table};")

        def parse(out):
            affected, count, total = map(int, out.split())
            return {"affected": affected, "count": count, "sum": total}
        return self._observe(sql, parse, "--local-infile=1")

    def use_unknown_database(self):
        # --force: keep going after the error, to show the session still works.
        rc, out, err = self._mariadb("USE nosuchdb; SELECT 'Success!';", "--force")
        match = _kCliError.search(err)
        if not match:
            return {"ok": True, "error": None, "detail": err.strip()[-500:]}
        return {**_error(int(match[1]), match[3], match[2]), "ok": True, "still_usable": out.strip()}

    def connect_unknown_database(self):
        return self._observe("SELECT 'Success!';", lambda out: {"value": out.strip()}, database="nosuchdb")

    def caching_sha2_start(self):
        plugin_dir = cli_sha2_plugin_dir()
        if plugin_dir is None:
            return {"skip": f"the mariadb client has no {kSha2Plugin} plugin"}
        return self._observe("SELECT 'Success!';", lambda out: {"value": out.strip()},
                             f"--plugin-dir={plugin_dir}", f"--default-auth={kSha2Plugin}")


# --------------------------------------------------------------------------------------
def run_node(target: Target, tag: str, load_file: str, scenarios=kScenarios) -> dict[str, dict]:
    """Runs tests/node/scenarios.js once for all scenarios: {scenario: observation}."""
    args = {**asdict(target), "tag": tag, "load_file": load_file, "blob_bytes": kBlobBytes,
            "scenarios": list(scenarios)}
    proc = subprocess.run(["node", str(kNodeScript), json.dumps(args)], capture_output=True,
                          text=True, timeout=kClientTimeout * 2, cwd=kNodeScript.parent)
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            doc = json.loads(line)
            results[doc.pop("scenario")] = doc
    missing = [s for s in scenarios if s not in results]
    if missing:
        raise AssertionError(f"scenarios.js gave no result for {missing} (exit {proc.returncode}):\n"
                             f"{proc.stderr[-2000:]}")
    return results
