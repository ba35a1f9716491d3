#!/usr/bin/env bash
# Entrypoint of the dualsip node image (one node of an HA pair, see docs/operators.md).
#
#   dualsip-entrypoint [node] [dualsip node flags...]   check, then exec `dualsip node`
#   dualsip-entrypoint check                            check, print the resolved settings
#                                                        (secrets masked), exit 0
#   dualsip-entrypoint <any other command>              exec it (e.g. bash, dualsip status)
#
# Settings are the node's own DUALSIP_* variables (packages/cli/src/config.ts and
# pair-config.ts); this script only adds defaults for a container, resolves the
# interface of the floating IP, and fails fast, naming the variable, when something
# the node needs is missing.
set -euo pipefail

die() {
  echo "dualsip-entrypoint: $*" >&2
  exit 64
}

mode=node
case "${1:-node}" in
  node) mode=node; [ $# -gt 0 ] && shift ;;
  check) mode=check; shift ;;
  -*) mode=node ;;
  *) exec "$@" ;;
esac

# Container defaults (each may be overridden in the environment).
: "${DUALSIP_DATA_DIR:=/var/lib/dualsip}"
: "${DUALSIP_HA_ENABLED:=true}"
: "${DUALSIP_VIP_MODE:=floating}"
: "${DUALSIP_SYNC_REDIS_START:=true}"
: "${DUALSIP_SYNC_REDIS_DIR:=$DUALSIP_DATA_DIR/redis}"
: "${DUALSIP_HA_EPOCH_FILE:=$DUALSIP_DATA_DIR/epoch}"
: "${DUALSIP_VIP_INTERFACE:=auto}"
export DUALSIP_DATA_DIR DUALSIP_HA_ENABLED DUALSIP_VIP_MODE DUALSIP_SYNC_REDIS_START \
  DUALSIP_SYNC_REDIS_DIR DUALSIP_HA_EPOCH_FILE DUALSIP_VIP_INTERFACE

# Required, in the order an operator fills them in. Each line: variable, what it is.
required=(
  "DUALSIP_NODE_ID|this node's id in the pair (node.id), e.g. a"
  "DUALSIP_HA_PEER_ID|the peer's id (ha.peerId), e.g. b"
  "DUALSIP_HA_SECRET|shared pair secret, the same on both nodes (ha.secret)"
  "DUALSIP_SYNC_REDIS_PASSWORD|Redis password, the same on both nodes (sync.redis.password)"
  "DUALSIP_ADMIN_TOKEN|bearer token of the admin API (admin.token)"
  "DUALSIP_SIP_ADDRESS|this node's own address on the sip network (sip.address)"
  "DUALSIP_SYNC_REDIS_HOST|this node's address on the sync network, where its Redis listens (sync.redis.host)"
  "DUALSIP_SYNC_PEER_HOST|the peer's address on the sync network (sync.peer.host)"
  "DUALSIP_HA_PATHS|heartbeat paths NAME=LOCAL:PORT,PEER:PORT separated by ; (ha.paths)"
)
if [ "$DUALSIP_VIP_MODE" = floating ]; then
  required+=("DUALSIP_VIP_ADDRESS|the floating IP with prefix length, e.g. 198.18.1.100/24 (vip.address)")
fi
missing=0
for entry in "${required[@]}"; do
  name=${entry%%|*}
  if [ -z "${!name:-}" ]; then
    echo "dualsip-entrypoint: $name is not set: ${entry#*|}" >&2
    missing=1
  fi
done
[ "$missing" -eq 0 ] || die "missing settings (see docker/example.env and docs/operators.md)"

if [ "${#DUALSIP_ADMIN_TOKEN}" -lt 8 ]; then
  die "DUALSIP_ADMIN_TOKEN is too short: at least 8 characters (e.g. openssl rand -hex 32)"
fi
if [ "$DUALSIP_HA_SECRET" = "$DUALSIP_SYNC_REDIS_PASSWORD" ]; then
  echo "dualsip-entrypoint: warning: DUALSIP_HA_SECRET and DUALSIP_SYNC_REDIS_PASSWORD are equal; use two different secrets" >&2
fi

if [ "$DUALSIP_VIP_MODE" = floating ]; then
  # The floating IP needs CAP_NET_ADMIN (ip addr add/del) and CAP_NET_RAW (gratuitous ARP).
  capeff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  [ -n "$capeff" ] || die "cannot read CapEff from /proc/self/status"
  (( (16#$capeff >> 12) & 1 )) || die "capability NET_ADMIN is missing: the floating IP needs it (docker-compose: cap_add: [NET_ADMIN, NET_RAW])"
  (( (16#$capeff >> 13) & 1 )) || die "capability NET_RAW is missing: gratuitous ARP needs it (docker-compose: cap_add: [NET_ADMIN, NET_RAW])"

  # The interface that carries the floating IP: the one holding this node's SIP address.
  if [ "$DUALSIP_VIP_INTERFACE" = auto ]; then
    iface=$(ip -o -4 addr show 2>/dev/null | awk -v a="$DUALSIP_SIP_ADDRESS" '{ split($4, p, "/"); if (p[1] == a) { sub(/@.*/, "", $2); print $2; exit } }')
    [ -n "$iface" ] || die "DUALSIP_VIP_INTERFACE=auto: no interface holds DUALSIP_SIP_ADDRESS=$DUALSIP_SIP_ADDRESS (is the container on the sip network with that ipv4_address?)"
    DUALSIP_VIP_INTERFACE=$iface
  elif ! ip link show dev "$DUALSIP_VIP_INTERFACE" >/dev/null 2>&1; then
    die "DUALSIP_VIP_INTERFACE=$DUALSIP_VIP_INTERFACE: no such interface in this container"
  fi
  export DUALSIP_VIP_INTERFACE
  arp_ignore=$(cat /proc/sys/net/ipv4/conf/all/arp_ignore 2>/dev/null || echo '?')
  if [ "$arp_ignore" != 1 ]; then
    echo "dualsip-entrypoint: warning: net.ipv4.conf.all.arp_ignore is $arp_ignore, expected 1 (set it with sysctls: in docker-compose.yml)" >&2
  fi
fi

mkdir -p "$DUALSIP_DATA_DIR" "$DUALSIP_SYNC_REDIS_DIR" || die "cannot create $DUALSIP_DATA_DIR / $DUALSIP_SYNC_REDIS_DIR (is the volume writable?)"

if [ "$mode" = check ]; then
  env | LC_ALL=C sort | while IFS= read -r line; do
    case "$line" in
      DUALSIP_*SECRET=* | DUALSIP_*PASSWORD=* | DUALSIP_*TOKEN=*) echo "${line%%=*}=***" ;;
      DUALSIP_*=*) echo "$line" ;;
    esac
  done
  exit 0
fi

exec node "${DUALSIP_HOME:-/app}/packages/cli/bin/dualsip.js" node "$@"
