/**
 * HA configuration of a node (issue 5): node.id, ha.*, sync.*, vip.*. The convict
 * schema below is merged into the node schema (config.ts); `resolveHaConfig` then
 * checks what convict cannot (keys that depend on each other) and names the key at
 * fault. With ha.enabled=false (the default) nothing here is required and the node
 * runs standalone, as before.
 */
import net from 'node:net';
import { CliError } from './errors.js';

export type VipMode = 'none' | 'port' | 'floating';
export type SyncModeName = 'async' | 'ack';

export interface HaPathSpec {
  name: string;
  network: 'sync' | 'sip';
  local: { address: string; port: number };
  peer: { address: string; port: number };
}

export interface HaConfig {
  node: { id: string };
  ha: {
    enabled: boolean;
    peerId: string;
    preferred: boolean;
    secret: string;
    intervalMs: number;
    missCount: number;
    startupWaitMs: number;
    mainStallLimitMs: number;
    epochFile: string;
    /** As configured: 'name=local:port,peer:port' strings (or objects from a file); see resolveHaPaths. */
    paths: unknown[];
    /** Witness addresses on the SIP network (split-brain check); empty: off. */
    witness: string[];
    witnessIntervalMs: number;
    witnessTimeoutMs: number;
    /** Switchover when the active receives no SIP (see docs/operators.md, "SIP traffic loss"). */
    sipTrafficLoss: { enabled: boolean; windowMs: number; minRequests: number; probeIntervalMs: number };
  };
  sync: {
    redis: { host: string; port: number; password: string; start: boolean; dir: string };
    peer: { host: string; port: number };
    mode: SyncModeName;
  };
  vip: { mode: VipMode; address: string; interface: string };
}

function isEndpoint(s: string): { address: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(s.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  if (net.isIP(m[1]!) === 0 || port < 1 || port > 65535) return undefined;
  return { address: m[1]!, port };
}

/** Parses one heartbeat path: 'sync=198.18.2.1:7400,198.18.2.2:7400' (local, then peer). */
export function parseHbSpec(spec: unknown): HaPathSpec | string {
  if (typeof spec === 'object' && spec !== null) {
    const o = spec as { name?: unknown; local?: unknown; peer?: unknown };
    if (typeof o.name !== 'string' || typeof o.local !== 'string' || typeof o.peer !== 'string') {
      return 'a path object needs string name, local and peer ("ip:port")';
    }
    return parseHbSpec(`${o.name}=${o.local},${o.peer}`);
  }
  if (typeof spec !== 'string') return `expected NAME=LOCAL_IP:PORT,PEER_IP:PORT (got ${JSON.stringify(spec)})`;
  const i = spec.indexOf('=');
  const name = i < 0 ? '' : spec.slice(0, i).trim();
  const parts = i < 0 ? [] : spec.slice(i + 1).split(',');
  const local = parts[0] !== undefined ? isEndpoint(parts[0]) : undefined;
  const peer = parts[1] !== undefined ? isEndpoint(parts[1]) : undefined;
  if (!/^[a-z][a-z0-9_-]{0,15}$/.test(name) || parts.length !== 2 || !local || !peer) {
    return `expected NAME=LOCAL_IP:PORT,PEER_IP:PORT, e.g. sync=198.18.2.1:7400,198.18.2.2:7400 (got ${JSON.stringify(spec)})`;
  }
  // A path named sync… runs on the sync network; every other path on the SIP network.
  return { name, network: name.startsWith('sync') ? 'sync' : 'sip', local, peer };
}

/** The convict schema of the HA keys (merged into the node schema). */
export function haSchema() {
  return {
    node: {
      id: { doc: 'This node\'s id in the pair (required with ha.enabled).', format: String, default: '', env: 'DUALSIP_NODE_ID' },
    },
    ha: {
      enabled: { doc: 'Run as one node of an HA pair (else standalone).', format: Boolean, default: false, env: 'DUALSIP_HA_ENABLED' },
      peerId: { doc: 'The peer node\'s id.', format: String, default: '', env: 'DUALSIP_HA_PEER_ID' },
      preferred: { doc: 'Prefer this node as the active at start-up.', format: Boolean, default: false, env: 'DUALSIP_HA_PREFERRED' },
      secret: { doc: 'Shared pair secret (heartbeat HMAC).', format: String, default: '', env: 'DUALSIP_HA_SECRET', sensitive: true },
      intervalMs: { doc: 'Heartbeat interval (ms).', format: 'nat', default: 100, env: 'DUALSIP_HA_INTERVAL_MS' },
      missCount: { doc: 'Missed heartbeats before a path is down.', format: 'nat', default: 3, env: 'DUALSIP_HA_MISS_COUNT' },
      startupWaitMs: { doc: 'Wait for the peer before becoming active alone (ms).', format: 'nat', default: 2000, env: 'DUALSIP_HA_STARTUP_WAIT_MS' },
      mainStallLimitMs: {
        doc: 'Heartbeats are sent from their own thread while the main event loop has run within this many ms (a busier or starved main loop does not look dead to the peer; a loop stuck longer goes silent). 0: send from the main thread.',
        format: 'nat',
        default: 1500,
        env: 'DUALSIP_HA_MAIN_STALL_LIMIT_MS',
      },
      epochFile: { doc: 'File that keeps the epoch across restarts.', format: String, default: '', env: 'DUALSIP_HA_EPOCH_FILE' },
      paths: {
        doc: 'Heartbeat paths NAME=LOCAL_IP:PORT,PEER_IP:PORT (names sync* are on the sync network); env: separated by ";".',
        format: 'hb-paths',
        default: [] as unknown[],
        env: 'DUALSIP_HA_PATHS',
      },
      witness: {
        doc: 'Witness addresses on the SIP network (default gateway, SBC), probed with ICMP echo: a node that hears its peer on no path takes over only if one answers, and an active that reaches none steps down. Empty: off. Env: comma-separated.',
        format: 'witness-list',
        default: [] as string[],
        env: 'DUALSIP_HA_WITNESS',
      },
      witnessIntervalMs: { doc: 'Witness probe round every this many ms.', format: 'nat', default: 1000, env: 'DUALSIP_HA_WITNESS_INTERVAL_MS' },
      witnessTimeoutMs: { doc: 'A witness that has not answered within this many ms is unreachable (bounds the decision).', format: 'nat', default: 500, env: 'DUALSIP_HA_WITNESS_TIMEOUT_MS' },
      sipTrafficLoss: {
        enabled: {
          doc: 'Switch over when the active receives no SIP request for a whole window after a window with at least minRequests (its inbound SIP is lost while heartbeats are fine), if the peer is ready. Off by default.',
          format: 'strict-boolean',
          default: false,
          env: 'DUALSIP_HA_SIP_TRAFFIC_LOSS',
        },
        windowMs: { doc: 'Window of the SIP traffic loss rule (ms).', format: 'nat', default: 10000, env: 'DUALSIP_HA_SIP_TRAFFIC_WINDOW_MS' },
        minRequests: {
          doc: 'Requests the window before a silent one must have had for the rule to fire (a pair that goes quiet gradually never switches over).',
          format: 'nat',
          default: 20,
          env: 'DUALSIP_HA_SIP_TRAFFIC_MIN_REQUESTS',
        },
        probeIntervalMs: {
          doc: 'The passive sends a SIP OPTIONS to the service address this often while the peer is active, so that callers going quiet never looks like lost traffic; 0: no probes.',
          format: 'nat',
          default: 1000,
          env: 'DUALSIP_HA_SIP_TRAFFIC_PROBE_MS',
        },
      },
    },
    sync: {
      redis: {
        host: { doc: 'Local redis-server (bound to the sync address).', format: 'ip-address', default: '127.0.0.1', env: 'DUALSIP_SYNC_REDIS_HOST' },
        port: { doc: 'Local redis-server port.', format: 'port', default: 6390, env: 'DUALSIP_SYNC_REDIS_PORT' },
        password: { doc: 'Redis password (requirepass/masterauth), the same on both nodes.', format: String, default: '', env: 'DUALSIP_SYNC_REDIS_PASSWORD', sensitive: true },
        start: { doc: 'Start our own redis-server on sync.redis.host:port.', format: Boolean, default: false, env: 'DUALSIP_SYNC_REDIS_START' },
        dir: { doc: 'Data directory of the started redis-server (default: a temporary one).', format: String, default: '', env: 'DUALSIP_SYNC_REDIS_DIR' },
      },
      peer: {
        host: { doc: 'The peer\'s redis-server on the sync network.', format: 'ip-address-or-empty', default: '', env: 'DUALSIP_SYNC_PEER_HOST' },
        port: { doc: 'The peer\'s redis-server port.', format: 'port', default: 6390, env: 'DUALSIP_SYNC_PEER_PORT' },
      },
      mode: { doc: 'async (local Redis has it) or ack (the replica has it).', format: ['async', 'ack'], default: 'async', env: 'DUALSIP_SYNC_MODE' },
    },
    vip: {
      mode: { doc: 'none | port (single host: own the SIP port) | floating (floating IP).', format: ['none', 'port', 'floating'], default: 'port', env: 'DUALSIP_VIP_MODE' },
      address: { doc: 'Floating IP with prefix length, e.g. 198.18.1.100/24.', format: String, default: '', env: 'DUALSIP_VIP_ADDRESS' },
      interface: { doc: 'Interface that carries the floating IP.', format: String, default: '', env: 'DUALSIP_VIP_INTERFACE' },
    },
  };
}

/** convict format for ha.paths: an array; from env a ';'-separated list. */
export const HB_PATHS_FORMAT = {
  name: 'hb-paths',
  coerce: (v: string) => v.split(';').map((s) => s.trim()).filter(Boolean),
  validate(v: unknown) {
    if (!Array.isArray(v)) throw new Error('must be a list of NAME=LOCAL_IP:PORT,PEER_IP:PORT');
    const names = new Set<string>();
    for (const s of v) {
      const p = parseHbSpec(s);
      if (typeof p === 'string') throw new Error(p);
      if (names.has(p.name)) throw new Error(`path ${p.name} given twice`);
      names.add(p.name);
    }
  },
};

/** convict format for ha.witness: a list of IP addresses; from env comma-separated. */
export const WITNESS_FORMAT = {
  name: 'witness-list',
  coerce: (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean),
  validate(v: unknown) {
    if (!Array.isArray(v)) throw new Error('must be a list of IP addresses');
    for (const a of v) if (typeof a !== 'string' || net.isIP(a) === 0) throw new Error(`must be a list of IP addresses (got ${JSON.stringify(a)})`);
    if (new Set(v).size !== v.length) throw new Error('must not repeat an address');
  },
};

/** The parsed heartbeat paths (validated by the format already). */
export function resolveHaPaths(c: HaConfig): HaPathSpec[] {
  return c.ha.paths.map((s) => parseHbSpec(s)).filter((p): p is HaPathSpec => typeof p !== 'string');
}

/** Checks between keys; throws CliError ERR_CONFIG naming the key. */
export function checkHaConfig(c: HaConfig & { sip: { address: string } }): void {
  if (!c.ha.enabled) return;
  const problems: string[] = [];
  if (!c.node.id) problems.push('node.id: required when ha.enabled is true');
  if (!c.ha.peerId) problems.push('ha.peerId: required when ha.enabled is true');
  else if (c.ha.peerId === c.node.id) problems.push('ha.peerId: must differ from node.id');
  if (!c.ha.secret) problems.push('ha.secret: required when ha.enabled is true (the same on both nodes)');
  if (c.ha.intervalMs < 10) problems.push(`ha.intervalMs: must be at least 10 (got ${c.ha.intervalMs})`);
  if (c.ha.missCount < 1) problems.push(`ha.missCount: must be at least 1 (got ${c.ha.missCount})`);
  if (c.ha.witness.length > 0) {
    if (c.ha.witnessTimeoutMs < 10) problems.push(`ha.witnessTimeoutMs: must be at least 10 (got ${c.ha.witnessTimeoutMs})`);
    if (c.ha.witnessIntervalMs < c.ha.witnessTimeoutMs) problems.push(`ha.witnessIntervalMs: must be at least ha.witnessTimeoutMs (${c.ha.witnessTimeoutMs}) (got ${c.ha.witnessIntervalMs})`);
  }
  const t = c.ha.sipTrafficLoss;
  if (t.enabled) {
    const minWindow = Math.max(500, 10 * c.ha.intervalMs);
    if (t.windowMs < minWindow) problems.push(`ha.sipTrafficLoss.windowMs: must be at least ${minWindow} (500 ms and 10 heartbeat intervals) (got ${t.windowMs})`);
    if (t.minRequests < 1) problems.push(`ha.sipTrafficLoss.minRequests: must be at least 1 (got ${t.minRequests})`);
    if (t.probeIntervalMs !== 0 && (t.probeIntervalMs < 50 || t.probeIntervalMs * 3 > t.windowMs)) {
      problems.push(`ha.sipTrafficLoss.probeIntervalMs: must be 0 (off) or 50..windowMs/3 (${Math.floor(t.windowMs / 3)}), so a window holds several probes (got ${t.probeIntervalMs})`);
    }
  }
  if (c.ha.paths.length === 0) problems.push('ha.paths: at least one heartbeat path is required (--hb sync=LOCAL:PORT,PEER:PORT)');
  if (!c.sync.peer.host) problems.push('sync.peer.host: required when ha.enabled is true');
  if (c.vip.mode === 'floating') {
    const [addr, len] = c.vip.address.split('/');
    if (!addr || net.isIP(addr) === 0 || len === undefined || !/^\d+$/.test(len)) {
      problems.push(`vip.address: must be an address with prefix length, e.g. 198.18.1.100/24 (got ${JSON.stringify(c.vip.address)})`);
    }
    if (!c.vip.interface) problems.push('vip.interface: required when vip.mode is floating');
  }
  if (problems.length > 0) {
    throw new CliError({
      code: 'ERR_CONFIG',
      message: problems.map((p) => `config error: ${p}`).join('\n'),
      hint: 'see `dualsip node --help` for the HA keys',
    });
  }
}

export const HA_USAGE = `HA (issue 5; all off unless --ha):
  --ha                     run as one node of a pair   (ha.enabled, DUALSIP_HA_ENABLED)
  --node-id ID             this node's id              (node.id, DUALSIP_NODE_ID)
  --peer-id ID             the peer's id               (ha.peerId)
  --preferred              prefer this node at start   (ha.preferred)
  --ha-secret S            shared pair secret          (ha.secret, DUALSIP_HA_SECRET)
  --hb NAME=L:P,PEER:P     heartbeat path, repeatable  (ha.paths, DUALSIP_HA_PATHS=a;b)
  --hb-interval MS         heartbeat interval          (ha.intervalMs)
  --hb-miss N              misses before path down     (ha.missCount)
  --startup-wait MS        wait for the peer at start  (ha.startupWaitMs)
  --hb-main-stall MS       heartbeat thread stops when the main loop is stuck this long; 0 = no thread (ha.mainStallLimitMs)
  --epoch-file FILE        epoch kept across restarts  (ha.epochFile)
  --witness IP             witness on the SIP network, repeatable: no takeover/step down when none answers (ha.witness, DUALSIP_HA_WITNESS=a,b)
  --witness-interval MS    witness probe round period  (ha.witnessIntervalMs)
  --witness-timeout MS     witness answer deadline     (ha.witnessTimeoutMs)
  --sip-traffic-loss       switch over when the active receives no SIP (ha.sipTrafficLoss.enabled, DUALSIP_HA_SIP_TRAFFIC_LOSS)
  --sip-traffic-window MS  window of that rule         (ha.sipTrafficLoss.windowMs)
  --sip-traffic-min N      requests in the window before a silent one to arm it (ha.sipTrafficLoss.minRequests)
  --sip-traffic-probe MS   passive's OPTIONS probe to the service address, 0 = off (ha.sipTrafficLoss.probeIntervalMs)
  --redis-host IP          local Redis (sync address)  (sync.redis.host)
  --redis-port N           local Redis port            (sync.redis.port)
  --redis-password S       Redis password              (sync.redis.password)
  --redis-start            start our own redis-server  (sync.redis.start)
  --redis-dir DIR          its data directory          (sync.redis.dir)
  --sync-peer IP:PORT      the peer's Redis            (sync.peer.host/port)
  --sync-mode async|ack    mirroring mode              (sync.mode)
  --vip-mode M             none|port|floating          (vip.mode)
  --vip-address CIDR       floating IP                 (vip.address)
  --vip-interface IF       its interface               (vip.interface)`;

export const HA_FLAGS = {
  ha: { type: 'boolean' },
  'node-id': { type: 'string' },
  'peer-id': { type: 'string' },
  preferred: { type: 'boolean' },
  'ha-secret': { type: 'string' },
  hb: { type: 'string', multiple: true },
  'hb-interval': { type: 'string' },
  'hb-miss': { type: 'string' },
  'startup-wait': { type: 'string' },
  'hb-main-stall': { type: 'string' },
  'epoch-file': { type: 'string' },
  witness: { type: 'string', multiple: true },
  'witness-interval': { type: 'string' },
  'witness-timeout': { type: 'string' },
  'sip-traffic-loss': { type: 'boolean' },
  'sip-traffic-window': { type: 'string' },
  'sip-traffic-min': { type: 'string' },
  'sip-traffic-probe': { type: 'string' },
  'redis-host': { type: 'string' },
  'redis-port': { type: 'string' },
  'redis-password': { type: 'string' },
  'redis-start': { type: 'boolean' },
  'redis-dir': { type: 'string' },
  'sync-peer': { type: 'string' },
  'sync-mode': { type: 'string' },
  'vip-mode': { type: 'string' },
  'vip-address': { type: 'string' },
  'vip-interface': { type: 'string' },
} as const;

type HaFlagValues = { [K in keyof typeof HA_FLAGS]?: (typeof HA_FLAGS)[K] extends { multiple: true } ? string[] : (typeof HA_FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

/** Maps the HA flags onto config keys. */
export function haFlagsToOverrides(f: HaFlagValues): Record<string, unknown> {
  const o: Record<string, unknown> = {
    'node.id': f['node-id'],
    'ha.peerId': f['peer-id'],
    'ha.secret': f['ha-secret'],
    'ha.paths': f.hb,
    'ha.intervalMs': f['hb-interval'],
    'ha.missCount': f['hb-miss'],
    'ha.startupWaitMs': f['startup-wait'],
    'ha.mainStallLimitMs': f['hb-main-stall'],
    'ha.epochFile': f['epoch-file'],
    'ha.witness': f.witness,
    'ha.witnessIntervalMs': f['witness-interval'],
    'ha.witnessTimeoutMs': f['witness-timeout'],
    'ha.sipTrafficLoss.windowMs': f['sip-traffic-window'],
    'ha.sipTrafficLoss.minRequests': f['sip-traffic-min'],
    'ha.sipTrafficLoss.probeIntervalMs': f['sip-traffic-probe'],
    'sync.redis.host': f['redis-host'],
    'sync.redis.port': f['redis-port'],
    'sync.redis.password': f['redis-password'],
    'sync.redis.dir': f['redis-dir'],
    'sync.mode': f['sync-mode'],
    'vip.mode': f['vip-mode'],
    'vip.address': f['vip-address'],
    'vip.interface': f['vip-interface'],
  };
  if (f.ha) o['ha.enabled'] = true;
  if (f.preferred) o['ha.preferred'] = true;
  if (f['sip-traffic-loss']) o['ha.sipTrafficLoss.enabled'] = true;
  if (f['redis-start']) o['sync.redis.start'] = true;
  if (f['sync-peer'] !== undefined) {
    const ep = isEndpoint(f['sync-peer']);
    if (!ep) throw new CliError({ code: 'ERR_CONFIG', message: `config error: sync.peer: --sync-peer expects IP:PORT (got ${JSON.stringify(f['sync-peer'])})` });
    o['sync.peer.host'] = ep.address;
    o['sync.peer.port'] = ep.port;
  }
  return o;
}
