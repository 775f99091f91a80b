#!/usr/bin/env bash
# Install what the tests need beyond Python packages, when it is missing: a PostgreSQL server, Redis
# and Chromium (Debian packages, as root), and axe-core (npm) for the accessibility checks.
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_VERSION=4.14.1
missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${missing[*]}. Install them (as root: apt-get install ${missing[*]})." >&2
    exit 1
  fi
  echo "Installing ${missing[*]} with apt-get..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -f ".cache/node/node_modules/axe-core/axe.min.js" ]; then
  echo "Installing axe-core ${AXE_VERSION} with npm..."
  npm install --silent --no-audit --no-fund --prefix .cache/node "axe-core@${AXE_VERSION}" >/dev/null
fi
