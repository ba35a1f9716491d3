/**
 * A small seeded PRNG (mulberry32: one 32-bit state word, a Weyl step and an
 * xorshift-multiply output mix) so every fuzz case is a function of (seed, i).
 */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Next 32-bit unsigned value. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.float() * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  chance(p: number): boolean {
    return this.float() < p;
  }
}

/** The seed of case `i` of a run seeded `seed`: each case reproduces on its own. */
export function caseSeed(seed: number, i: number): number {
  let h = (seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** FUZZ_SEED (decimal or 0x hex) or a fixed default, so CI runs are deterministic. */
export function envSeed(fallback: number): number {
  const v = process.env['FUZZ_SEED'];
  if (!v) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`FUZZ_SEED must be an integer 0..2^32-1, got ${v}`);
  return n;
}

/** FUZZ_ITERATIONS or the CI default. */
export function envIterations(fallback: number): number {
  const v = process.env['FUZZ_ITERATIONS'];
  if (!v) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`FUZZ_ITERATIONS must be a positive integer, got ${v}`);
  return n;
}
