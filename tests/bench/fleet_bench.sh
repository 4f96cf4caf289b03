#!/usr/bin/env bash
# The fleet benchmark (docs/fleets.md): builds fastappkit and fastappkit_fleet_bench in
# BUILD_DIR (default build/, as scripts/build.sh configures it), starts a throwaway PostgreSQL
# cluster, runs the benchmark, stops the cluster. Extra arguments go to the benchmark
# (--sqlite N, --postgresql N, --schemas).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
cmake --build "$build" -j"${JOBS:-2}" --target fastappkit fastappkit_fleet_bench
pgdir=$(mktemp -d /tmp/fastappkit-fleet-bench-pg-XXXXXX)
trap 'scripts/pg-test-cluster.sh stop "$pgdir" >/dev/null' EXIT
scripts/pg-test-cluster.sh start "$pgdir" >/dev/null
FASTAPPKIT_TEST_PGHOST="$pgdir" "./$build/tests/bench/fastappkit_fleet_bench" "$@"
