// The chaos schedule: a tiny seeded PRNG (mulberry32) and the list of faults it picks.
// Pure: the same seed and count always give the same schedule, so a failing run is
// reproduced with CHAOS_SEED=<seed> CHAOS_FAULTS=<n>.

/** mulberry32: 32-bit state, uniform floats in [0, 1). Small, fast and good enough to pick faults. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const FAULT_TYPES = [
  'kill-active', // SIGKILL of the active's process group (node + its redis-server); restarted after downMs
  'kill-passive', // the same for the passive
  'sync-cut', // one node's sync cable pulled for downMs, then plugged back
  'sip-cut', // one node's SIP cable pulled for downMs
  'isolate', // both cables of one node pulled for downMs
  'switchover', // `dualsip switchover` through the admin API
  'redis-stop', // SIGSTOP of the active's redis-server for downMs, then SIGCONT
] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

/** The faults the product claims to survive with every connected call kept (BRIEF, FAILOVER.md). */
export const SURVIVABLE: ReadonlySet<FaultType> = new Set<FaultType>(['kill-active', 'kill-passive', 'sync-cut', 'switchover']);

/** Which node a link fault hits, by its role when the fault starts. */
export type Target = 'active' | 'passive';

export interface Fault {
  /** 0-based position in the schedule. */
  index: number;
  type: FaultType;
  target: Target;
  /** How long the fault lasts before it is healed (node down, cable out, redis stopped). */
  downMs: number;
  /** Quiet time after the pair is steady again, before this fault's calls are placed. */
  pauseMs: number;
}

const TARGETED: ReadonlySet<FaultType> = new Set<FaultType>(['sync-cut', 'sip-cut', 'isolate']);

/**
 * `count` faults from `seed`. Types are drawn from a shuffled bag of all seven (refilled
 * when empty), so every run of ≥ 7 faults has each type and a short run has no repeats.
 */
export function makeSchedule(seed: number, count: number): Fault[] {
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const bag: FaultType[] = [];
  const out: Fault[] = [];
  for (let index = 0; index < count; index++) {
    if (bag.length === 0) {
      bag.push(...FAULT_TYPES);
      for (let i = bag.length - 1; i > 0; i--) {
        const j = int(0, i);
        [bag[i], bag[j]] = [bag[j]!, bag[i]!];
      }
    }
    const type = bag.pop()!;
    const target: Target = type === 'kill-passive' ? 'passive' : TARGETED.has(type) ? (rnd() < 0.5 ? 'active' : 'passive') : 'active';
    out.push({ index, type, target, downMs: int(1500, 3000), pauseMs: int(200, 1200) });
  }
  return out;
}

export function describeFault(f: Fault): string {
  const what = f.type === 'switchover' ? 'switchover' : `${f.type}${TARGETED.has(f.type) ? ` (${f.target})` : ''} for ${f.downMs} ms`;
  return `#${f.index} ${what}, pause ${f.pauseMs} ms`;
}
