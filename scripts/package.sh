#!/usr/bin/env bash
# Builds only what the package installs (the engine, the plugin SDK, the bash completion and the
# manual page; no tests) in Release in build-package/, and makes the Debian package there:
#   bash scripts/package.sh && sudo apt install ./build-package/fastappkit_*.deb
# The package's executable is stripped (CPACK_STRIP_FILES); docs go to /usr/share/doc/fastappkit/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-package -G Ninja -DCMAKE_BUILD_TYPE=Release -DFASTAPPKIT_BUILD_TESTS=OFF >/dev/null
# Everything the build has without its tests: the engine, its completion and manual page, and the
# two example plugins (built with it, not installed; cpack installs from a complete build).
cmake --build build-package -j2
(cd build-package && cpack -G DEB >/dev/null)
ls -la build-package/fastappkit_*.deb
