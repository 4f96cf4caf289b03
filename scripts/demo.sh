#!/usr/bin/env bash
# Installs what is missing, builds, drops the example plugins into apps-example/plugins/, and
# migrates everything (core, the internal app, both plugins) on its SQLite database
# (DATABASE_URL in apps-example/.env), then prints where the database is.
# It builds only what it needs (the engine and the two example plugins, no tests) in
# build-demo/, so it does not disturb build/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DFASTAPPKIT_BUILD_TESTS=OFF >/dev/null
cmake --build build-demo -j2 --target fastappkit fastappkit_plugin_payments fastappkit_plugin_audit
mkdir -p apps-example/plugins
cp -r build-demo/plugins/. apps-example/plugins/
./build-demo/engine/fastappkit -C apps-example migrate all
./build-demo/engine/fastappkit -C apps-example migrate status
