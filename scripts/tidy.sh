#!/usr/bin/env bash
# clang-tidy (checks in .clang-tidy) over every C++ source of the project that build/ compiles
# (build/compile_commands.json, written by scripts/build.sh); exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh clang-tidy
test -f build/compile_commands.json || { echo "build/compile_commands.json is missing: run scripts/build.sh first"; exit 2; }
root=$(pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
run-clang-tidy -quiet -j 2 -p build "^${root}/(engine|plugin-sdk|plugins|tests|apps-example)/" >"$log" 2>&1 || rc=$?
# The findings, without clang-tidy's per-file chatter.
grep -v '^[0-9]* warnings\? generated\.$\|^Suppressed [0-9]* warnings\|^Use -header-filter\|^Running clang-tidy\|^clang-tidy-14 \|^Enabled checks' "$log" || true
[ "$rc" -eq 0 ] && echo "clang-tidy: no findings"
exit "$rc"
