#!/usr/bin/env bash
# Builds everything with AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/ and runs
# the whole test suite there; a sanitizer report fails the test it happens in.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DFASTAPPKIT_SANITIZE=address;undefined" \
  ${CMAKE_ARGS:-} >/dev/null
cmake --build build-asan -j2
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Every test runs; the property test takes 60 seeded steps per backend instead of 200, so that the
# sanitized suite (2-3x slower) stays well inside CTest's 900 s per file and CI's time.
export FASTAPPKIT_PROPERTY_STEPS=${FASTAPPKIT_PROPERTY_STEPS:-60}
cd build-asan
ctest --output-on-failure -j1
