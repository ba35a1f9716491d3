#!/usr/bin/env bash
# Installs what dualsip needs (scripts/setup.sh), then starts a single-host pair on
# 127.0.0.1: two nodes with their own redis-servers, the SIP port 5060 owned by the
# active, and a SIPp callee as the default route. It prints how to place calls and
# which pid to kill to watch a takeover. Ctrl-C stops everything.
# Options go to `dualsip pair`, e.g. `bash scripts/start.sh --sip-port 5070`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --import tsx packages/cli/src/main.ts pair "$@"
