"""Builds BuildDataFlowAuthToken tokens the way CAM does (spec/tencentcloud-cam.md §4).

    token      = sha256hex(plaintext) || base64url_nopad(AES-256-CBC(PKCS#7(plaintext)))
    plaintext  = 4 prefix bytes || protobuf AuthTokenInfo
    key, iv    = ASCII of seed[0:32], seed[33:49], seed = sha256hex(instance_region_user)

Encoder only; the decoder the tests use lives in tests/integration/test_cam_emulator.py
so that the two are written independently.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


@dataclass(frozen=True)
class AuthTokenInfo:
    """Spec §4.4, field numbers 1..12 in declaration order."""
    app_id: int
    uin: int
    owner_uin: int
    req_id: str
    instance_id: str
    region: str
    username: str
    password: str
    create_time: int
    extra_info: str
    token_type: int
    rand_num: int


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("protobuf varints here are unsigned")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3 | 0) + _varint(value)


def _string_field(number: int, value: str) -> bytes:
    data = value.encode("utf-8")
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def encode_auth_token_info(info: AuthTokenInfo) -> bytes:
    """Protobuf wire bytes with every field present, in field-number order."""
    return b"".join([
        _varint_field(1, info.app_id),
        _varint_field(2, info.uin),
        _varint_field(3, info.owner_uin),
        _string_field(4, info.req_id),
        _string_field(5, info.instance_id),
        _string_field(6, info.region),
        _string_field(7, info.username),
        _string_field(8, info.password),
        _varint_field(9, info.create_time),
        _string_field(10, info.extra_info),
        _varint_field(11, info.token_type & 0xFFFFFFFF),
        _varint_field(12, info.rand_num & 0xFFFFFFFF),
    ])


def key_and_iv(instance_id: str, region: str, user_name: str) -> tuple[bytes, bytes]:
    """Spec §4.2: hex text used as raw bytes; IV skips hex char 32."""
    seed = hashlib.sha256(f"{instance_id}_{region}_{user_name}".encode("utf-8")).hexdigest()
    return seed[0:32].encode("ascii"), seed[33:49].encode("ascii")


def seal(instance_id: str, region: str, user_name: str, plaintext: bytes) -> str:
    """Encrypts a full plaintext (prefix included) into the token text."""
    key, iv = key_and_iv(instance_id, region, user_name)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    body = base64.urlsafe_b64encode(ciphertext).rstrip(b"=").decode("ascii")
    return hashlib.sha256(plaintext).hexdigest() + body


def make_token(info: AuthTokenInfo) -> str:
    """The token CAM would return for `info`. The 4 prefix bytes are the big-endian
    length of the protobuf, as in the vectors; decoders must ignore them (§4.1)."""
    message = encode_auth_token_info(info)
    return seal(info.instance_id, info.region, info.username,
                struct.pack(">I", len(message)) + message)
