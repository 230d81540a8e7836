"""Issue 17: the token goes only to a database camproxy has authenticated.

A database impostor (TokenThief below: a socket server that greets as MySQL 8.0) tries the
four ways a server could get the CAM token itself out of a client that trusts whatever
answers:
  (a) no TLS offered, caching_sha2_password full authentication, its own RSA key;
  (b) no TLS offered, a switch to sha256_password, its own RSA key;
  (c) TLS with a certificate camproxy does not trust, a switch to mysql_clear_password;
  (d) the same TLS, caching_sha2_password full authentication (the password inside TLS).
Whatever camproxy sends is kept (TLS taken off, RSA blobs decrypted with the impostor's
key) and searched for the emulator's current token and the password inside it. With the
default settings the impostor gets nothing and the application a clear ERR; in the
explicitly insecure modes it still gets nothing, the ERR names the flag that would allow
the step, and camproxy has logged its start warning.
"""

from __future__ import annotations

import base64
import socket
import ssl
import struct
import threading

import pymysql
import pytest
from cryptography.hazmat.primitives import hashes, padding as sym_padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cam_client import call_build_token
from cam_token import key_and_iv
from certs import CertificateAuthority

kAccount = "camtest"
kSchemes = ("full_auth_rsa", "sha256_rsa", "tls_clear_password", "tls_full_auth")
kReadTimeout = 5.0

# spec/mysql-protocol.md §2.1: what MySQL 8.0 offers (sha2_server.py's list), SSL on request.
kCaps = 0x01FFA78F | (1 << 27)
kSsl = 1 << 11


class TokenThief:
    """Listens on 127.0.0.1; each connection gets a greeting and then `scheme`'s attempt."""

    def __init__(self, scheme: str, tls_dir):
        self.scheme = scheme
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
        self.tls = None
        if scheme.startswith("tls_"):
            # A CA of its own: any certificate camproxy has no reason to trust.
            cert = CertificateAuthority.create(tls_dir, "impostor CA").issue("impostor", ip_addresses=["127.0.0.1"])
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(cert.cert_file, cert.key_file)
        self.received = bytearray()  # every byte camproxy sent, out of TLS
        self.recovered: list[bytes] = []  # what the impostor's RSA key decrypted
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self._listener.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    # -- packets (spec §1: 3-byte length, sequence id, payload) --
    def _read(self, conn) -> tuple[int, bytes]:
        head = self._exact(conn, 4)
        length = head[0] | head[1] << 8 | head[2] << 16
        return head[3], self._exact(conn, length)

    def _exact(self, conn, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            with self._lock:
                self.received += chunk
            data += chunk
        return data

    @staticmethod
    def _write(conn, seq: int, payload: bytes):
        conn.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload)

    def _greeting(self, nonce: bytes) -> bytes:
        caps = kCaps | (kSsl if self.tls else 0)
        return (b"\x0a" + b"8.0.36-impostor\x00" + struct.pack("<I", 7) + nonce[:8] + b"\x00" +
                struct.pack("<H", caps & 0xFFFF) + bytes([255]) + struct.pack("<H", 2) +
                struct.pack("<H", caps >> 16) + bytes([21]) + bytes(10) + nonce[8:] + b"\x00" +
                b"caching_sha2_password\x00")

    def _serve(self, conn):
        with self._lock:
            self.connections += 1
        nonce = bytes(range(0x41, 0x55))
        try:
            conn.settimeout(kReadTimeout)
            self._write(conn, 0, self._greeting(nonce))
            seq, payload = self._read(conn)
            if self.tls and len(payload) == 32:  # SSLRequest
                conn = self.tls.wrap_socket(conn, server_side=True)
                seq, payload = self._read(conn)
            self._attempt(conn, seq + 1, nonce)
            while True:  # keep whatever else comes
                self._read(conn)
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def _attempt(self, conn, seq: int, nonce: bytes):
        if self.scheme in ("full_auth_rsa", "tls_full_auth"):
            self._write(conn, seq, b"\x01\x04")  # perform full authentication (spec §3.3)
        elif self.scheme == "sha256_rsa":
            self._write(conn, seq, b"\xfesha256_password\x00" + nonce + b"\x00")
        else:
            self._write(conn, seq, b"\xfemysql_clear_password\x00")
        while True:
            seq, payload = self._read(conn)
            if payload in (b"\x01", b"\x02"):  # a key request: give it the impostor's key
                self._write(conn, seq + 1, b"\x01" + self.pem)
                continue
            self._decrypt(payload, nonce)

    def _decrypt(self, payload: bytes, nonce: bytes):
        if len(payload) != 256:
            return
        try:
            plain = self.key.decrypt(payload, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(),
                                                           label=None))
        except ValueError:
            return
        self.recovered.append(bytes(b ^ nonce[i % len(nonce)] for i, b in enumerate(plain)))


def token_and_password(cam) -> tuple[bytes, bytes]:
    """The emulator's current token for kAccount, and the password inside it (spec
    tencentcloud-cam.md §4: hex SHA-256 prefix, AES-CBC body, 4 length bytes, protobuf field 8)."""
    doc = call_build_token(cam.endpoint, cam.credential, cam.instance_id, cam.region, kAccount).json()
    token = doc["Response"]["Credentials"]["Token"]
    key, iv = key_and_iv(cam.instance_id, cam.region, kAccount)
    body = token[64:]
    cipher = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    padded = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor().update(cipher)
    unpadder = sym_padding.PKCS7(128).unpadder()
    message = (unpadder.update(padded) + unpadder.finalize())[4:]
    pos = 0
    while pos < len(message):
        tag = message[pos]
        pos += 1
        if tag & 7 == 0:  # varint
            while message[pos] & 0x80:
                pos += 1
            pos += 1
            continue
        length = 0
        shift = 0
        while True:
            b = message[pos]
            pos += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if tag >> 3 == 8:
            return token.encode(), message[pos:pos + length]
        pos += length
    raise AssertionError("no password in the token")


@pytest.fixture
def thief(tmp_path):
    servers = []

    def start(scheme):
        server = TokenThief(scheme, tmp_path / f"pki-{scheme}")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def login_error(proxy) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as info:
        pymysql.connect(host="127.0.0.1", port=proxy.port, user=kAccount, password="whatever", connect_timeout=10,
                        read_timeout=10).close()
    return info.value.args[0], info.value.args[1]


def assert_nothing_stolen(server: TokenThief, cam):
    token, password = token_and_password(cam)
    assert len(password) >= 8
    assert server.connections > 0, "camproxy never dialed the impostor"
    for secret in (token, password):
        assert secret not in bytes(server.received)
        assert not any(secret in blob for blob in server.recovered)
    assert not server.recovered, "the impostor decrypted something camproxy sent with its key"


@pytest.mark.parametrize("scheme", kSchemes)
def test_default_settings_give_an_impostor_nothing(camproxy, cam, thief, scheme):
    server = thief(scheme)
    proxy = camproxy(upstream=f"127.0.0.1:{server.port}")  # the default --upstream-tls verify-identity
    code, message = login_error(proxy)
    # Without TLS the greeting is refused; with an untrusted certificate the TLS handshake is.
    assert code == 9002, message
    assert ("does not offer TLS" in message) if not scheme.startswith("tls_") else ("certificate" in message)
    assert_nothing_stolen(server, cam)
    assert "upstream_tls_unverified" not in proxy.log_text()


# The insecure mode that lets each attempt reach its auth step.
kInsecure = {"full_auth_rsa": "disable", "sha256_rsa": "insecure-preferred", "tls_clear_password": "insecure-required",
             "tls_full_auth": "insecure-preferred"}


@pytest.mark.parametrize("scheme", kSchemes)
def test_insecure_modes_still_give_an_impostor_nothing(camproxy, cam, thief, scheme):
    server = thief(scheme)
    mode = kInsecure[scheme]
    proxy = camproxy(upstream=f"127.0.0.1:{server.port}", upstream_tls=mode)
    assert f'"upstream_tls":"{mode}"' in proxy.log_text().replace(" ", "")  # the start warning
    assert "upstream_tls_unverified" in proxy.log_text()
    code, message = login_error(proxy)
    assert code == 9007, message
    flag = "--upstream-tls verify-identity"
    assert flag in message, message
    if scheme != "tls_clear_password":
        assert "--upstream-rsa-key-file" in message
    assert_nothing_stolen(server, cam)
    assert "unsafe_auth" in proxy.log_text()
