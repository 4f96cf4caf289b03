#!/usr/bin/env bash
# Builds in Release (build-release/) and runs the benchmarks (docs/performance.md), on SQLite and on a throwaway
# PostgreSQL cluster started and stopped here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j2 --target fastappkit fastappkit_bench fastappkit_bench_plugins
pgdir=$(mktemp -d /tmp/fastappkit-bench-pg-XXXXXX)
prefix=$(mktemp -d /tmp/fastappkit-bench-prefix-XXXXXX)
trap 'scripts/pg-test-cluster.sh stop "$pgdir" >/dev/null; rm -rf "$prefix"' EXIT
# The executable as users run it, installed (docs/performance.md, "Reproduce"): the file the
# linker has just written sits in the page cache as lld wrote it, and costs a few page faults
# more per process than a copy of it.
cmake --install build-release --prefix "$prefix" >/dev/null
scripts/pg-test-cluster.sh start "$pgdir" >/dev/null
FASTAPPKIT_TEST_PGHOST="$pgdir" ./build-release/tests/bench/fastappkit_bench
# Synthetic linear histories (N = 200, 1,000, 10,000) against raw sqlite3/psql and Alembic;
# arguments go to history.py (e.g. --sizes 200,1000 --runs 5).
/usr/bin/python3 tests/bench/history.py --fastappkit "$prefix/bin/fastappkit" --pghost "$pgdir" \
  --plugins-dir build-release/bench-plugins "$@"
