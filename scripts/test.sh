#!/usr/bin/env bash
# Installs what the tests need, then runs every test: typecheck, unit, integration
# and end-to-end (SIPp, redis-server, network namespaces; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "test: typecheck"
node_modules/.bin/tsc -p tsconfig.json
echo "test: vitest"
# Plain text, so the summary line ("Tests  N passed (N)") reads the same in any log.
NO_COLOR=1 FORCE_COLOR=0 node_modules/.bin/vitest run "$@"
