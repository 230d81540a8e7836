#!/usr/bin/env bash
# Installs everything camproxy needs to build, test, benchmark and run its demo on a fresh
# Debian 12 machine, from Debian's packages and (for the Node.js test client) the npm registry.
# Idempotent: a second run only checks. Needs root (or sudo).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

packages=(
  # build
  cmake ninja-build g++ pkg-config
  libuv1-dev liburing-dev libssl-dev libcurl4-openssl-dev libsimdjson-dev libexpected-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # sanitizers and fuzzing (clang's runtime)
  clang libclang-rt-14-dev
  # the layout check (tests/format.sh)
  clang-format
  # integration tests: a throwaway MariaDB, Python clients, TLS tooling
  mariadb-server mariadb-client python3 python3-pymysql python3-cryptography python3-pytest
  python3-yaml openssl ca-certificates curl procps
  # real drivers (tests/clients, test_drivers.py; python3-mysqldb and DBD::MariaDB also negotiate
  # MariaDB's extended capabilities in test_mariadb_extended_caps.py): Connector/J, mysqlclient,
  # DBD::MariaDB, Ruby mysql2, PHP mysqli; go-sql-driver (test_pool_mode_transaction_stmts.py)
  libmariadb-java default-jdk-headless python3-mysqldb libdbd-mariadb-perl ruby-mysql2 php-cli php-mysql
  golang-go golang-github-go-sql-driver-mysql-dev
  # MariaDB's own test suite run through camproxy (tests/mtr/run_subset.py)
  mariadb-test
  # benchmarks
  sysbench haproxy libmariadb-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The system MariaDB service is never used: tests start their own server in a temp dir.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mariadb 2>/dev/null; then
  "${sudo_cmd[@]}" systemctl disable --now mariadb >/dev/null 2>&1 || true
fi

if [ ! -d "$here/tests/node/node_modules/mysql2" ]; then
  echo "setup: installing the Node.js test client (mysql2)"
  (cd "$here/tests/node" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup: done"
