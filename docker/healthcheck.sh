#!/usr/bin/env bash
# Health check of a dualsip node container (docker-compose.yml `healthcheck:`).
# Exit 0 healthy, 1 unhealthy (Docker's convention), with one line saying why
# (`docker inspect --format '{{json .State.Health}}' <container>` shows it).
#
# With DUALSIP_ADMIN_PORT set it asks the node itself: GET /health/ready on the admin API
# (the load balancer probe; the bearer DUALSIP_ADMIN_TOKEN is sent too, so it also works
# with admin.healthProbe=false). Healthy: the node is fit for its role: active with SIP
# bound, or passive and able to take over (sync ready, peer reachable, paths up). A node
# starting, fenced, in a switchover or shutting down answers 503, with its reasons.
# Without DUALSIP_ADMIN_PORT (admin API not configured) it falls back to: the node
# process runs and the redis-server the node starts on its sync address answers PING.
set -uo pipefail

if [ -n "${DUALSIP_ADMIN_PORT:-}" ]; then
  exec node --input-type=module -e '
    const { DUALSIP_ADMIN_ADDRESS: a = "127.0.0.1", DUALSIP_ADMIN_PORT: port, DUALSIP_ADMIN_TOKEN: token = "" } = process.env;
    const host = a === "0.0.0.0" || a === "" ? "127.0.0.1" : a === "::" ? "::1" : a;
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/health/ready`;
    const node = process.env.DUALSIP_NODE_ID ? `node ${process.env.DUALSIP_NODE_ID} ` : "";
    const fail = (why) => { console.error(`unhealthy: ${why}`); process.exit(1); };
    let res;
    try {
      res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(3000) });
    } catch (err) {
      fail(`admin API ${url}: ${err?.cause?.code ?? err?.message ?? err}`);
    }
    if (res.status !== 200 && res.status !== 503) fail(`admin API ${url}: HTTP ${res.status}`);
    let h;
    try { h = await res.json(); } catch { fail(`admin API ${url}: HTTP ${res.status}, not JSON`); }
    if (res.status === 503) fail(`${node}${h.role} epoch ${h.epoch}: ${(h.reasons ?? []).join("; ") || "not ready"}`);
    console.log(`healthy: ${node}${h.role} epoch ${h.epoch}`);
  '
fi

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
echo "healthy: node running, redis on $host:$port answers (admin API not configured)"
