#!/usr/bin/env bash
# Installs what is missing, builds, and migrates apps-example on its SQLite database
# (DATABASE_URL in apps-example/.env), then prints where the database is.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
./build/engine/fastappkit -C apps-example migrate upgrade
./build/engine/fastappkit -C apps-example migrate status
