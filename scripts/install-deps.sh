#!/usr/bin/env bash
# Installs the Debian 12 packages fastappkit builds and tests with, only those missing.
# Idempotent; needs root (or sudo) only when something is missing. Extra package names given as
# arguments are installed too (scripts/format.sh and scripts/tidy.sh add clang-format, clang-tidy).
set -euo pipefail
packages=(
  g++ cmake ninja-build pkg-config dpkg-dev lld
  libboost-dev libboost-filesystem-dev libboost-program-options-dev
  libtomlplusplus-dev libsqlitecpp-dev libsqlite3-dev libpq-dev doctest-dev
  postgresql-15 nlohmann-json3-dev graphviz libssl-dev
  python3-alembic python3-psycopg2 sqlite3
  "$@"
)
# npm installs squawk-cli for the squawk oracle test (tests/lint/); any npm on PATH will do.
command -v npm >/dev/null || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
