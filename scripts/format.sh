#!/usr/bin/env bash
# clang-format (.clang-format) over every C++ source in git: `--check` reports and fails on any
# difference (CI), no argument rewrites the files in place.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh clang-format
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h')
if [[ "${1:-}" == "--check" ]]; then
  clang-format --dry-run --Werror "${files[@]}"
  echo "clang-format: ${#files[@]} files match .clang-format"
else
  clang-format -i "${files[@]}"
fi
