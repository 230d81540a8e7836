#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what is missing, builds with
# warnings as errors, runs the unit tests (ctest) and the integration tests (pytest against a
# real MariaDB, the CAM emulator and real clients).
#   tests/run.sh            everything
#   CAMPROXY_BUILD_DIR=...  build directory (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${CAMPROXY_BUILD_DIR:-build}

bash deploy/setup-debian.sh
bash deploy/validate.sh   # the tools that check deploy/ (kubectl, systemd-analyze, Dockerfile lint)

echo "== layout (.clang-format) [$(date -u +%T)]"
bash tests/format.sh

echo "== build ($build) [$(date -u +%T)]"
cmake -S . -B "$build" -G Ninja -DCAMPROXY_WERROR=ON >/dev/null
cmake --build "$build"

echo "== unit tests [$(date -u +%T)]"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 120

echo "== integration tests [$(date -u +%T)]"
export CAMPROXY_BIN="$root/$build/proxy/camproxy"
/usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider --durations=10

# The suite above ran on the data path --data-path auto picks (io_uring where the kernel allows
# it, as on CI's); the files that move the most bytes run again on the epoll path.
echo "== integration subset on the epoll data path [$(date -u +%T)]"
CAMPROXY_TEST_DATA_PATH=epoll /usr/bin/python3 -m pytest -q -p no:cacheprovider \
  tests/integration/test_clients.py tests/integration/test_proxy_login.py tests/integration/test_pool.py

# The same real clients, drivers and pool and reconnect tests with --pool-mode transaction
# (docs/operations.md "Transaction pooling"): only the runs through camproxy (the direct half of test_clients
# is the same server again), so that the stage stays under four minutes.
echo "== integration subset in --pool-mode transaction [$(date -u +%T)]"
CAMPROXY_TEST_POOL_MODE=transaction /usr/bin/python3 -m pytest -q -p no:cacheprovider \
  tests/integration/test_pool.py tests/integration/test_clients.py tests/integration/test_drivers.py -k "not direct"

echo "== end-to-end benchmark, short mode (so that it cannot rot; numbers are not judged here) [$(date -u +%T)]"
/usr/bin/python3 bench/e2e/run.py --short --no-install --build-dir "$build" --json "$build/bench-short.json"

echo "== short fuzz runs: every target 10 s from its seeds (the long runs of docs/fuzzing.md are by hand) [$(date -u +%T)]"
bash tests/fuzz/run.sh 10

echo "== the suite again under AddressSanitizer + UndefinedBehaviorSanitizer [$(date -u +%T)]"
bash tests/sanitizers.sh asan

echo "== and under ThreadSanitizer (workers and the control loop share tokens, sessions, metrics) [$(date -u +%T)]"
bash tests/sanitizers.sh tsan
echo "== all passed [$(date -u +%T)]"
