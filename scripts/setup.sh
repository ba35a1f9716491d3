#!/usr/bin/env bash
# Installs everything dualsip needs on a fresh Debian machine with Node 20, as root:
# Debian packages (SIPp, redis-server, iproute2, arping, tcpdump, docker-compose for
# validating the compose file), pnpm, and the workspace's node modules (which builds
# the native addons). Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v sipp >/dev/null || need_apt+=(sip-tester)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v arping >/dev/null || need_apt+=(iputils-arping)
command -v tcpdump >/dev/null || need_apt+=(tcpdump)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v make >/dev/null || need_apt+=(make)
command -v g++ >/dev/null || need_apt+=(g++)
command -v python3 >/dev/null || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${need_apt[*]} (run as root or install them yourself)" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# The Debian redis-server package starts a system instance on 6379; dualsip runs its
# own instances and never uses it, so leave it alone.

if ! command -v pnpm >/dev/null; then
  echo "setup: installing pnpm"
  npm i -g pnpm@12.21.0 >/dev/null
fi

# node-gyp would try to download Node's headers; Debian's nodejs ships them.
if [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi
echo "setup: installing node modules"
CI=${CI:-} pnpm install --frozen-lockfile=false --reporter=append-only 2>&1 | tail -n 5
