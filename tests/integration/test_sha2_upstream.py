"""Proves tests/tools/sha2_server.py right with real clients logging in to it directly.

PyMySQL and Node mysql2 (tests/node/sha2_login.js) exercise the caching_sha2_password paths
of spec/mysql-protocol.md §2.5/§3.3: RSA key exchange on plain TCP, fast auth from the
cache, cleartext full auth over TLS and unix sockets, 1045, cache eviction on a password
change, the AuthSwitchRequest from mysql_native_password, and simple commands. The server's
counters say which path ran. A raw socket client checks the bytes where client libraries
are lenient: greeting layout, sequence ids, framing, resultset terminators, bad input.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_sha2_upstream.py
"""

import hashlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TESTS_DIR = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = TESTS_DIR / "tools" / "sha2_server.py"
NODE_SCRIPT = TESTS_DIR / "node" / "sha2_login.js"
sys.path.insert(0, str(SERVER_SCRIPT.parent))
from sha2_server import Sha2Server, write_throwaway_pki  # noqa: E402

APP_PASSWORD = "cam-token/Zx9+q=="
USERS = {"app": APP_PASSWORD, "other": "other-pw", "root": "root-pw", "nopw": ""}
VERSION = "8.0.36-sha2test"
PATHS = ("fast_auth", "full_auth_tls", "full_auth_socket", "full_auth_rsa")


# -- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return write_throwaway_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def rsa_key_pem():
    # One RSA key for every server in the module keeps it quick.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture
def make_server(pki, rsa_key_pem):
    servers = []
    socket_dir = tempfile.TemporaryDirectory(prefix="sha2-")  # short: sun_path has 108 bytes

    def make(**overrides):
        options = dict(admins=["root"], tls_cert=str(pki.cert), tls_key=str(pki.key),
                       rsa_key_pem=rsa_key_pem, unix_socket=os.path.join(socket_dir.name, "s.sock"))
        options.update(overrides)
        servers.append(Sha2Server(dict(USERS), **options).start())
        return servers[-1]

    yield make
    for server in servers:
        server.stop()
    socket_dir.cleanup()


@pytest.fixture
def server(make_server):
    return make_server()


# -- real clients ---------------------------------------------------------------------------
@dataclass
class Outcome:
    ok: bool
    errno: int = 0
    sqlstate: str = ""  # mysql2 only: PyMySQL drops the SQLSTATE
    message: str = ""
    results: list = field(default_factory=list)


def pymysql_login(server, user, password, *, tls=None, unix=False, queries=(), ping=False):
    target = dict(unix_socket=server.unix_socket) if unix else dict(host="127.0.0.1", port=server.port)
    try:
        conn = pymysql.connect(user=user, password=password, ssl={"ca": str(tls)} if tls else None,
                               connect_timeout=5, read_timeout=5, write_timeout=5, **target)
    except pymysql.err.MySQLError as error:
        return Outcome(False, errno=error.args[0], message=error.args[1])
    with conn:
        if ping:
            conn.ping(reconnect=False)
        results = []
        for sql in queries:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                results.append([list(row) for row in cursor.fetchall()])
        return Outcome(True, results=results)


def mysql2_login(server, user, password, *, tls=None, unix=False, queries=(), ping=False, **extra):
    node = shutil.which("node")
    assert node, "node is required: mysql2 is one of the two clients this module proves the server with"
    config = dict(user=user, password=password, queries=list(queries), ping=ping, reset=ping, **extra)
    if unix:
        config["socketPath"] = server.unix_socket
    else:
        config["port"] = server.port
    if tls:
        config["ca"] = str(tls)
    done = subprocess.run([node, str(NODE_SCRIPT), json.dumps(config)], capture_output=True,
                          text=True, timeout=40)
    assert done.returncode in (0, 1), done.stderr
    result = json.loads(done.stdout)
    if not result["ok"]:
        return Outcome(False, errno=result.get("errno") or 0, sqlstate=result.get("sqlState") or "",
                       message=result["message"])
    return Outcome(True, results=result["results"])


CLIENTS = {"pymysql": pymysql_login, "mysql2": mysql2_login}


@pytest.fixture(params=sorted(CLIENTS))
def login(request):
    return CLIENTS[request.param]


def assert_paths(server, **expected):
    """Check the auth-path counters; unnamed paths must still be zero."""
    counters = server.counters()
    wanted = {name: expected.get(name, 0) for name in PATHS + ("key_requests", "failures")}
    wanted.update(expected)
    assert {name: counters[name] for name in wanted} == wanted


def assert_denied(outcome, user="app", host="127.0.0.1", using="YES"):
    assert not outcome.ok
    assert outcome.errno == 1045
    assert outcome.message == f"Access denied for user '{user}'@'{host}' (using password: {using})"
    assert outcome.sqlstate in ("", "28000")


# -- (a)-(f) with both clients -------------------------------------------------------------
def test_first_plain_tcp_login_exchanges_the_rsa_key(server, login):
    assert login(server, "app", APP_PASSWORD).ok
    assert_paths(server, full_auth_rsa=1, key_requests=1)
    assert server.is_cached("app")


def test_second_login_takes_the_fast_path(server, login):
    assert login(server, "app", APP_PASSWORD).ok
    assert login(server, "app", APP_PASSWORD).ok
    assert_paths(server, full_auth_rsa=1, key_requests=1, fast_auth=1)


def test_tls_login_with_a_cold_cache_sends_the_password_in_clear(server, login, pki):
    assert login(server, "app", APP_PASSWORD, tls=pki.ca).ok
    assert_paths(server, full_auth_tls=1)
    assert server.last_login["tls"] is True
    assert server.is_cached("app")


def test_unix_socket_login_with_a_cold_cache_sends_the_password_in_clear(server, login):
    assert login(server, "app", APP_PASSWORD, unix=True).ok
    assert_paths(server, full_auth_socket=1)
    assert server.last_login["unix"] is True


def test_wrong_password_is_denied_with_1045_cold_and_warm(server, login):
    assert_denied(login(server, "app", "not-the-token"))
    assert not server.is_cached("app")
    assert login(server, "app", APP_PASSWORD).ok
    # Warm cache: the scramble does not verify, so full auth runs and fails again.
    assert_denied(login(server, "app", "not-the-token"))
    assert_paths(server, full_auth_rsa=1, key_requests=3, failures=2)


def test_unknown_user_is_denied_like_a_wrong_password(server, login):
    assert_denied(login(server, "ghost", APP_PASSWORD), user="ghost")


def test_password_change_evicts_the_cache(server, login):
    assert login(server, "app", APP_PASSWORD).ok
    assert login(server, "app", APP_PASSWORD).ok  # fast
    server.set_password("app", "rotated-token")
    assert not server.is_cached("app")
    assert_denied(login(server, "app", APP_PASSWORD))
    assert login(server, "app", "rotated-token").ok  # full auth again
    assert login(server, "app", "rotated-token").ok  # then fast
    assert_paths(server, full_auth_rsa=2, key_requests=3, fast_auth=2, failures=1)


def test_select_text_returns_one_row(server, login):
    outcome = login(server, "app", APP_PASSWORD, queries=["SELECT 'x'", "SELECT 1"], ping=True)
    assert outcome.ok, outcome.message
    assert outcome.results == [[["x"]], [[1]]]


def test_a_client_starting_with_native_password_is_switched(make_server, login, request):
    if request.node.callspec.params["login"] == "pymysql":
        # PyMySQL follows the greeting's plugin, so the server names mysql_native_password.
        server = make_server(default_auth="mysql_native_password")
        extra = {}
    else:
        server = make_server()
        extra = {"nativeFirst": True}
    assert login(server, "app", APP_PASSWORD, **extra).ok
    assert login(server, "app", APP_PASSWORD, **extra).ok
    assert server.counters()["auth_switches"] == 2
    assert server.counters()["full_auth_rsa"] >= 1
    assert server.last_login["plugin"] == "mysql_native_password"


# -- PyMySQL only: controls and commands ---------------------------------------------------
def test_sql_controls_change_passwords_and_flush_the_cache(server):
    assert pymysql_login(server, "app", APP_PASSWORD).ok
    assert pymysql_login(server, "root", "root-pw", queries=[
        "ALTER USER 'app'@'%' IDENTIFIED BY 'sql-rotated'"]).ok
    assert not server.is_cached("app")
    assert_denied(pymysql_login(server, "app", APP_PASSWORD))
    assert pymysql_login(server, "app", "sql-rotated").ok

    with pymysql.connect(host="127.0.0.1", port=server.port, user="app", password="sql-rotated") as conn:
        with conn.cursor() as cursor:
            with pytest.raises(pymysql.err.OperationalError) as error:
                cursor.execute("ALTER USER 'other' IDENTIFIED BY 'x'")
            assert error.value.args[0] == 1227
            with pytest.raises(pymysql.err.OperationalError) as error:
                cursor.execute("FLUSH PRIVILEGES")
            assert error.value.args[0] == 1227
            cursor.execute("ALTER USER 'app'@'%' IDENTIFIED WITH caching_sha2_password BY 'self-set'")
    assert pymysql_login(server, "app", "self-set").ok
    assert server.is_cached("app")
    assert pymysql_login(server, "root", "root-pw", queries=["FLUSH PRIVILEGES"]).ok
    assert not server.is_cached("app") and not server.is_cached("root")


def test_show_status_exposes_the_public_key_and_counters(server):
    outcome = pymysql_login(server, "app", APP_PASSWORD, queries=[
        "SHOW STATUS LIKE 'Caching_sha2_password_rsa_public_key'", "SHOW STATUS LIKE 'Sha2test_full_auth%'"])
    assert outcome.ok
    assert outcome.results[0] == [["Caching_sha2_password_rsa_public_key", server.public_key_pem.decode()]]
    assert outcome.results[1] == [["Sha2test_full_auth_rsa", "1"], ["Sha2test_full_auth_socket", "0"],
                                  ["Sha2test_full_auth_tls", "0"]]


def test_simple_commands(server):
    with pymysql.connect(host="127.0.0.1", port=server.port, user="app", password=APP_PASSWORD,
                         database="shop", read_timeout=5) as conn:
        assert conn.get_server_info() == VERSION
        assert server.last_login["db"] == "shop"
        assert conn.get_autocommit() is False  # PyMySQL sent SET AUTOCOMMIT = 0
        conn.ping(reconnect=False)
        conn.select_db("other_db")  # COM_INIT_DB
        with conn.cursor() as cursor:
            for sql, rows in (("SELECT DATABASE()", (("other_db",),)), ("SELECT 42", ((42,),)),
                              ("SELECT @@version_comment LIMIT 1", (("sha2_server test double",),)),
                              ("select   @@VERSION", ((VERSION,),)), ("SELECT 'it''s'", (("it's",),))):
                cursor.execute(sql)
                assert cursor.fetchall() == rows, sql
            cursor.execute("SET NAMES utf8mb4")
            with pytest.raises(pymysql.err.ProgrammingError) as error:
                cursor.execute("DROP TABLE accounts")
            assert error.value.args[0] == 1064
            cursor.execute("SELECT 1")  # the connection survives an error
            assert cursor.fetchall() == ((1,),)


def test_empty_password_gets_a_plain_ok_or_1045(server, login):
    # A 01 03 here would make PyMySQL send an extra empty packet and break the login.
    assert login(server, "nopw", "", queries=["SELECT 1"]).ok
    assert_denied(login(server, "app", ""), using="NO")
    assert_paths(server, failures=1)


def test_standalone_program_serves_tls_and_stops_on_sigterm(tmp_path):
    process = subprocess.Popen([sys.executable, str(SERVER_SCRIPT), "--user", "app:pw", "--tls-dir",
                                str(tmp_path), "--public-key-out", str(tmp_path / "pub.pem")],
                               stdout=subprocess.PIPE, text=True)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=15), "no READY line"
        line = process.stdout.readline()
        assert line.startswith("READY port="), line
        port = int(line.split("=")[1])
        with pymysql.connect(host="127.0.0.1", port=port, user="app", password="pw",
                             ssl={"ca": str(tmp_path / "ca.pem")}, read_timeout=5) as conn:
            with conn.cursor() as cursor:
                cursor.execute("SHOW STATUS LIKE 'Sha2test_full_auth_tls'")
                assert cursor.fetchall() == (("Sha2test_full_auth_tls", "1"),)
        assert (tmp_path / "pub.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


# -- raw protocol checks -------------------------------------------------------------------
LONG_PASSWORD, PROTOCOL_41, SSL, TRANSACTIONS, SECURE_CONNECTION = 0x1, 0x200, 0x800, 0x2000, 0x8000
PLUGIN_AUTH, DEPRECATE_EOF = 0x80000, 0x1000000
RAW_CAPS = LONG_PASSWORD | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION | PLUGIN_AUTH
OK_AUTOCOMMIT = bytes.fromhex("00 00 00 02 00 00 00")


def sha2_scramble(password, nonce):
    """spec §3.3: SHA256(P) XOR SHA256(SHA256(SHA256(P)) || N), written here independently."""
    stage1 = hashlib.sha256(password).digest()
    mask = hashlib.sha256(hashlib.sha256(stage1).digest() + nonce).digest()
    return bytes(a ^ b for a, b in zip(stage1, mask))


def rsa_password(password, nonce, public_key_pem):
    plain = bytes(b ^ nonce[i % len(nonce)] for i, b in enumerate(password + b"\0"))
    key = serialization.load_pem_public_key(public_key_pem)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    return key.encrypt(plain, oaep)


class RawClient:
    """Blocking test client that checks every sequence id it receives."""

    def __init__(self, server):
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        self.seq = 0
        self.greeting = self.read()

    def _exact(self, size):
        buf = b""
        while len(buf) < size:
            chunk = self.sock.recv(size - len(buf))
            assert chunk, "server closed the connection"
            buf += chunk
        return buf

    def read(self):
        header = self._exact(4)
        assert header[3] == self.seq, f"sequence id {header[3]}, expected {self.seq}"
        self.seq = (self.seq + 1) & 0xFF
        return self._exact(int.from_bytes(header[:3], "little"))

    def write(self, payload, seq=None):
        seq = self.seq if seq is None else seq
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([seq]) + payload)
        self.seq = (seq + 1) & 0xFF

    def command(self, payload):
        self.seq = 0
        self.write(payload)

    def nonce(self):
        version_end = self.greeting.index(b"\0", 1)
        part1 = self.greeting[version_end + 5:version_end + 13]
        part2_start = version_end + 13 + 1 + 2 + 1 + 2 + 2 + 1 + 10
        return part1 + self.greeting[part2_start:part2_start + 12]

    def send_response(self, user, auth, caps=RAW_CAPS, plugin=b"caching_sha2_password"):
        self.write(caps.to_bytes(4, "little") + (1 << 24).to_bytes(4, "little") + bytes([255]) + bytes(23)
                   + user + b"\0" + bytes([len(auth)]) + auth + plugin + b"\0")

    def assert_closed(self):
        try:
            assert self.sock.recv(1) == b""
        except ConnectionResetError:
            pass  # closed with our unread bytes still queued: the kernel sends RST, not FIN


def rsa_login(server, caps=RAW_CAPS, password=APP_PASSWORD.encode()):
    """A cold-cache login that sends RSA ciphertext with a pinned key: no 02 request."""
    client = RawClient(server)
    client.send_response(b"app", sha2_scramble(password, client.nonce()), caps)
    assert client.read() == b"\x01\x04"
    client.write(rsa_password(password, client.nonce(), server.public_key_pem))
    return client


def err_of(payload):
    assert payload[0] == 0xFF, payload
    return int.from_bytes(payload[1:3], "little"), payload[3:].decode()


def test_greeting_looks_like_mysql_8(server, make_server):
    client = RawClient(server)
    g = client.greeting
    version_end = g.index(b"\0", 1)
    assert g[0] == 0x0A and g[1:version_end] == VERSION.encode()
    rest = g[version_end + 13:]
    caps = int.from_bytes(rest[1:3], "little") | int.from_bytes(rest[6:8], "little") << 16
    assert g[version_end + 13] == 0  # filler after nonce part 1
    assert (rest[3], rest[4:6], rest[8]) == (255, b"\x02\x00", 21)
    required = RAW_CAPS | SSL | DEPRECATE_EOF | 0x8 | 0x100000 | 0x200000  # + CONNECT_WITH_DB, ATTRS, LENENC
    assert caps & required == required
    assert caps & (0x20 | 1 << 25 | 1 << 28) == 0  # no COMPRESS, OPTIONAL_RESULTSET_METADATA, MFA
    nonce = client.nonce()
    assert len(nonce) == 20 and all(1 <= b <= 127 and b != ord("$") for b in nonce)
    assert g.endswith(nonce[8:] + b"\0caching_sha2_password\0")
    assert RawClient(server).nonce() != nonce
    plain = RawClient(make_server(tls_cert=None, tls_key=None)).greeting
    assert int.from_bytes(plain[plain.index(b"\0", 1) + 14:][:2], "little") & SSL == 0


def test_pinned_key_login_then_fast_path_bytes(server):
    client = rsa_login(server)
    assert client.read() == OK_AUTOCOMMIT
    assert_paths(server, full_auth_rsa=1)
    client = RawClient(server)
    client.send_response(b"app", sha2_scramble(APP_PASSWORD.encode(), client.nonce()))
    # spec §2.5 fast path: 01 03 at seq 2, then the OK at seq 3.
    assert (client.read(), client.seq) == (b"\x01\x03", 3)
    assert client.read() == OK_AUTOCOMMIT
    assert_paths(server, full_auth_rsa=1, fast_auth=1)


def test_cleartext_password_on_plain_tcp_is_refused(server):
    client = RawClient(server)
    client.send_response(b"app", sha2_scramble(APP_PASSWORD.encode(), client.nonce()))
    assert client.read() == b"\x01\x04"
    client.write(APP_PASSWORD.encode() + b"\0")
    assert err_of(client.read()) == (
        1045, "#28000Access denied for user 'app'@'127.0.0.1' (using password: YES)")
    client.assert_closed()
    assert not server.is_cached("app")


def test_auth_switch_carries_a_fresh_nonce(server):
    rsa_login(server).read()  # warm the cache
    client = RawClient(server)
    client.send_response(b"app", bytes(20), plugin=b"mysql_native_password")
    switch = client.read()
    assert switch[:23] == b"\xfecaching_sha2_password\0" and len(switch) == 23 + 21 and switch[-1] == 0
    nonce = switch[23:43]
    assert nonce != client.nonce()
    client.write(sha2_scramble(APP_PASSWORD.encode(), nonce))
    assert client.read() == b"\x01\x03"
    assert client.read() == OK_AUTOCOMMIT


@pytest.mark.parametrize("deprecate_eof", [False, True])
def test_resultset_framing(server, deprecate_eof):
    client = rsa_login(server, RAW_CAPS | (DEPRECATE_EOF if deprecate_eof else 0))
    assert client.read() == OK_AUTOCOMMIT
    client.command(b"\x03SELECT 'x'")
    assert client.read() == b"\x01"
    column = client.read()
    assert column.startswith(b"\x03def\x00\x00\x00\x01x\x00\x0c") and column[-6] == 0xFD
    if not deprecate_eof:
        assert client.read() == b"\xfe\x00\x00\x02\x00"
    assert client.read() == b"\x01x"
    assert client.read() == (b"\xfe\x00\x00\x02\x00\x00\x00" if deprecate_eof else b"\xfe\x00\x00\x02\x00")


def test_command_errors_keep_the_connection(server):
    client = rsa_login(server)
    client.read()
    client.command(b"\x1b\x00\x00")  # COM_SET_OPTION: not served
    assert err_of(client.read()) == (1047, "#08S01Unknown command")
    client.command(b"\x0e")
    assert client.read() == OK_AUTOCOMMIT
    client.command(b"\x1f")  # COM_RESET_CONNECTION
    assert client.read() == OK_AUTOCOMMIT
    client.command(b"\x03DELETE FROM t")
    assert err_of(client.read())[0] == 1064
    client.command(b"\x01")
    client.assert_closed()


def test_a_command_split_over_two_frames_is_reassembled(server):
    client = rsa_login(server)
    client.read()
    # A payload that fills a frame exactly must be followed by an empty frame (spec §1).
    client.command(b"\x03SELECT 7" + b" " * (0xFFFFFF - 9))
    client.write(b"")
    assert client.seq == 2  # the response continues after the two frames
    assert client.read() == b"\x01"
    client.read()
    client.read()
    assert client.read() == b"\x017"


@pytest.mark.parametrize("name, send, code, message", [
    ("out of order", lambda c: c.write(bytes(40), seq=5), 1156, "Got packets out of order"),
    ("too big", lambda c: c.sock.sendall((1 << 20).to_bytes(3, "little") + b"\x01"), 1153,
     "Got a packet bigger than 'max_allowed_packet' bytes"),
    ("garbage", lambda c: c.write(RAW_CAPS.to_bytes(4, "little") + b"\xff" * 40), 1043,
     "#08S01Bad handshake"),
    ("response 320", lambda c: c.write(b"\x05\x00\x00\x00\x00app\x00"), 1251,
     "Client does not support authentication protocol requested by server; consider upgrading MySQL client"),
])
def test_bad_handshake_input_gets_a_clean_error_and_close(server, name, send, code, message):
    client = RawClient(server)
    send(client)
    client.seq = None  # the ERR's sequence id is not what this checks
    header = client._exact(4)
    assert err_of(client._exact(int.from_bytes(header[:3], "little"))) == (code, message), name
    client.assert_closed()
    assert server.counters()["protocol_errors"] == 1


def test_ssl_request_to_a_server_without_tls_is_refused(make_server):
    client = RawClient(make_server(tls_cert=None, tls_key=None))
    client.write((RAW_CAPS | SSL).to_bytes(4, "little") + bytes(28))
    assert err_of(client.read())[0] == 1043
    client.assert_closed()


def test_idle_session_gets_4031_after_wait_timeout(make_server):
    client = rsa_login(make_server(wait_timeout=0.2))
    assert client.read() == OK_AUTOCOMMIT
    client.seq = 0
    code, message = err_of(client.read())  # bounded by the client's 5 s socket timeout
    assert (code, message[:6]) == (4031, "#HY000")
    client.assert_closed()
