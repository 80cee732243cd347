#!/usr/bin/env bash
# Installs the Debian 12 packages gatehouse builds, tests and demos with.
# Idempotent: installs only what is missing; does nothing when all is present.
# Also installs node-postgres for the driver tests with npm ci (see npm_drivers).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang
  # libFuzzer and the sanitizer runtimes clang links the fuzz targets with (a Recommends of
  # clang, which --no-install-recommends would leave out).
  libclang-rt-dev
  libboost1.81-dev libssl-dev openssl
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
  libsqlite3-dev sqlite3 libpq-dev libpg-query-dev libprotobuf-c-dev libhyperscan-dev libzstd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 postgresql-client-15 pgbouncer haproxy
  python3 procps iproute2 curl
  # The driver tests (tests/integration/drivers): JDBC, SQLAlchemy, psycopg2.
  default-jre-headless libpostgresql-jdbc-java python3-sqlalchemy python3-psycopg2
)
# node-postgres runs on Node: Debian's, unless one is installed already.
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi
root="$(cd "$(dirname "$0")/.." && pwd)"

# node-postgres itself comes from the npm registry, pinned by the committed
# package-lock.json, into tests/integration/drivers/node_modules (not
# committed); again only when that lock changed since the last install.
npm_drivers() {
  local dir="$root/tests/integration/drivers"
  if [ -f "$dir/node_modules/.package-lock.json" ] &&
    [ ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    return 0
  fi
  echo "install-deps: npm ci in tests/integration/drivers"
  npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  npm_drivers
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or install them) and try again" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

# The Debian packages start a cluster and pgbouncer as services; gatehouse's
# tests and demo start their own throwaway servers on free ports instead.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now pgbouncer >/dev/null 2>&1 || true
  systemctl disable --now haproxy >/dev/null 2>&1 || true
fi

npm_drivers
