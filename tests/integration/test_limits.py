"""Limits at the edges (issue: hostile input): too many clients, silent clients, oversized
login packets, garbage instead of a login. Each gets the right MySQL error or a clean close,
and camproxy keeps serving."""

from __future__ import annotations

import socket
import struct
import time

import pymysql
import pytest

from testutil import wait_until

kFailed = "camproxy_client_connections_failed_total"


def connect(proxy):
    return pymysql.connect(host="127.0.0.1", port=proxy.port, user="camtest", password="x", connect_timeout=10)


def read_packet(sock, timeout=10.0):
    sock.settimeout(timeout)
    header = b""
    while len(header) < 4:
        chunk = sock.recv(4 - len(header))
        if not chunk:
            return None
        header += chunk
    length = header[0] | header[1] << 8 | header[2] << 16
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return header[3], body


def err_code(payload):
    assert payload[0] == 0xFF, payload[:16]
    return struct.unpack("<H", payload[1:3])[0]


def test_over_max_client_connections_is_1040_not_a_hang(camproxy):
    proxy = camproxy("--max-client-connections", "3")
    held = [connect(proxy) for _ in range(3)]
    with pytest.raises(pymysql.err.OperationalError) as info:
        connect(proxy)
    assert info.value.args[0] == 1040
    held.pop().close()
    time.sleep(0.2)
    with connect(proxy) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    for c in held:
        c.close()


def test_a_silent_client_is_dropped_after_the_handshake_timeout(camproxy):
    proxy = camproxy("--handshake-timeout", "1s")
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        seq, greeting = read_packet(s)
        assert greeting[0] == 0x0A
        t0 = time.monotonic()
        seq, err = read_packet(s, timeout=5)
        assert err_code(err) == 1043
        assert time.monotonic() - t0 < 3
        assert read_packet(s, timeout=5) is None  # and closed


def test_an_oversized_login_packet_is_refused_before_it_is_buffered(camproxy):
    proxy = camproxy()
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        read_packet(s)
        s.sendall(b"\xff\xff\xff\x01" + b"\x00" * 100)  # announces 16 MiB - 1 bytes, sends 100
        seq, err = read_packet(s, timeout=5)
        assert err_code(err) == 1153
        assert read_packet(s, timeout=5) is None
    with connect(proxy) as conn, conn.cursor() as cur:  # still serving
        cur.execute("SELECT 1")


def test_garbage_instead_of_a_login_gets_an_error_and_a_close(camproxy):
    proxy = camproxy()
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        read_packet(s)
        s.sendall(b"\x05\x00\x00\x01hello")
        seq, err = read_packet(s, timeout=5)
        assert err_code(err) in (1043, 1251)
        assert read_packet(s, timeout=5) is None


def failures(proxy) -> dict[str, float]:
    return {reason: proxy.metric(kFailed, reason=reason) for reason in ("client_closed", "client_tls")}


def test_a_client_closing_mid_login_counts_as_client_closed(camproxy):
    proxy = camproxy()
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        read_packet(s)  # the greeting; then the client goes away without logging in
    wait_until(lambda: failures(proxy) == {"client_closed": 1, "client_tls": 0}, 10, "client_closed counted")
    conn = connect(proxy)  # a completed login whose client then drops the line (no COM_QUIT): no failure
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    conn._sock.shutdown(socket.SHUT_RDWR)  # pymysql's makefile() keeps the fd open past close()
    # finish() runs after on_error, which would have counted: once the session is gone, it had its say
    wait_until(lambda: proxy.metric("camproxy_client_connections_open") == 0, 10, "the session closed")
    assert failures(proxy) == {"client_closed": 1, "client_tls": 0}


def test_a_failed_client_tls_handshake_counts_as_client_tls(camproxy):
    proxy = camproxy()
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        read_packet(s)
        # spec/mysql-protocol.md §2.3: SSLRequest (PROTOCOL_41 | SSL | SECURE_CONNECTION), seq 1,
        # then something that is no TLS ClientHello.
        ssl_request = struct.pack("<IIB23x", 0x0200 | 0x0800 | 0x8000, 1 << 24, 45)
        s.sendall(struct.pack("<I", len(ssl_request))[:3] + b"\x01" + ssl_request)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.settimeout(10)
        while s.recv(4096):  # camproxy closes the connection (a TLS alert may come first)
            pass
    wait_until(lambda: failures(proxy) == {"client_closed": 0, "client_tls": 1}, 10, "client_tls counted")


def test_many_half_open_clients_do_not_stop_service(camproxy):
    proxy = camproxy("--handshake-timeout", "2s")
    sockets = [socket.create_connection(("127.0.0.1", proxy.port)) for _ in range(300)]
    try:
        with connect(proxy) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        for s in sockets:
            s.close()


def test_connections_that_never_log_in_do_not_keep_a_client_out(camproxy):
    # Before --max-logins-in-progress, 50 of these held every place until the handshake timeout.
    proxy = camproxy("--max-client-connections", "50", "--max-logins-in-progress", "16")
    before = proxy.metric("camproxy_client_connections_total")
    idle = [socket.create_connection(("127.0.0.1", proxy.port)) for _ in range(100)]
    try:
        wait_until(lambda: proxy.metric("camproxy_client_connections_total") - before >= 100, 10,
                   "camproxy to accept the 100 idle connections")
        t0 = time.monotonic()
        with connect(proxy) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
        assert time.monotonic() - t0 < 1
        # The oldest logins in progress were closed with 1040 to make room.
        packet = read_packet(idle[0], timeout=5)
        if packet[1][0] == 0x0A:  # its greeting came first
            packet = read_packet(idle[0], timeout=5)
        assert err_code(packet[1]) == 1040
        assert b"--max-logins-in-progress" in packet[1]
    finally:
        for s in idle:
            s.close()
