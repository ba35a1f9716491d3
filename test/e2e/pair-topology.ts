// Shared set-up of the pair end-to-end tests: caller, callee, node A and node B on a
// SIP bridge (198.18.1.0/24), A and B also on a sync bridge (198.18.2.0/24), each node
// with its own redis-server on its sync address, the floating IP 198.18.1.100/24.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { cleanupAll, Sipp, startNode, Topology, type SippRun, type StartedNode } from '../harness/index.js';

export const SIP_NET = '198.18.1';
export const SYNC_NET = '198.18.2';
export const VIP = `${SIP_NET}.100`;
export const ADDR = {
  a: { sip: `${SIP_NET}.1`, sync: `${SYNC_NET}.1` },
  b: { sip: `${SIP_NET}.2`, sync: `${SYNC_NET}.2` },
  caller: `${SIP_NET}.10`,
  callee: `${SIP_NET}.20`,
  /** The witness host (a stand-in for the default gateway) on the SIP bridge, when the topology has one. */
  gw: `${SIP_NET}.254`,
};
export const REDIS_PORT = 6390;
export const HB_PORT = 7400;

export async function pairTopology(name: string, opts: { gw?: boolean } = {}): Promise<Topology> {
  return Topology.create({
    name,
    bridges: ['sip', 'sync'],
    hosts: {
      caller: { sip: `${ADDR.caller}/24` },
      callee: { sip: `${ADDR.callee}/24` },
      a: { sip: `${ADDR.a.sip}/24`, sync: `${ADDR.a.sync}/24` },
      b: { sip: `${ADDR.b.sip}/24`, sync: `${ADDR.b.sync}/24` },
      ...(opts.gw ? { gw: { sip: `${ADDR.gw}/24` } } : {}),
    },
  });
}

export interface PairNodeOptions {
  preferred?: boolean;
  intervalMs?: number;
  missCount?: number;
  /** ha.witness addresses, with the witness probe interval and timeout. */
  witness?: { addresses: string[]; intervalMs?: number; timeoutMs?: number };
  /** Extra CLI arguments (e.g. the admin API). */
  extraArgs?: string[];
  /** --sip-transports (default ['udp']). */
  transports?: readonly string[];
  /** The default route (default sip:<callee>:5060). */
  routeDefault?: string;
}

export type NodeName = 'a' | 'b';

export function haArgs(id: NodeName, stateDir: string, opts: PairNodeOptions = {}): string[] {
  const peer: NodeName = id === 'a' ? 'b' : 'a';
  const me = ADDR[id];
  const other = ADDR[peer];
  return [
    '--ha', '--node-id', id, '--peer-id', peer, '--ha-secret', 'e2e-pair-secret',
    ...(opts.preferred ? ['--preferred'] : []),
    '--hb', `sync=${me.sync}:${HB_PORT},${other.sync}:${HB_PORT}`,
    '--hb', `sip=${me.sip}:${HB_PORT},${other.sip}:${HB_PORT}`,
    '--hb-interval', String(opts.intervalMs ?? 100),
    // 5 × 100 ms: a 2-core CI box under full call load (and other suites) stalls an event loop
    // for 300 ms now and then, which a 3-miss timeout took for a dead peer (flapping, measured).
    '--hb-miss', String(opts.missCount ?? Number(process.env['DSIP_PAIR_HB_MISS'] ?? 5)),
    '--startup-wait', '1500',
    '--epoch-file', join(stateDir, `${id}.epoch`),
    '--redis-host', me.sync, '--redis-port', String(REDIS_PORT), '--redis-start',
    '--redis-dir', join(stateDir, `redis-${id}`),
    '--sync-peer', `${other.sync}:${REDIS_PORT}`,
    '--vip-mode', 'floating', '--vip-address', `${VIP}/24`, '--vip-interface', 'sip',
    ...(opts.witness
      ? [
          ...opts.witness.addresses.flatMap((a) => ['--witness', a]),
          ...(opts.witness.intervalMs !== undefined ? ['--witness-interval', String(opts.witness.intervalMs)] : []),
          ...(opts.witness.timeoutMs !== undefined ? ['--witness-timeout', String(opts.witness.timeoutMs)] : []),
        ]
      : []),
    ...(opts.extraArgs ?? []),
  ];
}

export function stateDir(): string {
  return mkdtempSync(join(tmpdir(), 'dualsip-pair-e2e-'));
}

export async function startPairNode(topo: Topology, id: NodeName, dir: string, opts: PairNodeOptions & { routes?: Readonly<Record<string, string>> } = {}): Promise<StartedNode> {
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, `redis-${id}`), { recursive: true });
  const node = await startNode({
    host: topo.host(id),
    sipAddress: ADDR[id].sip,
    sipPort: 5060,
    transports: opts.transports ?? ['udp'],
    routeDefault: opts.routeDefault ?? `sip:${ADDR.callee}:5060`,
    ...(opts.routes ? { routes: opts.routes } : {}),
    logLevel: 'info',
    extraArgs: haArgs(id, dir, opts),
    name: `node ${id}`,
  });
  await node.process.waitForLog((r) => r['msg'] === 'ha ready', { timeoutMs: 20_000 });
  return node;
}

/** The node's last role, from its {"msg":"role"} log lines. */
export function lastRole(node: StartedNode): { role: string; epoch: number } | undefined {
  let last: { role: string; epoch: number } | undefined;
  for (const l of node.process.lines()) {
    const r = l.json;
    if (r && r['msg'] === 'role') last = { role: String(r['role']), epoch: Number(r['epoch']) };
  }
  return last;
}

export async function waitRole(node: StartedNode, role: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  if (lastRole(node)?.role === role) return { role };
  return node.process.waitForLog((r) => r['msg'] === 'role' && r['role'] === role, { timeoutMs });
}

/** Wall-clock ms (epoch) at which each call of a SIPp uac run got its answer (from -trace_rtt). */
export function answerTimes(run: SippRun): number[] {
  const dir = run.workDir;
  const stat = readFileSync(join(dir, 'stat.csv'), 'utf8').split('\n').filter(Boolean);
  const first = stat[1]?.split(';')[0] ?? '';
  const start = Number(first.split('\t').pop()) * 1000;
  const f = readdirSync(dir).find((n) => n.endsWith('_rtt.csv'));
  if (!f || !Number.isFinite(start)) return [];
  const out: number[] = [];
  for (const line of readFileSync(join(dir, f), 'utf8').split('\n').slice(1)) {
    const ms = Number(line.split(';')[0]);
    if (line && Number.isFinite(ms)) out.push(start + ms);
  }
  return out.sort((x, y) => x - y);
}

// ---------------------------------------------------------------- a whole pair for a test file

export interface PairLab {
  topo: Topology;
  dir: string;
  callee: SippRun;
  /** Both nodes (a test that kills one and starts it again replaces its entry). */
  nodes: Partial<Record<NodeName, StartedNode>>;
}

export interface PairLabOptions {
  /** A witness host (gw) on the SIP bridge. */
  gw?: boolean;
  /** The SIPp callee's -recv_timeout: longer than any call's hold, so it waits for our BYE. */
  calleeRecvTimeoutMs: number;
  /** Per-node options (A is the preferred node). */
  node?: (id: NodeName) => PairNodeOptions & { routes?: Readonly<Record<string, string>> };
  /** Also start each node's admin API on its own SIP address with this token. */
  adminToken?: string;
}

export const ADMIN_PORT = 7080;
export const adminUrl = (n: NodeName): string => `http://${ADDR[n].sip}:${ADMIN_PORT}`;

/**
 * Registers this file's beforeAll/afterAll: the pair topology, a SIPp callee, node A
 * (preferred) active and node B passive; everything stopped and removed afterwards.
 * The returned object is filled in by beforeAll.
 */
export function usePairLab(name: string, opts: PairLabOptions): PairLab {
  const lab = { nodes: {} } as PairLab;
  beforeAll(async () => {
    lab.topo = await pairTopology(name, { gw: opts.gw ?? false });
    lab.dir = stateDir();
    lab.callee = await Sipp.start({ scenario: 'uas', host: lab.topo.host('callee'), localIp: ADDR.callee, localPort: 5060, recvTimeoutMs: opts.calleeRecvTimeoutMs, name: 'callee' });
    const start = (id: NodeName) => {
      const o = { ...(opts.node?.(id) ?? {}), preferred: id === 'a' };
      const admin = opts.adminToken ? ['--admin-address', ADDR[id].sip, '--admin-port', String(ADMIN_PORT), '--admin-token', opts.adminToken] : [];
      return startPairNode(lab.topo, id, lab.dir, { ...o, extraArgs: [...(o.extraArgs ?? []), ...admin] });
    };
    const [a, b] = await Promise.all([start('a'), start('b')]);
    lab.nodes.a = a;
    lab.nodes.b = b;
    if (opts.adminToken) {
      for (const n of [a, b]) await n.process.waitForLog((r) => r['msg'] === 'admin API listening', { timeoutMs: 10_000 });
    }
    await waitRole(a, 'active', 15_000);
    await waitRole(b, 'passive', 15_000);
  }, 90_000);
  afterAll(async () => {
    await lab.callee?.process.stop().catch(() => undefined);
    for (const n of Object.values(lab.nodes)) await n?.stop(3000).catch(() => undefined);
    await cleanupAll();
  });
  return lab;
}
