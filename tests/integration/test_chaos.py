"""Chaos (issue: hostile input, sanitizers and chaos), bounded in time: the database killed and
restarted under load; CAM answering garbage, hanging and resetting under new logins; clients
that vanish mid-result and mid-LOCAL-INFILE; a thousand half-open client connections.

After each: camproxy serves normally, its RSS is back within kRssSlackKiB of where it was after
a warm-up, and MariaDB's own session list for the proxy's accounts agrees with camproxy's
camproxy_upstream_connections_open gauge (no upstream connection leaked). docs/chaos.md says
what each test proves."""

from __future__ import annotations

import os
import resource
import selectors
import socket
import struct
import time

import pymysql
import pytest

from client_load import QueryLoad
from conftest import not_in_transaction_mode
from proxy_probe import metric, rss_kib, upstream_thread_ids
from testutil import WaitTimeout, wait_until

# RSS after the chaos against RSS after a warm-up of the same kind: what may stay of the peak
# (1 000 sessions, 100 MB results relayed) without it being a leak, once camproxy has trimmed.
kRssSlackKiB = 4 * 1024
kRssSettleSeconds = 10.0
# No single client call may take this long: every wait camproxy has is shorter (connect and
# reconnect windows, --cam-timeout); a longer one is a hang.
kHangSeconds = 12.0
kWarmUpQueries = 300


def login(proxy, user="camtest", **kwargs):
    params = dict(host="127.0.0.1", port=proxy.port, user=user, password="any", database="camdb",
                  connect_timeout=10, read_timeout=30, write_timeout=30, autocommit=True)
    params.update(kwargs)
    return pymysql.connect(**params)


def query_one(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def warm_up(proxy, threads: int = 4) -> int:
    """A short load of the kind the test applies, so that worker arenas, the pool and the token
    exist before the baseline is taken; returns the RSS baseline in KiB."""
    load = QueryLoad(proxy.port, threads=threads)
    with load.running():
        wait_until(lambda: load.report.ok >= kWarmUpQueries, 60, f"{kWarmUpQueries} warm-up queries")
    assert not load.report.errors and not load.report.unexpected and not load.report.wrong, load.report
    return rss_kib(proxy.pid)


def upstream_count(mariadb, accounts) -> int:
    return sum(len(upstream_thread_ids(mariadb, account)) for account in accounts)


def assert_recovered(proxy, mariadb, baseline_kib: int, accounts=("camtest",), connect=login) -> None:
    """camproxy alive and serving, no upstream connection leaked, RSS back near the baseline."""
    assert proxy.returncode is None, f"camproxy exited with {proxy.returncode}\n{proxy.log_tail()}"
    for _ in range(20):
        with connect(proxy) as conn:
            assert query_one(conn, "SELECT 'still serving'") == ("still serving",)

    seen = {}

    def agree():
        seen["gauge"] = metric(proxy, "camproxy_upstream_connections_open")
        seen["listed"] = upstream_count(mariadb, accounts)
        return seen["listed"] == seen["gauge"]
    settle(agree, 20, lambda: f"MariaDB lists {seen.get('listed')} sessions of {', '.join(accounts)}, camproxy's "
                              f"upstream gauge says {seen.get('gauge')}: a leaked or a miscounted connection")
    # camproxy gives memory back within seconds of a burst's end (proxy/memory_trim.h). Not under
    # a sanitizer (tests/sanitizers.sh): its allocator keeps freed memory (quarantine, shadow).
    if os.environ.get("CAMPROXY_SANITIZER"):
        return
    rss = [rss_kib(proxy.pid)]

    def rss_back():
        rss.append(rss_kib(proxy.pid))
        return rss[-1] <= baseline_kib + kRssSlackKiB
    settle(rss_back, kRssSettleSeconds,
           lambda: f"RSS {rss[-1]} KiB {kRssSettleSeconds:g}s after the chaos ({rss[0]} KiB at first), "
                   f"{baseline_kib} KiB after the warm-up: more than {kRssSlackKiB} KiB kept")


def settle(pred, timeout: float, failure) -> None:
    """wait_until(pred), failing with the text failure() gives (the last figures) if it never holds."""
    try:
        wait_until(pred, timeout, "")
    except WaitTimeout:
        pytest.fail(failure(), pytrace=False)


def assert_clean_load(report, allowed_errors=frozenset()) -> None:
    assert not report.wrong, f"wrong answers: {report.wrong[:5]}"
    assert not report.unexpected, f"errors that are neither an ERR nor a disconnect: {report.unexpected[:5]}"
    assert set(report.errors) <= allowed_errors, f"errors {dict(report.errors)}, allowed {sorted(allowed_errors)}"
    assert report.longest_call < kHangSeconds, f"a client call took {report.longest_call:.1f}s"


# -- the database killed and restarted under load ------------------------------------------------
kRestarts = 3
kLoadBeforeKillSeconds = 3.0
kOutageSeconds = 1.0
kLoadThreads = 6
# What a client may see while its database is gone: a disconnect (2006, 2013), camproxy's
# "cannot reach the database" (9001), "lost during a command" (9004), "lost with state / the
# reconnect failed" (9005). Not 9003 "unexpected answer": a login cut short is an outage.
kOutageErrors = frozenset({2006, 2013, 9001, 9004, 9005})


def test_upstream_killed_and_restarted_under_load(camproxy, mariadb):
    proxy = camproxy("--pool-min-idle", "2", "--connect-timeout", "2s", "--reconnect-window", "4s")
    baseline = warm_up(proxy)
    load = QueryLoad(proxy.port, threads=kLoadThreads)
    try:
        with load.running():
            for restart in range(1, kRestarts + 1):
                served = load.report.ok
                time.sleep(kLoadBeforeKillSeconds)  # load on a healthy database: a phase of its own
                assert load.report.ok >= served + 50, f"only {load.report.ok - served} queries before kill {restart}"
                mariadb.kill()
                time.sleep(kOutageSeconds)  # the outage itself: clients keep trying meanwhile
                mariadb.start()
                back = time.monotonic()
                wait_until(lambda: len(load.ok_since(back)) == kLoadThreads, 30,
                           f"every client thread to be served again after restart {restart}")
    finally:
        if not mariadb.is_running():  # the session's other tests need their database
            mariadb.start()
    report = load.report
    assert report.errors, "no client noticed three outages: the test did not test"
    assert_clean_load(report, kOutageErrors)
    wait_until(lambda: metric(proxy, "camproxy_upstream_connections_idle") >= 2, 20,
               "the pool to refill to --pool-min-idle after the restarts")
    assert_recovered(proxy, mariadb, baseline)


# -- CAM misbehaving while new clients log in -----------------------------------------------------
kCamPhaseSeconds = 3.0
kCamTimeout = 1.0
# fault -> the camproxy_cam_requests_total outcome it must show up as
kCamFaults = {"garbage": "bad_answer", "malformed_json": "bad_answer", "http500": "bad_answer",
              "hang": "timeout", "reset": "network"}
kImpatientSeconds = 0.1  # a client giving up on its login while camproxy still waits for CAM


def uncached_login_error(proxy, timeout=10):
    """A login as camtls, whose token camproxy never got: (code, message, seconds taken)."""
    started = time.monotonic()
    try:
        login(proxy, user="camtls", connect_timeout=timeout, read_timeout=timeout).close()
    except pymysql.err.OperationalError as exc:
        return exc.args[0], exc.args[1], time.monotonic() - started
    return None, "logged in", time.monotonic() - started


@not_in_transaction_mode("logins take no database connection, so the held clients share the idle ones "
                         "and none dials with the rotated password")
def test_cam_garbage_hangs_and_resets_under_new_logins(camproxy, cam, mariadb):
    # With --db-user '*' the client's user is the CAM account: camtest's token gets cached by
    # the warm-up, camtls has none and needs CAM at every login while CAM is broken.
    proxy = camproxy("--cam-timeout", f"{kCamTimeout:g}s", db_user="*")
    baseline = warm_up(proxy)
    load = QueryLoad(proxy.port, threads=3, per_query=True)
    with load.running():
        for fault, outcome in kCamFaults.items():
            counted = metric(proxy, "camproxy_cam_requests_total", outcome=outcome)
            cam.control.fail(fault)
            phase_end = time.monotonic() + kCamPhaseSeconds
            attempts = gave_up = 0
            while time.monotonic() < phase_end:
                code, message, seconds = uncached_login_error(proxy)
                attempts += 1
                # 1226: this loop asks faster than the CAM call limit (--cam-rate-limit) allows.
                assert (code == 1045 and "CAM" in message) or (code == 1226 and "--cam-rate-limit" in message), \
                    f"{fault}: camtls login gave {code} {message!r}"
                assert seconds < kCamTimeout + 5, f"{fault}: the refused login took {seconds:.1f}s"
                if fault == "hang":  # and one that leaves while camproxy waits for CAM for it
                    code, message, _ = uncached_login_error(proxy, timeout=kImpatientSeconds)
                    assert code in (2013, 1045, 1226), f"an impatient camtls login gave {code} {message!r}"
                    gave_up += code == 2013
            assert metric(proxy, "camproxy_cam_requests_total", outcome=outcome) > counted, \
                f"{fault} never reached camproxy as a CAM {outcome}"
            cam.control.clear()
            assert attempts >= 1
            assert fault != "hang" or gave_up, "no impatient client left before camproxy answered it"
    # Cached-token logins went on through every fault, none refused, none waiting on CAM.
    assert load.report.ok > 0
    assert_clean_load(load.report)

    # CAM good again: tokens are fetched, for the account that had none and after a rotation.
    fetched = metric(proxy, "camproxy_cam_requests_total", outcome="success")

    def camtls_logs_in():
        with login(proxy, user="camtls") as conn:
            return query_one(conn, "SELECT CURRENT_USER()")[0].startswith("camtls@")
    wait_until(camtls_logs_in, 20, "a camtls login once CAM answers again")
    cam.control.rotate("camtest")
    # More clients at once than connections idle in the pool: one at least logs in anew, gets
    # 1045 with the cached token, and camproxy fetches the rotated one.
    held = [login(proxy) for _ in range(int(metric(proxy, "camproxy_upstream_connections_idle")) + 1)]
    for conn in held:
        assert query_one(conn, "SELECT 1") == (1,)
        conn.close()
    assert metric(proxy, "camproxy_cam_requests_total", outcome="success") >= fetched + 2
    assert_recovered(proxy, mariadb, baseline, accounts=("camtest", "camtls"))


# -- clients that vanish mid-result and mid-LOCAL-INFILE -------------------------------------------
kBigSelect = "SELECT seq, REPEAT('v', 1000) FROM seq_1_to_100000"  # ~100 MB, far past any buffer
kReadBeforeVanishing = 64 * 1024
kInfileChunk = b"".join(b"%d\n" % i for i in range(3000))
kInfilePackets = 4


def send_command(sock, payload: bytes, seq: int = 0) -> None:
    sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload)


def read_packet(sock) -> bytes:
    header = read_exactly(sock, 4)
    return read_exactly(sock, int.from_bytes(header[:3], "little"))


def read_exactly(sock, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "camproxy closed the connection"
        data += chunk
    return data


def vanish(conn, reset: bool) -> None:
    """The client process dies: its socket closes (FIN, or RST with `reset`) with no COM_QUIT."""
    sock = conn._sock
    sock.settimeout(None)
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn._rfile.close()  # the driver's reader holds the descriptor open too
    sock.close()
    conn._sock = conn._rfile = None


def vanish_mid_result(conn, reset: bool) -> None:
    sock = conn._sock
    sock.settimeout(10)
    send_command(sock, b"\x03" + kBigSelect.encode())
    got = 0
    while got < kReadBeforeVanishing:
        chunk = sock.recv(kReadBeforeVanishing - got)
        assert chunk, "camproxy closed the connection mid-result"
        got += len(chunk)
    vanish(conn, reset)


def vanish_mid_infile(conn, reset: bool) -> None:
    sock = conn._sock
    sock.settimeout(10)
    send_command(sock, b"\x03LOAD DATA LOCAL INFILE 'chaos.csv' INTO TABLE chaos_infile")
    request = read_packet(sock)
    assert request[:1] == b"\xfb" and request[1:] == b"chaos.csv", request[:64]
    for seq in range(2, 2 + kInfilePackets):  # part of the file, and never the empty packet
        send_command(sock, kInfileChunk, seq)
    vanish(conn, reset)


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_clients_vanishing_mid_result_or_mid_infile_leave_no_dirty_connection(camproxy, mariadb, reset):
    # One worker and one upstream connection: the client after a vanished one gets either that
    # connection reset, or a new one because it was closed; nothing else is possible.
    proxy = camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", "1")
    with mariadb.admin(database="camdb") as admin:
        query_one(admin, "CREATE TABLE IF NOT EXISTS chaos_infile (n INT) ENGINE=InnoDB")
        query_one(admin, "TRUNCATE TABLE chaos_infile")
    baseline = warm_up(proxy, threads=1)
    for round_ in range(3):
        for vanish_how in (vanish_mid_result, vanish_mid_infile):
            conn = login(proxy, local_infile=True)
            tid = query_one(conn, "SELECT CONNECTION_ID()")[0]
            query_one(conn, "SET @dirty = 'left by a vanished client'")
            vanish_how(conn, reset)

            with login(proxy) as after:
                next_tid, dirty, loaded = query_one(
                    after, "SELECT CONNECTION_ID(), @dirty, (SELECT COUNT(*) FROM chaos_infile)")
                what = f"{vanish_how.__name__} round {round_}"
                assert dirty is None, f"{what}: the next client got the vanished client's session"
                assert loaded == 0, f"{what}: {loaded} rows of an unfinished LOAD DATA were committed"
                assert query_one(after, "SELECT 'fine'") == ("fine",)
            if next_tid != tid:
                wait_until(lambda: tid not in upstream_thread_ids(mariadb, "camtest"), 10,
                           f"{what}: the vanished client's database session {tid} to end")
    assert_recovered(proxy, mariadb, baseline)


# -- a thousand half-open client connections --------------------------------------------------------
kHalfOpen = 1000
kHandshakeTimeout = 2.0
kSslRequest = struct.pack("<IIB23x", 0x00000200 | 0x00000800 | 0x00008000 | 0x00080000, 1 << 24, 45)
# What each half-open client sends after connecting (round robin): nothing; part of a packet
# header; a header announcing a HandshakeResponse41 and half of it; an SSLRequest and then no
# TLS ClientHello; an SSLRequest and the first bytes of a TLS record.
kHalfHandshakes = (
    b"",
    b"\x40\x00",
    b"\x40\x00\x00\x01" + struct.pack("<IIB", 0x000a8200, 1 << 24, 45) + b"\x00" * 10,
    struct.pack("<I", len(kSslRequest))[:3] + b"\x01" + kSslRequest,
    struct.pack("<I", len(kSslRequest))[:3] + b"\x01" + kSslRequest + b"\x16\x03\x01\x02\x00\x01",
)


@pytest.fixture
def descriptors_for_a_thousand():
    """This process and camproxy (which inherits the limit) each hold a socket per client."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = kHalfOpen + 1024
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_thousand_half_open_clients_are_dropped_at_the_handshake_timeout(descriptors_for_a_thousand, camproxy,
                                                                            mariadb):
    proxy = camproxy("--handshake-timeout", f"{kHandshakeTimeout:g}s")
    baseline = warm_up(proxy)
    timed_out = metric(proxy, "camproxy_client_connections_failed_total", reason="handshake_timeout")
    load = QueryLoad(proxy.port, threads=2)
    selector = selectors.DefaultSelector()
    opened_at, closed_after = {}, {}
    try:
        with load.running():
            for i in range(kHalfOpen):
                sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
                opened_at[sock] = time.monotonic()
                sock.sendall(kHalfHandshakes[i % len(kHalfHandshakes)])
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            deadline = time.monotonic() + kHandshakeTimeout + 20
            while len(closed_after) < kHalfOpen and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=1.0):
                    sock = key.fileobj
                    try:
                        data = sock.recv(65536)  # the greeting, then maybe an ERR 1043
                    except ConnectionResetError:
                        data = b""
                    if not data:
                        closed_after[sock] = time.monotonic() - opened_at[sock]
                        selector.unregister(sock)
            served_meanwhile = load.report.ok
    finally:
        for sock in opened_at:
            sock.close()
        selector.close()
    assert len(closed_after) == kHalfOpen, \
        f"{kHalfOpen - len(closed_after)} half-open connections still open {kHandshakeTimeout + 20:g}s later"
    early = [t for t in closed_after.values() if t < kHandshakeTimeout * 0.9]
    assert not early, f"{len(early)} half-open connections dropped before the handshake timeout"
    assert metric(proxy, "camproxy_client_connections_failed_total", reason="handshake_timeout") \
        == timed_out + kHalfOpen
    assert served_meanwhile > 0
    assert_clean_load(load.report)
    wait_until(lambda: metric(proxy, "camproxy_client_connections_open") == 0, 10, "no client connection left open")
    assert_recovered(proxy, mariadb, baseline)
