/**
 * Test harness: two HaControllers on a ManualClock wired by an InMemoryHeartbeatNetwork,
 * with fake actions that record who holds the VIP.
 */
import {
  CLAIMING_ROLES,
  HaController,
  InMemoryHeartbeatNetwork,
  ManualClock,
  MemoryEpochStore,
  Role,
  type HaAlarmCode,
  type HeartbeatPathInfo,
  type SipTrafficOptions,
} from '../../src/ha/index.js';

export const SECRET = 'pair-secret-for-tests';
export const PATHS: HeartbeatPathInfo[] = [
  { name: 'sync', network: 'sync' },
  { name: 'sip', network: 'sip' },
];
export const PATH_NAMES = PATHS.map((p) => p.name);
export const INTERVAL = 100;
export const MISSES = 3;
export const STARTUP_WAIT = 1000;

export interface ActionRecord {
  node: string;
  act: 'active' | 'passive' | 'drain';
  epoch: number;
  /** What the node's epoch store held when the action was called. */
  stored: number;
  at: number;
}

export interface World {
  clock: ManualClock;
  net: InMemoryHeartbeatNetwork;
  holders: Set<string>;
  log: ActionRecord[];
  /** Largest number of simultaneous VIP holders seen while `watchHolders` was on. */
  maxHolders: number;
  watchHolders: boolean;
}

/** A fake witness as one node sees it: answers after rttMs while reachable; else fails or hangs. */
export interface FakeWitness {
  addresses: string[];
  reachable: boolean;
  /** While unreachable: true = the probe never settles (the round's own bound decides); false = it fails after the timeout. */
  hang: boolean;
  rttMs: number;
  intervalMs: number;
  timeoutMs: number;
  probes: number;
}

export function fakeWitness(opts: Partial<FakeWitness> = {}): FakeWitness {
  return { addresses: ['198.18.1.254'], reachable: true, hang: false, rttMs: 1, intervalMs: 1000, timeoutMs: 300, probes: 0, ...opts };
}

export interface TestNode {
  id: string;
  ctl: HaController;
  store: MemoryEpochStore;
  sipUp: boolean;
  ready: boolean;
  /** becomeActive throws while > 0 (decremented per call). */
  failActive: number;
  /** becomePassive throws while > 0 (decremented per call). */
  failPassive: number;
  /** becomeActive / becomePassive take this long (on the manual clock). */
  actionMs: number;
  alarms: HaAlarmCode[];
  roles: Array<{ role: Role; epoch: number; reason: string; at: number }>;
}

export function makeWorld(): World {
  const clock = new ManualClock({ start: 1_000_000 });
  return {
    clock,
    net: new InMemoryHeartbeatNetwork({ clock, latencyMs: 1 }),
    holders: new Set(),
    log: [],
    maxHolders: 0,
    watchHolders: true,
  };
}

function sleep(world: World, ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => world.clock.setTimeout(resolve, ms));
}

export function makeNode(
  world: World,
  opts: { id: string; peerId: string; preferred?: boolean; store?: MemoryEpochStore; startupWaitMs?: number; witness?: FakeWitness; sipTraffic?: SipTrafficOptions },
): TestNode {
  const store = opts.store ?? new MemoryEpochStore();
  const node = {
    id: opts.id,
    store,
    sipUp: true,
    ready: true,
    failActive: 0,
    failPassive: 0,
    actionMs: 0,
    alarms: [],
    roles: [],
  } as unknown as TestNode;
  const transport = world.net.endpoint({ nodeId: opts.id, peerId: opts.peerId, paths: PATHS });
  node.ctl = new HaController({
    nodeId: opts.id,
    peerId: opts.peerId,
    preferred: opts.preferred ?? false,
    clock: world.clock,
    transport,
    secret: SECRET,
    epochStore: store,
    startupWaitMs: opts.startupWaitMs ?? STARTUP_WAIT,
    intervalMs: INTERVAL,
    missCount: MISSES,
    retryMs: 500,
    switchoverTimeoutMs: 2000,
    readiness: () => (node.ready ? { ready: true, reasons: [] } : { ready: false, reasons: ['mirror behind'] }),
    sipInterfaceUp: () => node.sipUp,
    ...(opts.sipTraffic ? { sipTraffic: opts.sipTraffic } : {}),
    ...(opts.witness
      ? {
          witness: {
            addresses: opts.witness.addresses,
            intervalMs: opts.witness.intervalMs,
            timeoutMs: opts.witness.timeoutMs,
            probe: (_address: string, timeoutMs: number) => {
              const w = opts.witness!;
              w.probes++;
              const reachable = w.reachable;
              if (!reachable && w.hang) return new Promise<{ ok: boolean }>(() => {});
              return new Promise<{ ok: boolean; rttMs?: number }>((resolve) =>
                world.clock.setTimeout(() => resolve(reachable ? { ok: true, rttMs: w.rttMs } : { ok: false }), reachable ? w.rttMs : timeoutMs),
              );
            },
          },
        }
      : {}),
    actions: {
      becomeActive: async (epoch) => {
        world.log.push({ node: node.id, act: 'active', epoch, stored: store.epoch, at: world.clock.now() });
        await sleep(world, node.actionMs);
        if (node.failActive > 0) {
          node.failActive--;
          throw new Error('injected becomeActive failure');
        }
        world.holders.add(node.id);
        if (world.watchHolders) world.maxHolders = Math.max(world.maxHolders, world.holders.size);
      },
      becomePassive: async (epoch) => {
        world.log.push({ node: node.id, act: 'passive', epoch, stored: store.epoch, at: world.clock.now() });
        if (node.failPassive > 0) {
          node.failPassive--;
          throw new Error('injected becomePassive failure');
        }
        world.holders.delete(node.id);
        await sleep(world, node.actionMs);
      },
      drain: async (epoch) => {
        world.log.push({ node: node.id, act: 'drain', epoch, stored: store.epoch, at: world.clock.now() });
        await sleep(world, 20);
      },
    },
  });
  node.ctl.on('alarm', (code) => node.alarms.push(code));
  node.ctl.on('role', (role, epoch, reason) => node.roles.push({ role, epoch, reason, at: world.clock.now() }));
  return node;
}

export const claiming = (n: TestNode): boolean => CLAIMING_ROLES.has(n.ctl.role);

/**
 * Advances the clock by `ms` in `step` increments, calling `check` after every step
 * (so an invariant is verified at every instant the controllers could change).
 */
export async function run(world: World, ms: number, opts: { step?: number; check?: () => void } = {}): Promise<void> {
  const step = opts.step ?? 5;
  for (let t = 0; t < ms; t += step) {
    await world.clock.tick(Math.min(step, ms - t));
    opts.check?.();
  }
}

/** Advances until `cond` holds (checked every step); returns the elapsed clock time. */
export async function runUntil(
  world: World,
  cond: () => boolean,
  opts: { max?: number; step?: number; check?: () => void } = {},
): Promise<number> {
  const start = world.clock.now();
  const max = opts.max ?? 10_000;
  const step = opts.step ?? 1;
  while (!cond()) {
    if (world.clock.now() - start > max) throw new Error(`condition not reached within ${max} ms`);
    await world.clock.tick(step);
    opts.check?.();
  }
  return world.clock.now() - start;
}

/** Starts a pair and runs until it has settled on one active. */
export async function startPair(
  world: World,
  opts: { aPreferred?: boolean; bPreferred?: boolean; aId?: string; bId?: string; aWitness?: FakeWitness; bWitness?: FakeWitness } = {},
): Promise<{ a: TestNode; b: TestNode }> {
  const aId = opts.aId ?? 'node-a';
  const bId = opts.bId ?? 'node-b';
  const a = makeNode(world, { id: aId, peerId: bId, preferred: opts.aPreferred, ...(opts.aWitness ? { witness: opts.aWitness } : {}) });
  const b = makeNode(world, { id: bId, peerId: aId, preferred: opts.bPreferred, ...(opts.bWitness ? { witness: opts.bWitness } : {}) });
  await Promise.all([a.ctl.start(), b.ctl.start()]);
  await runUntil(world, () => [a, b].some((n) => n.ctl.role === Role.Active) && [a, b].every((n) => n.ctl.role === Role.Active || n.ctl.role === Role.Passive), {
    max: 3000,
  });
  // Let a few heartbeats carry the settled roles both ways.
  await run(world, 3 * INTERVAL);
  return { a, b };
}
