#!/usr/bin/env bash
# Health check of a dualsip node container (docker-compose.yml `healthcheck:`).
#
# Today it checks that the node process is running and that the redis-server the node
# starts on its sync address answers PING (the node starts it before anything else, and
# it is the node's child: it goes away with the node). It does not yet ask the node
# itself: once the admin API is there, this script queries its health endpoint instead
# (see docs/operators.md, "Health checks").
#
# Exit 0 healthy, 1 unhealthy (Docker's convention), with one line saying why.
set -uo pipefail

# (The node's command line names the launcher; this script's own does not.)
if ! grep -qs 'packages/cli/bin/dualsip\.js' /proc/[0-9]*/cmdline 2>/dev/null; then
  echo "unhealthy: no dualsip node process" >&2
  exit 1
fi
host=${DUALSIP_SYNC_REDIS_HOST:-127.0.0.1}
port=${DUALSIP_SYNC_REDIS_PORT:-6390}
# REDISCLI_AUTH keeps the password off the command line.
reply=$(REDISCLI_AUTH=${DUALSIP_SYNC_REDIS_PASSWORD:-} timeout 3 redis-cli --no-auth-warning -h "$host" -p "$port" PING 2>&1)
if [ "$reply" != PONG ]; then
  echo "unhealthy: redis-server on $host:$port: ${reply:-no reply}" >&2
  exit 1
fi
echo "healthy: node running, redis on $host:$port answers"
