/**
 * Parser / serializer / framer fuzz (deterministic): mutated messages from a corpus of valid ones.
 *   FUZZ_SEED=<n> FUZZ_ITERATIONS=<n> ./node_modules/.bin/vitest run test/fuzz/parser-fuzz.test.ts
 * A failure names the run seed and the case index; `FUZZ_CASE=<i>` with the same seed reruns that case alone.
 */
import { describe, expect, it } from 'vitest';
import { CORPUS, defaultContext, type CorpusContext } from './corpus.js';
import { checkFraming, checkParse } from './check.js';
import { mutate } from './mutate.js';
import { caseSeed, envIterations, envSeed, Rng } from './prng.js';

const SEED = envSeed(0x5eed_0001);
const ITERATIONS = envIterations(5000);
const ONLY = process.env['FUZZ_CASE'] === undefined ? undefined : Number(process.env['FUZZ_CASE']);

export interface FuzzCase {
  index: number;
  seed: string;
  corpus: string;
  mutators: string[];
  bytes: Buffer;
  rng: Rng;
}

function contextFor(r: Rng, i: number): CorpusContext {
  const c = defaultContext(i);
  if (r.chance(0.2)) c.host = '[2001:db8::55]';
  if (r.chance(0.2)) c.transport = 'TCP';
  return c;
}

/** Case i of the run: a function of (SEED, i) only. */
export function makeCase(i: number): FuzzCase {
  const r = new Rng(caseSeed(SEED, i));
  const seed = r.pick(CORPUS);
  const original = Buffer.from(seed.build(contextFor(r, i)), 'latin1');
  const { bytes, applied } = r.chance(0.05) ? { bytes: original, applied: [] } : mutate(original, r);
  return { index: i, seed: `0x${SEED.toString(16)}`, corpus: seed.name, mutators: applied, bytes, rng: r };
}

function report(c: FuzzCase, err: unknown): string {
  const head = c.bytes.subarray(0, 300).toString('latin1').replace(/\r/g, '\\r').replace(/\n/g, '\\n\n');
  return `FUZZ_SEED=${c.seed} FUZZ_CASE=${c.index} (corpus "${c.corpus}", mutators [${c.mutators.join(', ')}], ${c.bytes.length} bytes): ${(err as Error).message}\n---\n${head}`;
}

describe(`SIP parser fuzz (seed 0x${SEED.toString(16)}, ${ITERATIONS} cases)`, () => {
  it('every corpus message is valid as written', () => {
    for (const s of CORPUS) {
      const b = Buffer.from(s.build(defaultContext()), 'latin1');
      if (s.name.startsWith('TCP')) {
        expect(checkFraming(b, new Rng(1)), s.name).toEqual({ frames: 2 });
      } else {
        expect(checkParse(b).kind, s.name).toBe('accepted');
      }
    }
  });

  it('parses or throws SipParseError, answers only what it can answer, and round-trips what it accepts', () => {
    const failures: string[] = [];
    const outcomes: Record<string, number> = {};
    let framed = 0;
    const from = ONLY ?? 0;
    const to = ONLY === undefined ? ITERATIONS : ONLY + 1;
    for (let i = from; i < to; i++) {
      const c = makeCase(i);
      try {
        const o = checkParse(c.bytes);
        const key = o.kind === 'accepted' ? 'accepted' : o.kind === 'answer' ? `answer ${o.status} ${o.code}` : `drop ${o.code}`;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        // Every case is also a TCP stream: the framer must cut it the same in any segmentation.
        const f = checkFraming(c.bytes, c.rng);
        framed += f.frames;
      } catch (err) {
        if (failures.length < 10) failures.push(report(c, err));
        else failures.push(`FUZZ_CASE=${c.index}`);
      }
    }
    console.log(`parser fuzz seed 0x${SEED.toString(16)}: ${to - from} cases, ${framed} framed messages, outcomes ${JSON.stringify(outcomes)}`);
    expect(failures, failures.slice(0, 10).join('\n\n')).toEqual([]);
    if (ONLY === undefined && ITERATIONS >= 2000) {
      // The generator must reach every outcome, or it is not testing what it claims to.
      const keys = Object.keys(outcomes);
      expect(outcomes['accepted'] ?? 0).toBeGreaterThan(ITERATIONS / 20);
      expect(keys.some((k) => k.startsWith('answer 400'))).toBe(true);
      expect(keys.some((k) => k.startsWith('answer 505'))).toBe(true);
      expect(keys.some((k) => k.startsWith('drop MISSING_HEADER'))).toBe(true);
      expect(keys.some((k) => k.startsWith('drop BAD_START_LINE'))).toBe(true);
    }
  });
});
