#!/usr/bin/env bash
# The end-to-end suites that upgrade, downgrade or report status, run again with the parse cache
# and the head snapshot off (FASTAPPKIT_NO_CACHE=1): the cached and the uncached way must give
# the same answers (docs/performance.md, "What stays"). Needs a build in build/ (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/../build"
FASTAPPKIT_NO_CACHE=1 ctest --output-on-failure -j1 \
  -R '^(e2e_(migrate|cross_app|fleet|stamp_lock|apply_batch|fidelity|plugins|docs|hints|secrets)|postgresql_(start|stop))$'
