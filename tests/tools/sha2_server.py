#!/usr/bin/python3
"""A MySQL 8.0 stand-in that speaks the server side of caching_sha2_password.

MariaDB, the test database, has no caching_sha2_password server plugin
(spec/mysql-protocol.md §8), so camproxy's upstream login paths are tested against
this server instead (spec §2.1-2.6 server side, §3.3 client side):

* fast auth: the account is cached and the 32-byte scramble verifies -> `01 03`, OK.
* otherwise `01 04` (perform full auth), then
  - TLS or unix socket: the client sends `password\\0` in clear;
  - plain TCP: the client may send `02` -> `01` + PEM public key; then it sends
    RSA-OAEP(SHA-1) of (`password\\0` XOR nonce). Cleartext is never accepted here.
  Success caches SHA256(SHA256(password)) for the account, as MySQL does.
* a client that starts with another plugin gets an AuthSwitchRequest (fresh nonce).
* wrong password -> ERR 1045 #28000, connection closed.

Changing a password evicts that account's cache entry (mysql-server
sql/auth/sha2_password.cc does the same), so the next login takes full auth again.

Controls: `Sha2Server.set_password(user, password)` / `.flush_cache()`, or SQL from a
logged-in session: `ALTER USER 'u'[@'h'] IDENTIFIED [WITH plugin] BY 'pw'` (own
account; any account for an --admin user) and `FLUSH PRIVILEGES` (admin only; empties
the whole cache, like MySQL). Counters: `Sha2Server.counters()` or
`SHOW STATUS LIKE 'Sha2test_%'`; the RSA key: `Sha2Server.public_key_pem`, `--public-key-out`
or `SHOW STATUS LIKE 'Caching_sha2_password_rsa_public_key'`.

After login: COM_QUERY (statements in `_Session._QUERIES`; anything else -> ERR 1064),
COM_PING, COM_INIT_DB, COM_RESET_CONNECTION -> OK, COM_QUIT -> close, other commands ->
ERR 1047. Resultsets end with EOF or, under DEPRECATE_EOF, with an `FE` OK. With a
wait_timeout, an idle session gets ERR 4031 and is closed, like MySQL 8.0.24+.

Standalone: /usr/bin/python3 sha2_server.py --user camtest:secret [--tls-dir DIR] --port 0
prints `READY port=N` once listening; SIGTERM or SIGINT stops it.
"""

import argparse
import datetime
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import select
import signal
import socket
import ssl
import threading
from collections import namedtuple
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

SHA2_PLUGIN = "caching_sha2_password"
NATIVE_PLUGIN = "mysql_native_password"
DEFAULT_VERSION = "8.0.36-sha2test"

# Capability flags (spec §2.2).
CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_SSL = 1 << 11
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_CONNECT_ATTRS = 1 << 20
CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21
CLIENT_SESSION_TRACK = 1 << 23
CLIENT_DEPRECATE_EOF = 1 << 24
CLIENT_QUERY_ATTRIBUTES = 1 << 27
# What MySQL 8.0 offers, minus COMPRESS, OPTIONAL_RESULTSET_METADATA and multi-factor
# auth: LONG_PASSWORD FOUND_ROWS LONG_FLAG CONNECT_WITH_DB LOCAL_FILES IGNORE_SPACE
# PROTOCOL_41 INTERACTIVE TRANSACTIONS SECURE_CONNECTION MULTI_STATEMENTS MULTI_RESULTS
# PS_MULTI_RESULTS PLUGIN_AUTH CONNECT_ATTRS LENENC_CLIENT_DATA CAN_HANDLE_EXPIRED_PASSWORDS
# SESSION_TRACK DEPRECATE_EOF QUERY_ATTRIBUTES (+ SSL when a certificate is configured).
ADVERTISED_CAPS = 0x01FFA78F | CLIENT_QUERY_ATTRIBUTES

STATUS_IN_TRANS = 0x0001
STATUS_AUTOCOMMIT = 0x0002
COLLATION_UTF8MB4_0900 = 255
MAX_FRAME = 0xFFFFFF
AUTH_PACKET_LIMIT = 64 * 1024  # nothing in a login is legitimately bigger
MAX_PLAINTEXT_PASSWORD = 256  # sha2_password.cc MAX_PLAINTEXT_LENGTH
COM_QUIT, COM_INIT_DB, COM_QUERY, COM_PING, COM_RESET_CONNECTION = 0x01, 0x02, 0x03, 0x0E, 0x1F
TYPE_LONGLONG, TYPE_VAR_STRING = 0x08, 0xFD
COUNTER_NAMES = ("connections", "logins", "fast_auth", "full_auth_tls", "full_auth_socket",
                 "full_auth_rsa", "key_requests", "auth_switches", "failures", "protocol_errors")

Column = namedtuple("Column", "name type charset length flags decimals")
TlsFiles = namedtuple("TlsFiles", "ca cert key")


class MysqlError(Exception):
    """An ERR packet to send. `fatal` closes the connection; `counter` is bumped."""

    def __init__(self, code, sqlstate, message, fatal=True, counter="protocol_errors"):
        super().__init__(message)
        self.code, self.sqlstate, self.message = code, sqlstate, message
        self.fatal, self.counter = fatal, counter


class MalformedPacket(Exception):
    """A field ran past the end of its packet."""


def lenenc_int(value):
    if value < 0xFB:
        return bytes([value])
    for prefix, size in ((0xFC, 2), (0xFD, 3), (0xFE, 8)):
        if value < 1 << (8 * size):
            return bytes([prefix]) + value.to_bytes(size, "little")
    raise ValueError("lenenc value too large")


def lenenc_str(data):
    return lenenc_int(len(data)) + data


class Reader:
    """Bounds-checked cursor over one payload; every overrun raises MalformedPacket."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def at_end(self):
        return self.pos >= len(self.data)

    def take(self, size):
        if self.pos + size > len(self.data):
            raise MalformedPacket()
        self.pos += size
        return self.data[self.pos - size:self.pos]

    def int(self, size):
        return int.from_bytes(self.take(size), "little")

    def lenenc(self):
        first = self.int(1)
        sizes = {0xFC: 2, 0xFD: 3, 0xFE: 8}
        if first < 0xFB:
            return first
        if first not in sizes:  # FB (NULL) and FF are no lengths
            raise MalformedPacket()
        return self.int(sizes[first])

    def lenenc_str(self):
        return self.take(self.lenenc())

    def nul_str(self):
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise MalformedPacket()
        return self.take(end - self.pos + 1)[:-1]

    def rest(self):
        return self.take(len(self.data) - self.pos)


def make_nonce():
    """spec §2.1: 20 CSPRNG bytes masked to 1..127, never NUL or '$' (generate_user_salt)."""
    return bytes(b + 1 if b in (0, 0x24) else b for b in (x & 0x7F for x in secrets.token_bytes(20)))


def _sha256(data):
    return hashlib.sha256(data).digest()


def _xor(data, key):
    return bytes(b ^ key[i % len(key)] for i, b in enumerate(data))


def _as_bytes(password):
    return password.encode() if isinstance(password, str) else bytes(password)


class Accounts:
    """Passwords plus the caching_sha2 cache (user -> SHA256(SHA256(password)))."""

    def __init__(self, users):
        self._lock = threading.Lock()
        self._passwords = {name: _as_bytes(pw) for name, pw in users.items()}
        self._cache = {}

    def set_password(self, user, password):
        with self._lock:
            self._passwords[user] = _as_bytes(password)
            self._cache.pop(user, None)

    def exists(self, user):
        with self._lock:
            return user in self._passwords

    def flush(self):
        with self._lock:
            self._cache.clear()

    def is_cached(self, user):
        with self._lock:
            return user in self._cache

    def empty_password_ok(self, user):
        with self._lock:
            return self._passwords.get(user) == b""

    def fast_auth(self, user, nonce, response):
        """spec §2.6: X = R XOR SHA256(S2 || N); ok iff SHA256(X) == S2 (cached S2 only)."""
        with self._lock:
            digest = self._cache.get(user)
        if digest is None or len(response) != 32:
            return False
        return hmac.compare_digest(_sha256(_xor(response, _sha256(digest + nonce))), digest)

    def full_auth(self, user, password):
        with self._lock:
            expected = self._passwords.get(user)
            ok = expected is not None and hmac.compare_digest(expected, password)
            if ok:
                self._cache[user] = _sha256(_sha256(password))
            return ok


class _Session:
    """One client connection: handshake, authentication, then the command loop."""

    def __init__(self, server, sock, host, unix):
        self.server, self.sock, self.host, self.unix = server, sock, host, unix
        self.accounts = server.accounts
        self.tls = False
        self.seq = 0
        self.caps = 0  # 0 until the HandshakeResponse: ERR packets then omit #sqlstate
        self.collation = COLLATION_UTF8MB4_0900
        self.user, self.db = "", None
        self.autocommit, self.in_trans = True, False
        self.conn_id = server._next_connection_id()
        self.nonce = make_nonce()

    # -- framing (spec §1) --------------------------------------------------
    def _recv_exact(self, size):
        buf = bytearray()
        while len(buf) < size:
            chunk = self.sock.recv(min(size - len(buf), 1 << 20))
            if not chunk:
                raise EOFError()
            buf += chunk
        return bytes(buf)

    def read_packet(self, limit):
        payload = bytearray()
        while True:
            header = self._recv_exact(4)
            length = int.from_bytes(header[:3], "little")
            if header[3] != self.seq:
                raise MysqlError(1156, "08S01", "Got packets out of order")
            self.seq = (self.seq + 1) & 0xFF
            if len(payload) + length > limit:  # refuse before reading the body
                raise MysqlError(1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes")
            payload += self._recv_exact(length)
            if length < MAX_FRAME:
                return bytes(payload)

    def write_packet(self, payload):
        out, pos = bytearray(), 0
        while True:  # a payload that fills its last frame needs an empty one after it
            chunk = payload[pos:pos + MAX_FRAME]
            out += len(chunk).to_bytes(3, "little") + bytes([self.seq]) + chunk
            self.seq, pos = (self.seq + 1) & 0xFF, pos + len(chunk)
            if len(chunk) < MAX_FRAME:
                break
        self.sock.sendall(out)

    def _send_err(self, error):
        state = b"#" + error.sqlstate.encode() if self.caps & CLIENT_PROTOCOL_41 else b""
        try:
            self.write_packet(b"\xff" + error.code.to_bytes(2, "little") + state + error.message.encode())
        except OSError:
            pass

    def _status(self):
        return (STATUS_AUTOCOMMIT if self.autocommit else 0) | (STATUS_IN_TRANS if self.in_trans else 0)

    def _ok(self, header=0x00):
        # spec §4.1; MySQL omits the SESSION_TRACK info when it is empty and nothing changed.
        return bytes([header, 0, 0]) + self._status().to_bytes(2, "little") + b"\0\0"

    def _eof(self):
        return b"\xfe\0\0" + self._status().to_bytes(2, "little")

    # -- lifecycle ------------------------------------------------------------
    def run(self):
        self.server.counters.bump("connections")
        try:
            self.sock.settimeout(self.server.connect_timeout)
            self._login()
            self.sock.settimeout(self.server.wait_timeout)
            self._serve_commands()
        except MysqlError as error:
            if error.counter:
                self.server.counters.bump(error.counter)
            self._send_err(error)
        except (EOFError, OSError, ssl.SSLError):
            pass  # client went away, timed out, or broke TLS
        finally:
            self.sock.close()
            self.server._forget(self)

    def abort(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- handshake (spec §2.1-2.5) ---------------------------------------------
    def _greeting(self):
        caps = self.server.advertised_caps
        return (b"\x0a" + self.server.version.encode() + b"\0" + self.conn_id.to_bytes(4, "little")
                + self.nonce[:8] + b"\0" + (caps & 0xFFFF).to_bytes(2, "little")
                + bytes([COLLATION_UTF8MB4_0900]) + self._status().to_bytes(2, "little")
                + (caps >> 16).to_bytes(2, "little") + bytes([21]) + bytes(10)
                + self.nonce[8:] + b"\0" + self.server.default_auth.encode() + b"\0")

    def _read_handshake_response(self):
        packet = self.read_packet(AUTH_PACKET_LIMIT)
        if not int.from_bytes(packet[:2], "little") & CLIENT_PROTOCOL_41:
            # HandshakeResponse320: old-format ERR (self.caps is still 0), as mysqld does.
            raise MysqlError(1251, "08004", "Client does not support authentication protocol "
                             "requested by server; consider upgrading MySQL client")
        client_flags = int.from_bytes(packet[:4], "little")
        if client_flags & CLIENT_SSL and not self.tls:
            # spec §2.3: an SSLRequest is the first 32 bytes of a response, with the SSL bit.
            if len(packet) != 32 or self.server.ssl_context is None:
                raise MysqlError(1043, "08S01", "Bad handshake")
            self.sock = self.server.ssl_context.wrap_socket(self.sock, server_side=True)
            self.tls = True
            packet = self.read_packet(AUTH_PACKET_LIMIT)
        return packet

    def _login(self):
        self.write_packet(self._greeting())
        packet = self._read_handshake_response()
        try:
            login = self._parse_handshake_response(packet)
        except MalformedPacket:
            raise MysqlError(1043, "08S01", "Bad handshake") from None
        self.user = login["user"]
        self._authenticate(login["plugin"], login.pop("auth_response"))
        self.db = login["db"]
        self.write_packet(self._ok())
        self.server._record_login(dict(login, tls=self.tls, unix=self.unix, connection_id=self.conn_id))

    def _parse_handshake_response(self, packet):
        """spec §2.4; missing trailing fields count as absent."""
        r = Reader(packet)
        client_flags = r.int(4)
        self.caps = client_flags & self.server.advertised_caps
        max_packet, self.collation = r.int(4), r.int(1)
        r.take(23)
        user = r.nul_str().decode("utf-8", "replace")
        if self.caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
            auth_response = r.lenenc_str()
        elif self.caps & CLIENT_SECURE_CONNECTION:
            auth_response = r.take(r.int(1))
        else:
            auth_response = r.nul_str()
        db = plugin = None
        if self.caps & CLIENT_CONNECT_WITH_DB and not r.at_end():
            db = r.nul_str().decode("utf-8", "replace")
        if self.caps & CLIENT_PLUGIN_AUTH and not r.at_end():
            plugin = r.nul_str().decode("ascii", "replace")
        attrs = {}
        if self.caps & CLIENT_CONNECT_ATTRS and not r.at_end():
            attr_reader = Reader(r.lenenc_str())
            while not attr_reader.at_end():
                key = attr_reader.lenenc_str().decode("utf-8", "replace")
                attrs[key] = attr_reader.lenenc_str().decode("utf-8", "replace")
        return dict(user=user, client_flags=client_flags, caps=self.caps, max_packet=max_packet,
                    collation=self.collation, auth_response=auth_response, db=db or None,
                    plugin=plugin or "", attrs=attrs)

    # -- caching_sha2_password server side (spec §2.5, §2.6, §3.3) -------------
    def _authenticate(self, plugin, response):
        counters = self.server.counters
        if plugin != SHA2_PLUGIN:
            # Every account here uses caching_sha2; like MySQL 8, answer any other starting
            # plugin (native, sha256, none) with a switch. A fresh nonce proves the client
            # scrambles with the switch's nonce, not the greeting's.
            self.nonce = make_nonce()
            counters.bump("auth_switches")
            self.write_packet(b"\xfe" + SHA2_PLUGIN.encode() + b"\0" + self.nonce + b"\0")
            response = self.read_packet(AUTH_PACKET_LIMIT)
        if response in (b"", b"\0"):
            # Empty password: a plain OK follows (no 01 03), or 1045 "using password: NO".
            if not self.accounts.empty_password_ok(self.user):
                self._deny(using_password=False)
        elif self.accounts.fast_auth(self.user, self.nonce, response):
            counters.bump("fast_auth")
            self.write_packet(b"\x01\x03")
        else:
            # Not cached or no match: perform_full_authentication (sha2_password.cc).
            self.write_packet(b"\x01\x04")
            password, path = self._full_auth_password()
            if password is None or not self.accounts.full_auth(self.user, password):
                self._deny(using_password=True)
            counters.bump(path)
        counters.bump("logins")

    def _full_auth_password(self):
        """Return (password or None, counter name of the path taken)."""
        packet = self.read_packet(AUTH_PACKET_LIMIT)
        if self.tls or self.unix:
            path = "full_auth_tls" if self.tls else "full_auth_socket"
            if not packet.endswith(b"\0") or len(packet) > MAX_PLAINTEXT_PASSWORD + 1:
                return None, path
            return packet[:-1], path
        if packet == b"\x02":  # request_public_key
            self.server.counters.bump("key_requests")
            self.write_packet(b"\x01" + self.server.public_key_pem)
            packet = self.read_packet(AUTH_PACKET_LIMIT)
        # Plain TCP: only ciphertext of exactly the modulus size; a cleartext password fails.
        key = self.server.rsa_key
        if len(packet) != key.key_size // 8:
            return None, "full_auth_rsa"
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
        try:
            plain = _xor(key.decrypt(packet, oaep), self.nonce)
        except ValueError:
            return None, "full_auth_rsa"
        return (plain[:-1] if plain.endswith(b"\0") else None), "full_auth_rsa"

    def _deny(self, using_password):
        raise MysqlError(1045, "28000", f"Access denied for user '{self.user}'@'{self.host}' "
                         f"(using password: {'YES' if using_password else 'NO'})", counter="failures")

    # -- command phase (spec §4) -----------------------------------------------
    def _serve_commands(self):
        handlers = {COM_QUERY: self._com_query, COM_PING: self._com_ok,
                    COM_INIT_DB: self._com_init_db, COM_RESET_CONNECTION: self._com_reset}
        while True:
            self.seq = 0
            try:
                packet = self.read_packet(self.server.max_packet)
            except TimeoutError:
                # wait_timeout: MySQL 8.0.24+ says why before it closes (spec §7.1).
                self._send_err(MysqlError(4031, "HY000", "The client was disconnected by the server "
                                          "because of inactivity. See wait_timeout and "
                                          "interactive_timeout for configuring this behavior."))
                return
            if packet[:1] == bytes([COM_QUIT]):
                return
            handler = handlers.get(packet[0]) if packet else None
            try:
                if handler is None:
                    raise MysqlError(1047, "08S01", "Unknown command", fatal=False)
                handler(packet[1:])
            except MalformedPacket:
                self.server.counters.bump("protocol_errors")
                self._send_err(MysqlError(1835, "HY000", "Malformed communication packet."))
            except MysqlError as error:
                if error.fatal:
                    raise
                if error.counter:
                    self.server.counters.bump(error.counter)
                self._send_err(error)

    def _com_ok(self, _body):
        self.write_packet(self._ok())

    def _com_init_db(self, body):
        self.db = body.decode("utf-8", "replace")
        self.write_packet(self._ok())

    def _com_reset(self, _body):
        # spec §5.1: back to autocommit, no transaction; the schema is kept.
        self.autocommit, self.in_trans = True, False
        self.write_packet(self._ok())

    def _com_query(self, body):
        r = Reader(body)
        if self.caps & CLIENT_QUERY_ATTRIBUTES:
            parameter_count = r.lenenc()
            r.lenenc()  # parameter_set_count, always 1
            if parameter_count:
                raise MysqlError(1235, "42000", "This server doesn't support query attributes", fatal=False)
        sql = r.rest().decode("utf-8", "replace").strip().rstrip(";").strip()
        for pattern, handler in self._QUERIES:
            match = re.fullmatch(pattern, sql, re.IGNORECASE | re.DOTALL)
            if match:
                return handler(self, match)
        # The statement is not echoed: it may hold a password (ALTER USER).
        raise MysqlError(1064, "42000", "You have an error in your SQL syntax; sha2_server "
                         "understands only a few statements", fatal=False, counter=None)

    def _send_resultset(self, columns, rows):
        """spec §4.4: count, column defs, [EOF], text rows, EOF or FE-OK under DEPRECATE_EOF."""
        deprecate_eof = self.caps & CLIENT_DEPRECATE_EOF
        self.write_packet(lenenc_int(len(columns)))
        for c in columns:
            self.write_packet(b"".join(lenenc_str(s) for s in (b"def", b"", b"", b"", c.name.encode(), b""))
                              + b"\x0c" + c.charset.to_bytes(2, "little") + c.length.to_bytes(4, "little")
                              + bytes([c.type]) + c.flags.to_bytes(2, "little") + bytes([c.decimals, 0, 0]))
        if not deprecate_eof:
            self.write_packet(self._eof())
        for row in rows:
            self.write_packet(b"".join(b"\xfb" if v is None else lenenc_str(str(v).encode()) for v in row))
        self.write_packet(self._ok(0xFE) if deprecate_eof else self._eof())

    def _text_column(self, name, nullable=False):
        return Column(name, TYPE_VAR_STRING, self.collation, 1024, 0 if nullable else 1, 0x1F)

    def _select_value(self, name, value, nullable=False):
        self._send_resultset([self._text_column(name, nullable)], [[value]])

    def _q_int(self, m):
        self._send_resultset([Column(m[1], TYPE_LONGLONG, 63, len(m[1]), 0x81, 0)], [[int(m[1])]])

    def _q_text(self, m):
        value = _unquote(m[1])
        self._select_value(value, value)

    def _q_autocommit(self, m):
        self.autocommit = m[1].lower() in ("1", "on", "true")
        self.in_trans = self.in_trans and not self.autocommit
        self.write_packet(self._ok())

    def _q_transaction(self, m):
        self.in_trans = m[1].lower().startswith(("begin", "start"))
        self.write_packet(self._ok())

    def _q_alter_user(self, m):
        target = _unquote(m[1])
        if target != self.user and self.user not in self.server.admins:
            raise MysqlError(1227, "42000", "Access denied; you need (at least one of) the "
                             "CREATE USER privilege(s) for this operation", fatal=False, counter=None)
        if not self.accounts.exists(target):
            raise MysqlError(1396, "HY000", f"Operation ALTER USER failed for '{target}'@'%'",
                             fatal=False, counter=None)
        self.accounts.set_password(target, _unquote(m[2]))
        self.write_packet(self._ok())

    def _q_flush(self, _m):
        if self.user not in self.server.admins:
            raise MysqlError(1227, "42000", "Access denied; you need (at least one of) the "
                             "RELOAD privilege(s) for this operation", fatal=False, counter=None)
        self.accounts.flush()
        self.write_packet(self._ok())

    def _q_show_status(self, m):
        pattern = re.escape(_unquote(m[1] or "%")).replace("%", ".*").replace("_", ".")
        values = {"Caching_sha2_password_rsa_public_key": self.server.public_key_pem.decode()}
        values.update((f"Sha2test_{k}", v) for k, v in self.server.counters().items())
        rows = [[k, v] for k, v in sorted(values.items()) if re.fullmatch(pattern, k, re.IGNORECASE)]
        self._send_resultset([self._text_column("Variable_name"), self._text_column("Value")], rows)

    _STRING = r"'((?:[^'\\]|\\.|'')*)'"
    _QUERIES = (
        (r"select\s+(-?\d{1,18})", _q_int),
        (r"select\s+" + _STRING, _q_text),
        (r"select\s+@@version_comment\s+limit\s+1",
         lambda s, m: s._select_value("@@version_comment", "sha2_server test double")),
        (r"select\s+@@version", lambda s, m: s._select_value("@@version", s.server.version)),
        (r"select\s+connection_id\(\)", lambda s, m: s._select_value("CONNECTION_ID()", s.conn_id)),
        (r"select\s+database\(\)", lambda s, m: s._select_value("DATABASE()", s.db, nullable=True)),
        (r"select\s+current_user\(\)", lambda s, m: s._select_value("CURRENT_USER()", f"{s.user}@%")),
        (r"set\s+(?:@@session\.|session\s+)?autocommit\s*=\s*(0|1|on|off|true|false)", _q_autocommit),
        (r"set\s+.*", lambda s, m: s._com_ok(b"")),
        (r"(begin|start\s+transaction|commit|rollback)", _q_transaction),
        (r"alter\s+user\s+" + _STRING + r"(?:\s*@\s*'[^']*')?\s+identified\s+(?:with\s+\w+\s+)?by\s+"
         + _STRING, _q_alter_user),
        (r"flush\s+privileges", _q_flush),
        (r"show\s+(?:global\s+|session\s+)?status(?:\s+like\s+" + _STRING + r")?", _q_show_status),
    )


def _unquote(literal):
    return re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", literal)


class _Counters:
    def __init__(self):
        self._lock = threading.Lock()
        self._values = dict.fromkeys(COUNTER_NAMES, 0)

    def bump(self, name):
        with self._lock:
            self._values[name] += 1

    def __call__(self):
        with self._lock:
            return dict(self._values)


class Sha2Server:
    """The server; `with Sha2Server({'u': 'pw'}) as s:` listens on 127.0.0.1:`s.port`.

    users: {name: password}; admins: names allowed ALTER USER on others and FLUSH
    PRIVILEGES; tls_cert/tls_key: PEM files, enable CLIENT_SSL; rsa_key_pem: PEM private
    key (default: fresh RSA 2048); unix_socket: optional path of a second listener;
    default_auth: plugin named in the greeting (mysql_native_password makes every login
    go through AuthSwitchRequest, like a MySQL 8 with that default); connect_timeout: seconds
    for the login; wait_timeout: idle seconds after login before ERR 4031 and close (None:
    never).
    """

    def __init__(self, users, *, admins=(), tls_cert=None, tls_key=None, rsa_key_pem=None,
                 unix_socket=None, host="127.0.0.1", port=0, version=DEFAULT_VERSION,
                 default_auth=SHA2_PLUGIN, max_packet=64 << 20, connect_timeout=10.0, wait_timeout=None):
        if default_auth not in (SHA2_PLUGIN, NATIVE_PLUGIN):
            raise ValueError(f"default_auth must be {SHA2_PLUGIN} or {NATIVE_PLUGIN}")
        self.accounts = Accounts(users)
        self.admins = frozenset(admins)
        self.counters = _Counters()
        self.version, self.default_auth = version, default_auth
        self.max_packet = max_packet
        self.connect_timeout, self.wait_timeout = connect_timeout, wait_timeout
        self.host, self._requested_port, self.unix_socket = host, port, unix_socket
        self.ssl_context = None
        if tls_cert:
            self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
            self.ssl_context.load_cert_chain(tls_cert, tls_key)
        self.advertised_caps = ADVERTISED_CAPS | (CLIENT_SSL if self.ssl_context else 0)
        self.rsa_key = (serialization.load_pem_private_key(rsa_key_pem, password=None) if rsa_key_pem
                        else rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.public_key_pem = self.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._lock = threading.Lock()
        self._sessions = set()
        self._listeners, self._accept_thread, self._wake = [], None, None
        self._connection_ids = 0
        self._last_login = None
        self.port = None

    # -- controls ---------------------------------------------------------------
    def set_password(self, user, password):
        """Create or change an account; evicts its cache entry like MySQL."""
        self.accounts.set_password(user, password)

    def flush_cache(self):
        """Like FLUSH PRIVILEGES: every account needs full auth again."""
        self.accounts.flush()

    def is_cached(self, user):
        return self.accounts.is_cached(user)

    @property
    def last_login(self):
        """The last successful login: user, client_flags, caps, collation, db, plugin, attrs, tls..."""
        with self._lock:
            return dict(self._last_login) if self._last_login else None

    # -- lifecycle ----------------------------------------------------------------
    def start(self):
        tcp = socket.create_server((self.host, self._requested_port))
        self._listeners.append((tcp, False))
        self.port = tcp.getsockname()[1]
        if self.unix_socket:
            if os.path.exists(self.unix_socket):
                os.unlink(self.unix_socket)
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix.bind(self.unix_socket)
            unix.listen()
            self._listeners.append((unix, True))
        for listener, _ in self._listeners:
            listener.setblocking(False)
        self._wake = os.pipe()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="sha2-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self):
        if self._accept_thread is None:
            return
        os.write(self._wake[1], b"x")
        self._accept_thread.join()
        self._accept_thread = None
        for listener, _ in self._listeners:
            listener.close()
        self._listeners.clear()
        for fd in self._wake:
            os.close(fd)
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.abort()
        for session in sessions:
            session.thread.join(timeout=5)
        if self.unix_socket and os.path.exists(self.unix_socket):
            os.unlink(self.unix_socket)

    def __enter__(self):
        return self.start()

    def __exit__(self, *_exc):
        self.stop()

    def _accept_loop(self):
        by_fd = {listener.fileno(): (listener, unix) for listener, unix in self._listeners}
        while True:
            ready, _, _ = select.select(list(by_fd) + [self._wake[0]], [], [])
            if self._wake[0] in ready:
                return
            for fd in ready:
                listener, unix = by_fd[fd]
                try:
                    sock, address = listener.accept()
                except BlockingIOError:
                    continue
                session = _Session(self, sock, "localhost" if unix else address[0], unix)
                session.thread = threading.Thread(target=session.run, name="sha2-session", daemon=True)
                with self._lock:
                    self._sessions.add(session)
                session.thread.start()

    def _forget(self, session):
        with self._lock:
            self._sessions.discard(session)

    def _next_connection_id(self):
        with self._lock:
            self._connection_ids += 1
            return self._connection_ids

    def _record_login(self, login):
        with self._lock:
            self._last_login = login


def write_throwaway_pki(directory):
    """Write a throwaway CA and a server certificate for 127.0.0.1/localhost into directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sha2_server test CA")])
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def certificate(subject, public_key, is_ca, extensions):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=7))
                   .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    ca = certificate(ca_name, ca_key.public_key(), True, [])
    server = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
                         server_key.public_key(), False,
                         [x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])])
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description="caching_sha2_password test server (MySQL 8.0 stand-in)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (printed)")
    parser.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD",
                        help="account (repeatable); the password may be empty")
    parser.add_argument("--admin", action="append", default=[], metavar="NAME",
                        help="account allowed ALTER USER on others and FLUSH PRIVILEGES")
    parser.add_argument("--tls-cert", help="PEM certificate: enables TLS")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--tls-dir", help="write a throwaway CA (ca.pem) and certificate here and use them")
    parser.add_argument("--rsa-key", help="PEM RSA private key (default: a fresh 2048-bit key)")
    parser.add_argument("--public-key-out", help="write the RSA public key (PEM) here, for pinning")
    parser.add_argument("--unix-socket", help="also listen on this unix socket path")
    parser.add_argument("--default-auth", default=SHA2_PLUGIN, choices=(SHA2_PLUGIN, NATIVE_PLUGIN))
    parser.add_argument("--version-string", default=DEFAULT_VERSION)
    parser.add_argument("--max-packet", type=int, default=64 << 20, help="largest command payload accepted")
    parser.add_argument("--wait-timeout", type=float, help="idle seconds before ERR 4031 and close (default: never)")
    args = parser.parse_args(argv)
    users = {}
    for spec in args.user:
        name, sep, password = spec.partition(":")
        if not sep or not name:
            parser.error(f"--user wants NAME:PASSWORD, got {name!r}")
        users[name] = password
    cert, key = args.tls_cert, args.tls_key
    if args.tls_dir:
        pki = write_throwaway_pki(args.tls_dir)
        cert, key = str(pki.cert), str(pki.key)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with Sha2Server(users, admins=args.admin, tls_cert=cert, tls_key=key,
                    rsa_key_pem=Path(args.rsa_key).read_bytes() if args.rsa_key else None,
                    unix_socket=args.unix_socket, host=args.host, port=args.port,
                    version=args.version_string, default_auth=args.default_auth,
                    max_packet=args.max_packet, wait_timeout=args.wait_timeout) as server:
        if args.public_key_out:
            Path(args.public_key_out).write_bytes(server.public_key_pem)
        print(f"READY port={server.port}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
