"""A MySQL client on a raw socket, for tests that compare bytes a driver hides: the login
OK's status flags and session-state information, an ERR after an idle close.

    c = RawClient.login(port, user, password, database="camdb", caps=kSessionTrack)
    c.login_ok      # OkPacket (status, info, the session-state entries)
    c.query("SELECT 1")  # Ok / Err / rows (text protocol, DEPRECATE_EOF off)

Plaintext, mysql_native_password only (the test MariaDB's accounts and camproxy's login
without local authentication both take it); a greeting asking for another plugin is
answered through the AuthSwitchRequest.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from dataclasses import dataclass, field

# Capability bits (spec/mysql-protocol.md §2.2).
kLongPassword = 0x1
kLongFlag = 0x4
kConnectWithDb = 0x8
kProtocol41 = 0x200
kTransactions = 0x2000
kSecureConnection = 0x8000
kMultiResults = 0x20000
kPluginAuth = 0x80000
kPluginAuthLenenc = 0x200000
kSessionTrack = 0x800000
kBaseCaps = (kLongPassword | kLongFlag | kProtocol41 | kTransactions | kSecureConnection | kMultiResults
             | kPluginAuth | kPluginAuthLenenc)

kSessionStateChanged = 0x4000

# The SCHEMA session-state entry's type (§4.1, SESSION_TRACK).
kTrackSchema = 1


def lenenc(data: bytes, pos: int) -> tuple[int, int]:
    first = data[pos]
    if first < 0xFB:
        return first, pos + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
    return int.from_bytes(data[pos + 1:pos + 1 + size], "little"), pos + 1 + size


def lenenc_str(data: bytes, pos: int) -> tuple[bytes, int]:
    size, pos = lenenc(data, pos)
    return data[pos:pos + size], pos + size


def put_lenenc_str(data: bytes) -> bytes:
    assert len(data) < 0xFB
    return bytes([len(data)]) + data


@dataclass
class OkPacket:
    affected_rows: int
    last_insert_id: int
    status: int
    warnings: int
    info: bytes
    state: bytes  # the raw session_state_info
    entries: list[tuple[int, bytes]] = field(default_factory=list)  # (type, data), in order

    def tracked(self, kind: int) -> list[bytes]:
        return [data for t, data in self.entries if t == kind]

    def schema(self) -> str | None:
        found = self.tracked(kTrackSchema)
        return lenenc_str(found[-1], 0)[0].decode() if found else None


@dataclass
class ErrPacket:
    code: int
    sql_state: str
    message: str


def parse_ok(payload: bytes, caps: int) -> OkPacket:
    assert payload[0] in (0x00, 0xFE), payload.hex()
    affected, pos = lenenc(payload, 1)
    insert_id, pos = lenenc(payload, pos)
    status, warnings = struct.unpack_from("<HH", payload, pos)
    pos += 4
    info, state = b"", b""
    if pos < len(payload):
        if caps & kSessionTrack:
            info, pos = lenenc_str(payload, pos)
            if status & kSessionStateChanged:
                state, pos = lenenc_str(payload, pos)
        else:
            info = payload[pos:]
    entries = []
    at = 0
    while at < len(state):
        kind = state[at]
        data, at = lenenc_str(state, at + 1)
        entries.append((kind, data))
    return OkPacket(affected, insert_id, status, warnings, info, state, entries)


def parse_err(payload: bytes) -> ErrPacket:
    assert payload[0] == 0xFF, payload.hex()
    code = struct.unpack_from("<H", payload, 1)[0]
    if payload[3:4] == b"#":
        return ErrPacket(code, payload[4:9].decode(), payload[9:].decode(errors="replace"))
    return ErrPacket(code, "", payload[3:].decode(errors="replace"))


def parse_text_row(row: bytes) -> list[bytes | None]:
    """A text result set row: length-encoded strings, 0xFB for NULL."""
    values: list[bytes | None] = []
    pos = 0
    while pos < len(row):
        if row[pos] == 0xFB:
            values.append(None)
            pos += 1
        else:
            value, pos = lenenc_str(row, pos)
            values.append(value)
    return values


def native_scramble(password: bytes, nonce: bytes) -> bytes:
    if not password:
        return b""
    stage1 = hashlib.sha1(password).digest()
    stage2 = hashlib.sha1(stage1).digest()
    mix = hashlib.sha1(nonce + stage2).digest()
    return bytes(a ^ b for a, b in zip(stage1, mix))


@dataclass
class LoginResponse:
    caps: int             # what both sides have: the session's capabilities
    nonce: bytes          # the greeting's scramble, for a later COM_CHANGE_USER
    greeting_status: int
    body: bytes           # the HandshakeResponse41 payload to send


def handshake_response(greeting: bytes, user: str, password: bytes, database: str | None, caps: int,
                       collation: int) -> LoginResponse:
    """The HandshakeResponse41 (mysql_native_password) to a HandshakeV10 greeting (spec §2.1, §2.4),
    without I/O, so that blocking and asyncio clients share it."""
    if greeting[0] == 0xFF:
        raise AssertionError(f"refused before the greeting: {parse_err(greeting)}")
    pos = greeting.index(b"\0", 1) + 1 + 4  # protocol version, server version, thread id
    nonce = greeting[pos:pos + 8]
    pos += 9
    server_caps = struct.unpack_from("<H", greeting, pos)[0]
    pos += 3  # caps low, collation
    status = struct.unpack_from("<H", greeting, pos)[0]
    server_caps |= struct.unpack_from("<H", greeting, pos + 2)[0] << 16
    nonce_len = greeting[pos + 4]
    pos += 5 + 10
    nonce += greeting[pos:pos + max(13, nonce_len - 8) - 1]
    if database is not None:
        caps |= kConnectWithDb
    caps &= server_caps
    body = struct.pack("<IIB23x", caps, 1 << 24, collation) + user.encode() + b"\0"
    body += put_lenenc_str(native_scramble(password, nonce))
    if database is not None:
        body += database.encode() + b"\0"
    body += b"mysql_native_password\0"
    return LoginResponse(caps, nonce, status, body)


class ConnectionClosed(Exception):
    """The server closed the connection (EOF) before a whole packet arrived."""


class RawClient:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.seq = 0
        self.caps = 0
        self.greeting_status = 0
        self.login_ok: OkPacket | None = None
        self.nonce = b""
        self.login_payload = b""

    @classmethod
    def login(cls, port: int, user: str, password: str, database: str | None = None, caps: int = 0,
              collation: int = 45, timeout: float = 10.0) -> "RawClient":
        """Logs in (raises AssertionError with the ERR on a refusal); caps are added to kBaseCaps."""
        c = cls(socket.create_connection(("127.0.0.1", port), timeout=timeout))
        c._handshake(user, password.encode(), database, kBaseCaps | caps, collation)
        return c

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _recv_exact(self, size: int) -> bytes:
        out = b""
        while len(out) < size:
            chunk = self.sock.recv(size - len(out))
            if not chunk:
                raise ConnectionClosed(f"closed after {len(out)} of {size} bytes")
            out += chunk
        return out

    def read_packet(self) -> bytes:
        header = self._recv_exact(4)
        size = int.from_bytes(header[:3], "little")
        self.seq = (header[3] + 1) & 0xFF
        return self._recv_exact(size)

    def write_packet(self, payload: bytes) -> None:
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([self.seq]) + payload)
        self.seq = (self.seq + 1) & 0xFF

    def _handshake(self, user: str, password: bytes, database: str | None, caps: int, collation: int) -> None:
        login = handshake_response(self.read_packet(), user, password, database, caps, collation)
        self.caps, self.nonce, self.greeting_status = login.caps, login.nonce, login.greeting_status
        self.write_packet(login.body)
        self._finish_auth(password)

    def _finish_auth(self, password: bytes) -> None:
        reply = self.read_packet()
        if reply[0] == 0xFE:  # AuthSwitchRequest: plugin name, nonce
            end = reply.index(b"\0", 1)
            self.write_packet(native_scramble(password, reply[end + 1:end + 21]))
            reply = self.read_packet()
        if reply[0] == 0xFF:
            raise AssertionError(f"login refused: {parse_err(reply)}")
        self.login_payload = reply
        self.login_ok = parse_ok(reply, self.caps)

    def change_user(self, user: str, password: str, database: str | None = None, collation: int = 45) -> OkPacket:
        """COM_CHANGE_USER (spec §4.3); the reply's OK is login_ok afterwards."""
        body = bytes([0x11]) + user.encode() + b"\0" + put_lenenc_str(native_scramble(password.encode(), self.nonce))
        body += (database or "").encode() + b"\0" + struct.pack("<H", collation) + b"mysql_native_password\0"
        self.seq = 0
        self.write_packet(body)
        self._finish_auth(password.encode())
        assert self.login_ok is not None
        return self.login_ok

    def command(self, cmd: int, arg: bytes = b"") -> bytes:
        self.seq = 0
        self.write_packet(bytes([cmd]) + arg)
        return self.read_packet()

    def query(self, sql: str) -> OkPacket | ErrPacket | list[list[bytes | None]]:
        """The reply to COM_QUERY: an OK, an ERR, or the rows of a text resultset."""
        first = self.command(0x03, sql.encode())
        if first[0] == 0x00:
            return parse_ok(first, self.caps)
        if first[0] == 0xFF:
            return parse_err(first)
        columns, _ = lenenc(first, 0)
        for _ in range(columns):
            self.read_packet()
        assert self.read_packet()[0] == 0xFE  # EOF after the column definitions
        rows = []
        while True:
            row = self.read_packet()
            if row[0] == 0xFE and len(row) < 9:
                return rows
            if row[0] == 0xFF:
                raise AssertionError(f"error in the rows: {parse_err(row)}")
            rows.append(parse_text_row(row))
