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
