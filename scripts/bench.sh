#!/usr/bin/env bash
# Builds in Release (build-release/) and runs the benchmarks (docs/performance.md), on SQLite and on a throwaway
# PostgreSQL cluster started and stopped here. With FASTAPPKIT_BASELINE=<a fastappkit executable>
# (an earlier build), the history benchmark runs that one first, on the same machine in the same
# run, so the two tables can be set side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j2 --target fastappkit fastappkit_completion fastappkit_bench fastappkit_bench_plugins
pgdir=$(mktemp -d /tmp/fastappkit-bench-pg-XXXXXX)
prefix=$(mktemp -d /tmp/fastappkit-bench-prefix-XXXXXX)
trap 'scripts/pg-test-cluster.sh stop "$pgdir" >/dev/null; rm -rf "$prefix"' EXIT
# The executable as users run it, installed (docs/performance.md, "Reproduce").
cmake --install build-release --prefix "$prefix" >/dev/null
scripts/pg-test-cluster.sh start "$pgdir" >/dev/null
FASTAPPKIT_TEST_PGHOST="$pgdir" ./build-release/tests/bench/fastappkit_bench
# Synthetic linear histories (N = 200, 1,000, 10,000) against raw sqlite3/psql and Alembic;
# arguments go to history.py (e.g. --sizes 200,1000 --runs 5).
reference=()
if [ -n "${FASTAPPKIT_BASELINE:-}" ]; then
  echo "=== baseline: $FASTAPPKIT_BASELINE"
  /usr/bin/python3 tests/bench/history.py --fastappkit "$FASTAPPKIT_BASELINE" --pghost "$pgdir" \
    --plugins-dir build-release/bench-plugins "$@" | tee "$prefix/baseline.txt"
  # The baseline's peak memory of the offline preview at N = 10,000 is the memory budget's reference.
  mib=$(sed -n 's/^peak memory, preview --from base (offline), SQLite, N = 10,000: \([0-9.]*\) MiB$/\1/p' \
    "$prefix/baseline.txt")
  [ -n "$mib" ] && reference=(--memory-reference "$mib")
  echo "=== this build: $prefix/bin/fastappkit"
fi
/usr/bin/python3 tests/bench/history.py --fastappkit "$prefix/bin/fastappkit" --pghost "$pgdir" \
  --plugins-dir build-release/bench-plugins "${reference[@]}" "$@"
