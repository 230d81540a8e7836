"""A small asyncio MySQL client for loads of many mostly idle connections from one process
(bench/e2e/txpool.py): 1 000 threads of a blocking driver would spend the load generator's
CPU on switching threads, not on the protocol.

    c = await AsyncClient.connect(port, user, password, database)
    reply = await c.query("SELECT 1")   # OkPacket, ErrPacket or the rows (lists of bytes|None)
    c.close()

Text protocol only, DEPRECATE_EOF off, plaintext, mysql_native_password (what camproxy's
login without local authentication takes); the wire helpers are the integration tests'
(tests/tools/raw_mysql_client.py).
"""

from __future__ import annotations

import asyncio

import stack  # noqa: F401  (first: it puts tests/tools on sys.path)
from raw_mysql_client import (ErrPacket, OkPacket, handshake_response, kBaseCaps, lenenc, native_scramble,
                              parse_err, parse_ok, parse_text_row)

kComQuery = 0x03
kComQuit = 0x01


class ServerError(RuntimeError):
    """The login was refused, or an ERR came in the middle of a result set."""

    def __init__(self, err: ErrPacket):
        super().__init__(f"{err.code} ({err.sql_state}) {err.message}")
        self.err = err


class AsyncClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._seq = 0
        self._caps = 0

    @classmethod
    async def connect(cls, port: int, user: str, password: str, database: str | None = None) -> "AsyncClient":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        c = cls(reader, writer)
        try:
            login = handshake_response(await c._read(), user, password.encode(), database, kBaseCaps,
                                       collation=45)
            c._caps = login.caps
            c._write(login.body)
            reply = await c._read()
            if reply[0] == 0xFE:  # AuthSwitchRequest (spec §3.3): plugin name, then its nonce
                end = reply.index(b"\0", 1)
                c._write(native_scramble(password.encode(), reply[end + 1:end + 21]))
                reply = await c._read()
            if reply[0] == 0xFF:
                raise ServerError(parse_err(reply))
        except BaseException:
            c.close()
            raise
        return c

    def close(self) -> None:
        self._writer.close()

    async def quit(self) -> None:
        """COM_QUIT, then the close (the server answers nothing)."""
        self._seq = 0
        self._write(bytes([kComQuit]))
        await self._writer.drain()
        self.close()

    async def _read(self) -> bytes:
        header = await self._reader.readexactly(4)
        self._seq = (header[3] + 1) & 0xFF
        return await self._reader.readexactly(int.from_bytes(header[:3], "little"))

    def _write(self, payload: bytes) -> None:
        assert len(payload) < 0xFFFFFF, "one packet only: the loads send short statements"
        self._writer.write(len(payload).to_bytes(3, "little") + bytes([self._seq]) + payload)
        self._seq = (self._seq + 1) & 0xFF

    async def query(self, sql: str) -> OkPacket | ErrPacket | list[list[bytes | None]]:
        """COM_QUERY's reply (spec §4.4): an OK, an ERR, or the rows of a text result set."""
        self._seq = 0
        self._write(bytes([kComQuery]) + sql.encode())
        first = await self._read()
        if first[0] == 0x00:
            return parse_ok(first, self._caps)
        if first[0] == 0xFF:
            return parse_err(first)
        columns, _ = lenenc(first, 0)
        for _ in range(columns + 1):  # the column definitions, then their EOF
            await self._read()
        rows = []
        while True:
            row = await self._read()
            if row[0] == 0xFE and len(row) < 9:  # the EOF after the rows
                return rows
            if row[0] == 0xFF:
                raise ServerError(parse_err(row))
            rows.append(parse_text_row(row))
