"""--data-path (issue 19): which raw-I/O backend the sockets use is in the started log line and
in camproxy_data_path, a session works on each, and a bad value is a usage error. (The rest of
the suite runs on the path auto picks; tests/run.sh runs a subset again on epoll.)"""

from __future__ import annotations

import json

import pymysql
import pytest

from camproxy_process import ProxyStartError


def started_line(proxy) -> dict:
    for line in proxy.log_text().splitlines():
        if '"started"' in line:
            return json.loads(line)
    raise AssertionError("no started line in the log")


def metric_lines(proxy) -> list[str]:
    status, body = proxy.admin_get("/metrics")
    assert status == 200
    return [line for line in body.decode().splitlines() if line.startswith("camproxy_data_path{")]


def round_trip(proxy) -> None:
    conn = pymysql.connect(host="127.0.0.1", port=proxy.port, user="camtest", password="x", connect_timeout=10,
                           read_timeout=20)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT REPEAT('x', 100000), 42")  # a few reads and sends of each socket
        text, number = cur.fetchone()
        assert (len(text), number) == (100000, 42)


@pytest.mark.parametrize("path", ["io_uring", "epoll", "auto"])
def test_the_data_path_is_said_and_carries_a_session(camproxy, path):
    try:
        proxy = camproxy("--data-path", path)
    except ProxyStartError as e:  # a kernel or seccomp profile without io_uring: a clear refusal
        assert path == "io_uring" and "io_uring is not usable here" in str(e), str(e)
        return
    used = started_line(proxy)["data_path"]
    assert used == {"auto": used}.get(path, path)
    assert sorted(metric_lines(proxy)) == sorted([
        f'camproxy_data_path{{path="io_uring"}} {1 if used == "io_uring" else 0}',
        f'camproxy_data_path{{path="epoll"}} {1 if used == "epoll" else 0}'])
    round_trip(proxy)


def test_a_bad_data_path_is_a_usage_error(camproxy):
    with pytest.raises(ProxyStartError) as info:
        camproxy.start("--data-path", "kqueue", expect_exit=True)
    assert "status 2" in str(info.value) and "expected auto, io_uring or epoll" in str(info.value), str(info.value)


# Installs a seccomp filter that refuses io_uring_setup with EPERM, as a container runtime's
# default profile does, then becomes camproxy (the filter goes through exec; same pid).
kNoIoUringWrapper = r'''#!/usr/bin/python3
import ctypes, os, struct, sys
kIoUringSetup = 425  # the same number on every Linux architecture (the unified syscall table)
program = [(0x20, 0, 0, 0),                 # load the syscall number
           (0x15, 0, 1, kIoUringSetup),     # io_uring_setup?
           (0x06, 0, 0, 0x00050000 | 1),    #   SECCOMP_RET_ERRNO | EPERM
           (0x06, 0, 0, 0x7FFF0000)]        # else SECCOMP_RET_ALLOW
code = b"".join(struct.pack("HBBI", *insn) for insn in program)
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(Prog(len(program), code)), 0, 0) != 0:
    sys.exit(f"seccomp: errno {ctypes.get_errno()}")  # PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP FILTER
os.execv(sys.argv[1], sys.argv[1:])
'''


@pytest.fixture
def io_uring_refused(tmp_path, monkeypatch):
    """CAMPROXY_BIN becomes a wrapper that runs the real binary with io_uring_setup refused."""
    from camproxy_process import proxy_binary
    real = proxy_binary()
    filter_script = tmp_path / "no_io_uring.py"
    filter_script.write_text(kNoIoUringWrapper)
    wrapper = tmp_path / "camproxy-no-io-uring"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/python3 {filter_script} {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CAMPROXY_BIN", str(wrapper))


def test_a_refused_io_uring_falls_back_to_epoll_and_says_why(camproxy, io_uring_refused):
    proxy = camproxy("--data-path", "auto")
    assert started_line(proxy)["data_path"] == "epoll"
    assert sorted(metric_lines(proxy)) == ['camproxy_data_path{path="epoll"} 1',
                                           'camproxy_data_path{path="io_uring"} 0']
    fallback = [json.loads(line) for line in proxy.log_text().splitlines() if '"data_path_epoll"' in line]
    assert len(fallback) == 1 and "io_uring_setup: Operation not permitted" in fallback[0]["reason"], fallback
    round_trip(proxy)


def test_a_forced_io_uring_that_is_refused_stops_the_start(camproxy, io_uring_refused):
    with pytest.raises(ProxyStartError) as info:
        camproxy.start("--data-path", "io_uring", expect_exit=True)
    assert "io_uring is not usable here" in str(info.value) and "Operation not permitted" in str(info.value), \
        str(info.value)
