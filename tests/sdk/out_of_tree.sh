#!/usr/bin/env bash
# A third party's journey with the installed SDK alone: install the SDK into a temp prefix,
# build the payments example plugin from a copy outside the source tree with
# find_package(fastappkit), drop the built folder into a temp project, and run
# `fastappkit migrate all` on SQLite and on PostgreSQL.
# usage: out_of_tree.sh SOURCE_DIR BUILD_DIR FASTAPPKIT_BIN PGHOST
set -euo pipefail
src=$1 build=$2 bin=$3 pghost=$4
tmp=$(mktemp -d /tmp/fastappkit-oot-XXXXXX)
cleanup() {
  psql -h "$pghost" -U postgres -q -c "DROP DATABASE IF EXISTS fak_out_of_tree WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cmake --install "$build" --prefix "$tmp/prefix" --component sdk >/dev/null
cp -r "$src/plugins/payments" "$tmp/payments"
cmake -S "$tmp/payments" -B "$tmp/payments/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/payments/build" >/dev/null
test -f "$tmp/payments/build/plugins/payments/plugin.toml"
test -f "$tmp/payments/build/plugins/payments/libpayments.so"
grep -q 'version = "1.0.0"' "$tmp/payments/build/plugins/payments/plugin.toml"  # taken from the source plugin.toml
# The version is written in one place: a VERSION in CMakeLists.txt that differs is refused.
cp -r "$src/plugins/payments" "$tmp/mismatch"
sed -i 's/NAME payments  # the version is plugin.toml.s/NAME payments VERSION 9.9.9/' "$tmp/mismatch/CMakeLists.txt"
if cmake -S "$tmp/mismatch" -B "$tmp/mismatch/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/mismatch.log" 2>&1; then
  echo "a VERSION that differs from plugin.toml was accepted" >&2; exit 1
fi
grep -q 'VERSION 9.9.9 differs from version' "$tmp/mismatch.log" || { cat "$tmp/mismatch.log" >&2; exit 1; }

run_project() {  # $1: database URL
  local project="$tmp/project-$2"
  cp -r "$src/apps-example" "$project"
  rm -rf "$project/plugins" "$project/app.db"
  mkdir -p "$project/plugins"
  cp -r "$tmp/payments/build/plugins/payments" "$project/plugins/"
  printf '[tool.fastappkit]\napps = ["apps.blog", "payments"]\n' >"$project/fastappkit.toml"
  "$bin" -C "$project" --database-url "$1" migrate all
  local status
  status=$("$bin" -C "$project" --database-url "$1" --json migrate status)
  echo "$status" | /usr/bin/python3 -c '
import json, sys
apps = {a["app"]: a for a in json.load(sys.stdin)["apps"]}
p = apps["payments"]
ok = (p["kind"], p["version"], p["version_table"], p["current"], p["heads"], p["pending"]) == \
     ("external", "1.0.0", "alembic_version_payments", ["8b7c6d5e4f3a"], ["8b7c6d5e4f3a"], [])
sys.exit(0 if ok else 1)' \
    || { echo "unexpected status: $status" >&2; exit 1; }
}

run_project "sqlite:///oot.db" sqlite
psql -h "$pghost" -U postgres -q -c "CREATE DATABASE fak_out_of_tree" >/dev/null
run_project "postgresql://postgres@/fak_out_of_tree?host=$pghost" postgresql
echo "out-of-tree plugin: built against the installed SDK and migrated on SQLite and PostgreSQL"
