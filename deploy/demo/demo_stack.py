"""Runs the demo stack: MariaDB 10.11 in a temp dir, the CAM emulator owning the password of
account `camtest`, and camproxy on 127.0.0.1:3306 logging in with CAM tokens.

Only for demos and manual testing: the credentials below are throwaway values that only the
local emulator accepts.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

kRoot = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(kRoot / "tests" / "tools"))

from cam_client import EmulatorProcess  # noqa: E402
from camproxy_process import CamProxy  # noqa: E402
from mariadb_server import MariaDB  # noqa: E402
from testutil import free_port  # noqa: E402

kInstance = "cdb-demo0001"
kRegion = "ap-guangzhou"
kAccount = "camtest"
kSecretId = "AKID-demo-local-emulator-only"
kSecretKey = "demo-local-emulator-only-secret-key"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--camproxy", required=True, help="path of the camproxy binary")
    parser.add_argument("--listen", default="127.0.0.1:3306")
    parser.add_argument("--once", action="store_true", help="exit after the check")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="camproxy-demo-"))
    with MariaDB() as db:
        print(f"demo: MariaDB {db.port} (data in {db.datadir})", flush=True)
        emulator = EmulatorProcess(
            ["--credential", f"{kSecretId}:{kSecretKey}",
             "--account", f"{kInstance}:{kRegion}:{kAccount}",
             "--mysql-host", "127.0.0.1", "--mysql-port", str(db.port),
             "--mysql-user", db.admin_user, "--mysql-password", db.admin_password,
             "--rotation-seconds", "600"],
            work / "cam_emulator.log").start()
        print(f"demo: CAM emulator at {emulator.endpoint} (rotates the password of '{kAccount}' every 600 s)",
              flush=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
        env.update(TENCENTCLOUD_SECRET_ID=kSecretId, TENCENTCLOUD_SECRET_KEY=kSecretKey, CAMPROXY_BIN=args.camproxy)
        os.environ["CAMPROXY_BIN"] = args.camproxy
        admin_port = free_port()
        proxy = CamProxy.launch(
            ["--upstream", f"127.0.0.1:{db.port}", "--region", kRegion, "--instance-id", kInstance,
             "--listen", args.listen, "--db-user", kAccount, "--cam-endpoint", emulator.endpoint,
             "--admin", f"127.0.0.1:{admin_port}", "--upstream-tls", "verify-identity",
             "--upstream-ca-file", db.ca_file, "--upstream-server-name", "localhost", "--log-format", "text"],
            env, work / "camproxy.log", admin_port)
        try:
            host, port = args.listen.rsplit(":", 1)
            command = ["mariadb", f"-h{host}", f"-P{port}", f"-u{kAccount}", "-panything", "-e",
                       "SELECT 'Success!'"]
            print("demo: $ " + " ".join(command[:-1]) + ' "SELECT \'Success!\'"', flush=True)
            result = subprocess.run(command, capture_output=True, text=True, timeout=30)
            sys.stdout.write(result.stdout)
            sys.stderr.write(result.stderr)
            if result.returncode != 0:
                print(f"demo: the check failed; camproxy's log: {proxy.log_path}", file=sys.stderr)
                return 1
            if args.once:
                return 0
            print(f"demo: running. Connect with: mariadb -h{host} -P{port} -u{kAccount} -panything\n"
                  f"demo: admin endpoint http://127.0.0.1:{admin_port}/readyz, camproxy log {proxy.log_path}\n"
                  "demo: Ctrl-C stops everything.", flush=True)
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
            return 0
        finally:
            proxy.stop()
            emulator.stop()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
