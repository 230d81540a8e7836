#!/usr/bin/env bash
# The local demo stack: a throwaway MariaDB, the CAM emulator and camproxy on 127.0.0.1:3306.
# Installs and builds what is missing, shows SELECT 'Success!' going through the proxy, then
# keeps running until Ctrl-C (add --once to stop right after the check).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bash deploy/setup-debian.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build --target camproxy
exec /usr/bin/python3 deploy/demo/demo_stack.py --camproxy build/proxy/camproxy "$@"
