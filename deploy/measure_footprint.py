"""Measures camproxy's memory footprint, the figures behind the resource requests in
deploy/kubernetes/ and the sizing section of docs/operations.md.

Starts the local stack (throwaway MariaDB with TLS, the CAM emulator, camproxy with upstream
TLS verify-identity, as deploy/demo does), then reads camproxy's VmRSS / VmHWM from /proc:
idle after start, after the first login, with N clients logged in (plain, then TLS to camproxy),
each having fetched a 64 KiB row, and after they are gone.

    /usr/bin/python3 deploy/measure_footprint.py --camproxy build/proxy/camproxy [--clients 100]

Everything stays on 127.0.0.1; the run is bounded (N connections, one query each).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import tempfile
from pathlib import Path

import pymysql

kRoot = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(kRoot / "tests" / "tools"))

from cam_client import EmulatorProcess  # noqa: E402
from camproxy_process import CamProxy  # noqa: E402
from mariadb_server import MariaDB  # noqa: E402
from testutil import free_port  # noqa: E402

kInstance = "cdb-footprint1"
kRegion = "ap-guangzhou"
kAccount = "camtest"
kSecretId = "AKID-footprint-local-emulator-only"
kSecretKey = "footprint-local-emulator-only-key"


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            fields[key] = int(value.split()[0])
    return fields


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    after_comm = stat[stat.rindex(")") + 2:].split()
    return (int(after_comm[11]) + int(after_comm[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def open_clients(port: int, count: int, use_tls: bool) -> list[pymysql.connections.Connection]:
    tls = None
    if use_tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # camproxy's self-signed certificate, loopback only
        tls = context
    clients = []
    for _ in range(count):
        conn = pymysql.connect(host="127.0.0.1", port=port, user=kAccount, password="anything",
                               ssl=tls, connect_timeout=10, read_timeout=30)
        with conn.cursor() as cur:
            cur.execute("SELECT REPEAT('x', 65536)")
            cur.fetchall()
        clients.append(conn)
    return clients


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--camproxy", required=True, help="path of the camproxy binary")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="camproxy-footprint-"))
    report: dict[str, object] = {"clients": args.clients, "workers": args.workers}
    with MariaDB() as db:
        emulator = EmulatorProcess(
            ["--credential", f"{kSecretId}:{kSecretKey}",
             "--account", f"{kInstance}:{kRegion}:{kAccount}",
             "--mysql-host", "127.0.0.1", "--mysql-port", str(db.port),
             "--mysql-user", db.admin_user, "--mysql-password", db.admin_password],
            work / "cam_emulator.log").start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
        env.update(TENCENTCLOUD_SECRET_ID=kSecretId, TENCENTCLOUD_SECRET_KEY=kSecretKey)
        os.environ["CAMPROXY_BIN"] = args.camproxy
        port, admin_port = free_port(), free_port()
        proxy = CamProxy.launch(
            ["--upstream", f"127.0.0.1:{db.port}", "--region", kRegion, "--instance-id", kInstance,
             "--listen", f"127.0.0.1:{port}", "--db-user", kAccount, "--cam-endpoint", emulator.endpoint,
             "--admin", f"127.0.0.1:{admin_port}", "--upstream-tls", "verify-identity",
             "--upstream-ca-file", db.ca_file, "--upstream-server-name", "localhost",
             "--workers", str(args.workers)],
            env, work / "camproxy.log", admin_port, listen_port=port)
        try:
            report["idle_after_start"] = memory_kib(proxy.pid)
            open_clients(port, 1, use_tls=False)[0].close()
            report["after_first_login"] = memory_kib(proxy.pid)
            for label, use_tls in (("plain", False), ("tls", True)):
                clients = open_clients(port, args.clients, use_tls)
                report[f"with_clients_{label}"] = memory_kib(proxy.pid)
                for c in clients:
                    c.close()
            report["after_clients_left"] = memory_kib(proxy.pid)
            report["cpu_seconds_total"] = round(cpu_seconds(proxy.pid), 2)
        finally:
            proxy.stop()
            emulator.stop()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
