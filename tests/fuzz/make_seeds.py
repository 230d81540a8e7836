#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets, tests/fuzz/corpus/<target>/, from the captured
exchanges (tests/protocol/captures/*.hex), the shared test vectors (tests/vectors/*.json) and a
few packets built here by hand from spec/mysql-protocol.md for shapes the captures lack.

    /usr/bin/python3 tests/fuzz/make_seeds.py

Run it again when the captures or vectors change and commit the result. The output is
deterministic, and each file is named after its source. Input formats per target are described
at the top of each tests/fuzz/<target>_fuzz.cc.
"""
import json
import pathlib
import shutil
import struct

HERE = pathlib.Path(__file__).resolve().parent
TESTS = HERE.parent
CAPTURES = TESTS / "protocol" / "captures"
VECTORS = TESTS / "vectors"

# Capability bits (protocol/constants.h).
LONG_PASSWORD = 1 << 0
CONNECT_WITH_DB = 1 << 3
PROTOCOL_41 = 1 << 9
TRANSACTIONS = 1 << 13
SECURE_CONNECTION = 1 << 15
PLUGIN_AUTH = 1 << 19
CONNECT_ATTRS = 1 << 20
LENENC_CLIENT_DATA = 1 << 21
SESSION_TRACK = 1 << 23
DEPRECATE_EOF = 1 << 24

PACKET_LIMIT = 0x4000  # packet target: int<2> max_payload in front of the stream
PACKET_LARGE_LIMIT = 0xFFFF  # packet target: stands for 64 MiB
TRACKER_MAX_CHUNK = 0x7F  # response_tracker target: chunk length field
TRACKER_DEFAULT_LIMITS = 0xCF  # max_pipelined 16, max_buffered_payload 64 << 12 = 256 KiB


class Corpus:
    def __init__(self):
        self.files = {}  # target -> {name: bytes}
        self.shapes = {}  # target -> set of shapes taken

    def add(self, target, name, data, shape=None):
        """Adds a seed unless one with the same bytes, or the same `shape`, is there already."""
        seeds = self.files.setdefault(target, {})
        shapes = self.shapes.setdefault(target, set())
        if data in seeds.values() or (shape is not None and shape in shapes):
            return
        shapes.add(shape)
        assert name not in seeds, name
        seeds[name] = bytes(data)

    def write(self):
        """Rewrites the folders of the targets seeded here; others (config_file's hand-written
        seeds) are left as they are."""
        root = HERE / "corpus"
        for target, seeds in sorted(self.files.items()):
            folder = root / target
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            for name, data in sorted(seeds.items()):
                (folder / name).write_bytes(data)
            print(f"{target}: {len(seeds)} seeds")


def u32(v):
    return struct.pack("<I", v)


def frame(payload, seq):
    """One frame (spec §1): int<3> length, int<1> seq id, the payload."""
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def lenenc_str(b):
    assert len(b) < 0xFB
    return bytes([len(b)]) + b


def load_capture(path):
    frames = []
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        direction, hexbytes = line.split()
        frames.append((direction, bytes.fromhex(hexbytes)))
    return frames


def greeting_caps(payload):
    """Capabilities of a HandshakeV10 payload (spec §2.1)."""
    pos = payload.index(0, 1) + 1 + 4 + 8 + 1
    low = struct.unpack_from("<H", payload, pos)[0]
    high = struct.unpack_from("<H", payload, pos + 5)[0]
    return low | (high << 16)


def greeting_mariadb_caps(payload):
    """MariaDB extended capabilities of a HandshakeV10 payload: the last 4 reserved bytes when
    CLIENT_MYSQL (LONG_PASSWORD) is clear (spec §3.1)."""
    if greeting_caps(payload) & LONG_PASSWORD:
        return 0
    pos = payload.index(0, 1) + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 6
    return struct.unpack_from("<I", payload, pos)[0]


def add_capture(corpus, path):
    stem = path.stem
    frames = load_capture(path)
    streams = {"c2s": b"", "s2c": b""}
    caps = 0
    server_caps = 0
    mariadb_caps = 0  # negotiated when both sides clear CLIENT_MYSQL
    server_mariadb_caps = 0
    in_auth = False  # between a login (or COM_CHANGE_USER) and the server's OK / ERR
    for i, (direction, frame) in enumerate(frames):
        streams[direction] += frame
        payload = frame[4:]
        name = f"{stem}_{i:02d}"
        if not payload:  # e.g. the empty packet that ends a LOCAL INFILE upload
            continue
        if i == 0:
            # Greetings of one server differ only in nonce and connection id: keep one per shape.
            server_caps = greeting_caps(payload)
            server_mariadb_caps = greeting_mariadb_caps(payload)
            corpus.add("handshake_v10", f"{name}_greeting", payload, (len(payload), server_caps))
            continue
        if direction == "c2s":
            if i == 1:
                corpus.add("client_handshake", f"{name}_first_reply", payload,
                           (len(payload), payload[:4]))
                caps = struct.unpack_from("<I", payload)[0] & server_caps
                if not caps & LONG_PASSWORD:  # HandshakeResponse41 / SSLRequest filler end
                    mariadb_caps = struct.unpack_from("<I", payload, 28)[0] & server_mariadb_caps
                in_auth = len(payload) != 32  # an SSLRequest: TLS follows, not recorded
            elif payload[0] == 0x11:
                corpus.add("change_user", f"{name}_change_user", u32(caps) + payload)
                in_auth = True
            continue
        first = payload[0]
        if in_auth and first in (0xFE, 0x01):
            corpus.add("auth_switch", f"{name}_auth_phase", payload)
            continue
        if first in (0x00, 0xFE, 0xFF):
            corpus.add("ok_err_eof", f"{name}_s2c", u32(caps) + payload)
            in_auth = False
    for direction, stream in streams.items():
        corpus.add("packet", f"{stem}_{direction}_stream", struct.pack("<H", PACKET_LIMIT) + stream)
    add_tracker_seed(corpus, stem, frames, caps, mariadb_caps)
    if not stem.startswith("rt_"):  # the rt_ captures are of the command phase
        add_server_handshake_seeds(corpus, stem, frames)


def add_server_handshake_seeds(corpus, stem, frames):
    """The client's login stream (its frames up to the server's OK or ERR), once as one chunk
    with any password accepted, once in 5-byte chunks with local authentication, once whole
    to camproxy in front of a MariaDB database (extended capabilities offered)."""
    login = b""
    for direction, frame in frames[1:]:
        if direction == "s2c" and frame[4:5] in (b"\x00", b"\xff"):
            break
        if direction == "c2s":
            login += frame
    tls = 0x01 if len(frames) > 1 and len(frames[1][1]) == 4 + 32 else 0
    for flags, chunk in ((0x08 | tls, 0), (0x1C | tls, 5), (0x28 | tls, 0)):
        corpus.add("server_handshake", f"{stem}_login_{flags:02x}_{chunk}", bytes([flags, chunk]) + login)


def add_tracker_seed(corpus, stem, frames, caps, mariadb_caps):
    """The command phase of a capture (after the login OK) as response_tracker chunks; the
    extended capabilities byte is there when CLIENT_MYSQL is clear (the target's input format)."""
    login_ok = next((i for i, (direction, frame) in enumerate(frames)
                     if i > 1 and direction == "s2c" and frame[4:5] == b"\x00"), None)
    if login_ok is None:
        return
    status = struct.unpack_from("<H", frames[login_ok][1], 4 + 3)[0]  # 00, two 1-byte lenencs
    chunks = b""
    for direction, frame in frames[login_ok + 1:]:
        control = 0x80 if direction == "c2s" else 0x00
        for at in range(0, len(frame), TRACKER_MAX_CHUNK):
            part = frame[at:at + TRACKER_MAX_CHUNK]
            chunks += bytes([control | len(part)]) + part
    if chunks:
        ext = b"" if caps & LONG_PASSWORD else bytes([mariadb_caps & 0xFF])
        corpus.add("response_tracker", f"{stem}_command_phase",
                   u32(caps) + ext + struct.pack("<H", status) + bytes([TRACKER_DEFAULT_LIMITS]) + chunks)


def client_auth_seed(flags, payloads):
    """A client_auth input: flags, then each server payload as int<2> length + bytes."""
    return bytes([flags]) + b"".join(struct.pack("<H", len(p)) + p for p in payloads)


def add_client_auth_capture(corpus, path):
    """The server's login packets of a capture: the greeting, then what comes while the client
    logs in or changes user (until OK or ERR)."""
    frames = load_capture(path)
    if len(frames) < 2 or frames[0][1][4:5] != b"\x0a" or len(frames[1][1]) == 4 + 32:
        return  # no greeting, or TLS follows an SSLRequest (not recorded)
    payloads = []
    in_auth = True
    change_user = False
    for i, (direction, frame) in enumerate(frames):
        payload = frame[4:]
        if direction == "c2s":
            if payload[:1] == b"\x11":
                in_auth = change_user = True
            continue
        if i == 0 or in_auth:
            payloads.append(payload)
            if i != 0 and payload[:1] in (b"\x00", b"\xff"):
                in_auth = False
    # Logins of one server differ only in nonces: keep one per sequence of packet kinds.
    shape = (change_user, bytes(p[0] for p in payloads if p))
    corpus.add("client_auth", f"{path.stem}_login", client_auth_seed(4 if change_user else 0, payloads), shape)


def add_handmade(corpus):
    nonce = bytes(range(0x21, 0x35))  # 20 printable bytes, no NUL
    sha2 = b"caching_sha2_password"

    # MySQL 8.0 style greeting: LONG_PASSWORD set (no MariaDB ext caps), caching_sha2 (spec §2.1).
    mysql8_caps = 0xDFFFFFFF
    greeting = (b"\x0a" + b"8.0.36\x00" + u32(42) + nonce[:8] + b"\x00" +
                struct.pack("<H", mysql8_caps & 0xFFFF) + b"\xff" + struct.pack("<H", 2) +
                struct.pack("<H", mysql8_caps >> 16) + b"\x15" + bytes(10) + nonce[8:] + b"\x00" +
                sha2 + b"\x00")
    corpus.add("handshake_v10", "handmade_mysql8_greeting", greeting)

    # HandshakeResponse41 with LENENC_CLIENT_DATA and attributes (spec §2.4).
    caps = (LONG_PASSWORD | CONNECT_WITH_DB | PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH |
            CONNECT_ATTRS | LENENC_CLIENT_DATA)
    attrs = lenenc_str(b"_client_name") + lenenc_str(b"fuzz")
    response = (u32(caps) + u32(1 << 24) + b"\x2d" + bytes(23) + b"app\x00" +
                lenenc_str(bytes(32)) + b"appdb\x00" + sha2 + b"\x00" + lenenc_str(attrs))
    corpus.add("client_handshake", "handmade_lenenc_auth_attrs", response)
    # HandshakeResponse320 (no PROTOCOL_41): answered with ERR 1251 (spec §2.4).
    # int<2> caps, int<3> max_packet_size, str<NUL> user, str<NUL> auth response.
    corpus.add("client_handshake", "handmade_protocol_320", struct.pack("<H", LONG_PASSWORD) +
               b"\x00\x00\x01" + b"app\x00" + b"12345678\x00")
    # The login machine: a HandshakeResponse41 with lenenc auth data in 3-byte chunks; a pre-4.1
    # client (ERR 1251); a frame header over kMaxLoginPacket (16 KiB), refused from the header.
    corpus.add("server_handshake", "handmade_lenenc_login", bytes([0x08, 3]) + frame(response, 1))
    corpus.add("server_handshake", "handmade_protocol_320", bytes([0x08, 0]) +
               frame(struct.pack("<H", LONG_PASSWORD) + b"\x00\x00\x01" + b"app\x00" + b"12345678\x00", 1))
    corpus.add("server_handshake", "handmade_oversize_header", bytes([0x08, 0]) + (0x4001).to_bytes(3, "little") +
               b"\x01")

    # COM_CHANGE_USER without SECURE_CONNECTION (auth response is str<NUL>), with attributes.
    cu_caps = PROTOCOL_41 | PLUGIN_AUTH | CONNECT_ATTRS
    change_user = (b"\x11" + b"other\x00" + b"secret\x00" + b"appdb\x00" + struct.pack("<H", 45) +
                   b"mysql_native_password\x00" + lenenc_str(attrs))
    corpus.add("change_user", "handmade_nul_auth_attrs", u32(cu_caps) + change_user)

    # Auth phase: switch to caching_sha2, its fast-auth / full-auth bytes, a PEM key, old-password.
    corpus.add("auth_switch", "handmade_switch_sha2", b"\xfe" + sha2 + b"\x00" + nonce + b"\x00")
    corpus.add("auth_switch", "handmade_more_fast_auth_ok", b"\x01\x03")
    corpus.add("auth_switch", "handmade_more_full_auth", b"\x01\x04")
    corpus.add("auth_switch", "handmade_more_pem", b"\x01-----BEGIN PUBLIC KEY-----\nMIIB\n"
               b"-----END PUBLIC KEY-----\n")
    corpus.add("auth_switch", "handmade_old_password_switch", b"\xfe")

    # The upstream login against that greeting (it offers TLS; flag 1 lets camproxy use it) for
    # client_auth: fast auth, full auth asking for the RSA key, full auth over TLS, a switch to
    # sha256_password over TLS, and an ERR 1040 greeting (spec §3.1, §3.3).
    ok = b"\x00\x00\x00\x02\x00\x00\x00"
    pem = b"\x01-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"
    corpus.add("client_auth", "handmade_sha2_fast", client_auth_seed(0, [greeting, b"\x01\x03", ok]))
    corpus.add("client_auth", "handmade_sha2_rsa", client_auth_seed(0, [greeting, b"\x01\x04", pem, ok]))
    corpus.add("client_auth", "handmade_sha2_tls", client_auth_seed(3, [greeting, b"\x01\x04", ok]))
    corpus.add("client_auth", "handmade_sha256_switch",
               client_auth_seed(1, [greeting, b"\xfe" + b"sha256_password\x00" + nonce + b"\x00", ok]))
    corpus.add("client_auth", "handmade_err_1040_greeting",
               client_auth_seed(0, [b"\xff" + struct.pack("<H", 1040) + b"Too many connections"]))

    # OK with session state (spec §4.5) and warnings, FE-OK terminator, ERR forms, MariaDB
    # progress report.
    track = PROTOCOL_41 | TRANSACTIONS | SESSION_TRACK | DEPRECATE_EOF
    state = b"\x00" + lenenc_str(lenenc_str(b"autocommit") + lenenc_str(b"OFF"))
    corpus.add("ok_err_eof", "handmade_ok_session_state",
               u32(track) + b"\x00\x00\x00" + struct.pack("<HH", 0x4000, 3) + b"\x00" +
               lenenc_str(state))
    corpus.add("ok_err_eof", "handmade_fe_ok_terminator",
               u32(track) + b"\xfe\x00\x00" + struct.pack("<HH", 0x0002, 0))
    corpus.add("ok_err_eof", "handmade_err_1040",
               u32(PROTOCOL_41) + b"\xff" + struct.pack("<H", 1040) + b"#08004Too many connections")
    corpus.add("ok_err_eof", "handmade_err_pre41", u32(0) + b"\xff" + struct.pack("<H", 1045) +
               b"Access denied")
    corpus.add("ok_err_eof", "handmade_err_progress",
               u32(PROTOCOL_41) + b"\xff\xff\xff\x01\x01\x02")

    # Credentials profile files (spec/tencentcloud-cam.md §7.2): plain, commented with other
    # sections and upper-case keys, CRLF with a BOM, a key missing, a malformed line.
    profiles = {
        "plain": b"[default]\nsecret_id = AKIDexample\nsecret_key = keyEXAMPLE\n",
        "comments_sections": b"# camproxy\n; other\n[prod]\nsecret_id = x\n\n[default]\n"
                             b"SECRET_ID=AKIDexample\n  Secret_Key =  key=with=equals  \n",
        "crlf_bom": b"\xef\xbb\xbf[default]\r\nsecret_id = AKIDexample\r\nsecret_key = k\r\n",
        "key_missing": b"[default]\nsecret_id = AKIDexample\n",
        "malformed_line": b"[default]\nsecret_id AKIDexample\n",
    }
    for name, text in profiles.items():
        corpus.add("profile_file", f"handmade_{name}", text)

    # Temporary-credential answers (spec/tencentcloud-cam.md §7.3, §7.4), as the metadata and
    # STS emulators give them; mode byte 0 = metadata service, 1 = STS.
    creds = {"TmpSecretId": "AKID-role-example", "TmpSecretKey": "key-example",
             "Token": "session-token-example"}
    metadata = dict(creds, ExpiredTime=1800007200, Expiration="2027-01-15T10:40:00Z", Code="Success")
    sts = {"Response": {"Credentials": creds, "ExpiredTime": 1800007200,
                        "Expiration": "2027-01-15T10:40:00Z", "RequestId": "req-1"}}
    sts_error = {"Response": {"Error": {"Code": "InvalidParameter.WebIdentityTokenError",
                                        "Message": "web identity token invalid"},
                              "RequestId": "req-2"}}
    answers = {
        "metadata_success": (0, metadata),
        "metadata_code_failure": (0, dict(metadata, Code="Failure")),
        "metadata_expired_missing": (0, {k: v for k, v in metadata.items() if k != "ExpiredTime"}),
        "sts_success": (1, sts),
        "sts_error": (1, sts_error),
        "sts_no_credentials": (1, {"Response": {"ExpiredTime": 1800007200, "RequestId": "req-3"}}),
    }
    for name, (mode, body) in answers.items():
        corpus.add("role_answer", f"handmade_{name}",
                   bytes([mode]) + json.dumps(body, separators=(",", ":")).encode())

    # Framing: a limit the first packet exceeds, and the multi-frame header walk.
    corpus.add("packet", "handmade_too_large", struct.pack("<H", 16) + b"\x20\x00\x00\x00" +
               bytes(32))
    corpus.add("packet", "handmade_full_frame_header", struct.pack("<H", PACKET_LARGE_LIMIT) +
               b"\xff\xff\xff\x00" + bytes(64))


def add_vectors(corpus):
    tokens = json.loads((VECTORS / "auth_token.json").read_text())
    for kind in ("positive", "negative"):
        for case in tokens[kind]:
            name = case["name"]
            corpus.add("auth_token", f"{kind}_{name}", b"\x00" + case["inputs"]["token"].encode())
            inter = case.get("intermediate")
            if inter:
                # Mode 1 / 3: the plaintext, wrapped into a token by the target (url-safe / std).
                plain = bytes.fromhex(inter["plaintext_hex"])
                mode = b"\x03" if "standard" in name else b"\x01"
                corpus.add("auth_token", f"{kind}_{name}_plaintext", mode + plain)
                corpus.add("auth_token_info", f"{kind}_{name}",
                           bytes.fromhex(inter["protobuf_hex"]))
    responses = json.loads((VECTORS / "cam_responses.json").read_text())
    for case in responses["cases"]:
        corpus.add("cam_response", case["name"], case["body"].encode())
        if case["name"] == "success_one_day_rotation":
            # Rotation times at the int64 limits: NextRotationTime - CurrentTime overflows.
            body = json.loads(case["body"])
            body["Response"]["Credentials"].update(CurrentTime=-(2**63), NextRotationTime=2**63 - 1)
            corpus.add("cam_response", "handmade_rotation_times_int64_limits",
                       json.dumps(body, separators=(",", ":")).encode())


# sql_classifier: COM_QUERY texts, one per shape proxy/session/sql_classifier.cc tells apart
# (tests/proxy/sql_classifier_test.cc has the expected answers).
SQL_SEEDS = {
    "use_plain": b"USE orders",
    "use_quoted": b"use `my db`; SELECT 1",
    "use_odd_quotes": b'USE `a``b`; USE "ansi"',
    "set_names": b"SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
    "set_session_vars": b"SET SESSION sql_mode='STRICT_ALL_TABLES', @@session.time_zone = '+08:00';",
    "set_global": b"SET GLOBAL max_connections = 10; SET @@global.x = 1",
    "set_user_variable": b"SET @a := 1; SELECT @a",
    "set_transaction": b"SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "several_with_comments": b"/* c */ SET autocommit=0; -- line\nSELECT 'a;b' /* ; */; # hash\nSET x=1",
    "temporary_table": b"CREATE TEMPORARY TABLE t (id INT)",
    "prepare": b"PREPARE s FROM 'SELECT ?'; EXECUTE s USING @v; DEALLOCATE PREPARE s",
    "locks": b"SELECT GET_LOCK('x', 1); LOCK TABLES t WRITE",
    "drop_database": b"DROP DATABASE orders",
    "kill_connection": b"KILL 42",
    "kill_hard_query_id": b"KILL HARD QUERY ID 18446744073709551615",
    "kill_soft_query": b"kill soft query 7;",
    "kill_user": b"KILL USER app",
    "kill_overflow": b"KILL 18446744073709551616",
    "quotes_unterminated": b"SET x = 'abc",
    "backslash_escapes": b"SET x = 'a\\';' ; SET y = \"b\\\"\"",
}

# admin_request: request heads the admin endpoint receives (proxy/admin_request.cc).
ADMIN_SEEDS = {
    "get_metrics": b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9306\r\n\r\n",
    "get_with_query": b"GET /readyz?verbose=1 HTTP/1.1\r\n\r\n",
    "post_quit": b"POST /quitquitquit HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    "http10_no_headers": b"HEAD /startup HTTP/1.0\r\n\r\n",
    "two_parts_only": b"GET /healthz\r\n\r\n",
    "empty_parts": b"  HTTP/1.1\r\n\r\n",
    "bare_newlines": b"GET /x\n HTTP/1.1\n\n",
    "post_quit_allowed": b"POST /quitquitquit HTTP/1.1\r\nHost: [::1]:9306\r\nX-Camproxy-Admin: 1\r\n\r\n",
    "cross_site_form": b"POST /quitquitquit HTTP/1.1\r\nHost: 127.0.0.1:9306\r\nOrigin: http://evil.example\r\n"
                       b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n",
    "rebinding_host": b"GET /debug/tokens HTTP/1.1\r\nhost:\tevil.example:9306 \r\norigin: null\r\n\r\n",
    "two_hosts": b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
}


def add_text_seeds(corpus):
    for name, text in SQL_SEEDS.items():
        corpus.add("sql_classifier", name, text)
    for name, text in ADMIN_SEEDS.items():
        corpus.add("admin_request", name, text)


def main():
    corpus = Corpus()
    for path in sorted(CAPTURES.glob("*.hex")):
        add_capture(corpus, path)
        add_client_auth_capture(corpus, path)
    add_handmade(corpus)
    add_vectors(corpus)
    add_text_seeds(corpus)
    corpus.write()


if __name__ == "__main__":
    main()
