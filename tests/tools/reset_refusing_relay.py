"""A TCP relay in front of a real MariaDB that turns every COM_RESET_CONNECTION into a command
byte the server does not know, so that MariaDB itself answers ERR 1047 "Unknown command", as a
server older than MariaDB 10.2.4 / MySQL 5.7.3 or a middlebox that lacks the command would.
Everything else passes through unchanged. It must see the commands: run camproxy with
--upstream-tls disable in front of it.

    with ResetRefusingRelay(mariadb.port) as relay:
        proxy = camproxy(upstream=f"127.0.0.1:{relay.port}", upstream_tls="disable")
        ...
        relay.resets_refused, relay.change_users   # commands seen so far
"""

from __future__ import annotations

import socket
import threading

kComResetConnection = 0x1F
kComChangeUser = 0x11
# The first number after COM_RESET_CONNECTION: MariaDB 10.11 answers it with 1047.
kUnknownCommand = 0x20
kHeader = 4


class ResetRefusingRelay:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.resets_refused = 0
        self.change_users = 0

    def __enter__(self) -> "ResetRefusingRelay":
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in self._threads:
            thread.join(5)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(self._upstream, timeout=10)
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            self._spawn(self._client_to_server, client, server)
            self._spawn(self._copy, server, client)

    def _client_to_server(self, client: socket.socket, server: socket.socket) -> None:
        """Forwards whole packets, rewriting the command byte of each COM_RESET_CONNECTION (the
        first packet of a command has sequence id 0; the login's packets have 1 and up)."""
        pending = bytearray()
        try:
            while chunk := client.recv(65536):
                pending += chunk
                while len(pending) >= kHeader:
                    length = int.from_bytes(pending[:3], "little")
                    if len(pending) < kHeader + length:
                        break
                    packet = pending[:kHeader + length]
                    del pending[:kHeader + length]
                    if packet[3] == 0 and length >= 1:
                        self._note_command(packet)
                    server.sendall(packet)
        except OSError:
            pass
        self._close_pair(client, server)

    def _note_command(self, packet: bytearray) -> None:
        with self._lock:
            if packet[kHeader] == kComResetConnection:
                packet[kHeader] = kUnknownCommand
                self.resets_refused += 1
            elif packet[kHeader] == kComChangeUser:
                self.change_users += 1

    def _copy(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        self._close_pair(src, dst)

    @staticmethod
    def _close_pair(a: socket.socket, b: socket.socket) -> None:
        for sock in (a, b):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
