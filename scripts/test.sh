#!/usr/bin/env bash
# Installs what the tests need, then runs every test: typecheck, unit, integration
# and end-to-end (SIPp, redis-server, network namespaces; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "test: typecheck"
node_modules/.bin/tsc -p tsconfig.json
echo "test: vitest"
node_modules/.bin/vitest run "$@"
