#!/usr/bin/env bash
# Installs the tools that check deploy/ (tests/integration/test_deploy_files.py), after
# deploy/setup-debian.sh has installed the rest. Idempotent: a second run only checks.
#   kubectl             renders the kustomize variants (any kubectl 1.21+; Debian's
#                       kubernetes-client only when no kubectl is installed at all)
#   python3-kubernetes  the API models used as a schema for the rendered manifests
#   systemd             systemd-analyze verify / security for the unit
#   ShellCheck          lints this script and the Debian maintainer scripts (deploy/debian)
#   dpkg-dev, lintian,  build (CPack runs dpkg-shlibdeps), lint and install the Debian package
#   adduser             (tests/integration/test_package.py)
#   dockerfile-utils    (npm, pinned in deploy/lint/package-lock.json) parses and lints the
#                       Dockerfile; hadolint has no Debian package
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

packages=(python3-kubernetes python3-yaml systemd shellcheck dpkg-dev lintian adduser)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Another package may provide /usr/bin/kubectl; Debian's would conflict with it.
if ! command -v kubectl >/dev/null 2>&1; then missing+=(kubernetes-client); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "validate: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$here/lint/node_modules/.bin/dockerfile-utils" ]; then
  echo "validate: installing dockerfile-utils"
  (cd "$here/lint" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "validate: done"
