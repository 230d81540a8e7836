"""Password rotation under load: sysbench oltp_read_only (16 threads, 60 s; read-only so that no
error comes from the workload itself, such as oltp_read_write's deadlocks) through camproxy while the CAM
emulator presses "Refresh Password" every 10 s, plus a connect-per-request client that needs
new logins all along: no client sees an error."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time

import pymysql
import pytest

kSeconds = 60
kRotateEvery = 10


def sysbench(proxy, *args, timeout):
    return subprocess.run(["sysbench", "oltp_read_only", "--db-driver=mysql", "--mysql-host=127.0.0.1",
                           f"--mysql-port={proxy.port}", "--mysql-user=camtest", "--mysql-password=any",
                           "--mysql-db=camdb", "--tables=2", "--table-size=2000", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(shutil.which("sysbench") is None, reason="sysbench is installed by deploy/setup-debian.sh")
def test_rotation_every_10s_under_sysbench_load_gives_no_client_error(camproxy, cam):
    proxy = camproxy()
    sysbench(proxy, "cleanup", timeout=60)
    prep = sysbench(proxy, "prepare", timeout=120)
    assert prep.returncode == 0, prep.stderr

    stop = threading.Event()
    rotations, logins, login_errors = [], [0], []

    def rotate():
        while not stop.wait(kRotateEvery):
            cam.control.rotate("camtest")
            rotations.append(time.monotonic())

    def connect_per_request():
        while not stop.is_set():
            try:
                with pymysql.connect(host="127.0.0.1", port=proxy.port, user="camtest", password="x",
                                     connect_timeout=10) as conn, conn.cursor() as cur:
                    cur.execute("SELECT 1")
                    logins[0] += 1
            except pymysql.err.MySQLError as e:
                login_errors.append(e.args)
            time.sleep(0.05)

    threads = [threading.Thread(target=rotate), threading.Thread(target=connect_per_request)]
    for t in threads:
        t.start()
    try:
        run = sysbench(proxy, "run", "--threads=16", f"--time={kSeconds}", "--report-interval=0",
                       timeout=kSeconds + 60)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    errors = int(re.search(r"errors:\s+(\d+)", run.stdout).group(1))
    transactions = int(re.search(r"transactions:\s+(\d+)", run.stdout).group(1))
    assert errors == 0, run.stdout[-1500:]
    assert transactions > 0
    assert len(rotations) >= kSeconds // kRotateEvery - 1
    assert login_errors == []
    assert logins[0] > 50
    sysbench(proxy, "cleanup", timeout=60)
