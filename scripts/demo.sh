#!/usr/bin/env bash
# Installs what is missing, builds, drops the example plugins into apps-example/plugins/, and
# migrates everything (core, the internal app, both plugins) on its SQLite database
# (DATABASE_URL in apps-example/.env), then prints where the database is.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
mkdir -p apps-example/plugins
cp -r build/plugins/. apps-example/plugins/
./build/engine/fastappkit -C apps-example migrate all
./build/engine/fastappkit -C apps-example migrate status
