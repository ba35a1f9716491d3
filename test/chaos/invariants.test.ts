// The chaos suite's pure parts: the seeded schedule reproduces, and each invariant check
// fails on a journal that breaks it (so a green chaos run means something).
import { describe, expect, it } from 'vitest';
import { checkEpochs, checkFrames, MSG_STEPPED_DOWN, MSG_TAKING_OVER, parseTcpdump, type Frame, type JournalEntry, type NodeId } from './invariants.js';
import { FAULT_TYPES, makeSchedule, prng } from './schedule.js';

const e = (t: number, node: NodeId, msg: string, extra: Partial<JournalEntry> = {}): JournalEntry => ({ t, node, msg, line: msg, ...extra });
const role = (t: number, node: NodeId, r: string, epoch: number) => e(t, node, 'role', { role: r, epoch });
const frame = (t: number, node: NodeId): Frame => ({ t, node, line: `frame from ${node} at ${t}` });

/** A starts, takes over at epoch 1; B starts passive; A is killed at 1000, B takes over at epoch 2. */
const kill: JournalEntry[] = [
  e(0, 'a', '@start'), e(0, 'b', '@start'),
  role(100, 'a', 'taking-over', 1), e(101, 'a', MSG_TAKING_OVER), role(150, 'a', 'active', 1), role(120, 'b', 'passive', 1),
  e(1000, 'a', '@killed'),
  role(1500, 'b', 'taking-over', 2), e(1501, 'b', MSG_TAKING_OVER), role(1600, 'b', 'active', 2),
];

describe('chaos schedule', () => {
  it('the same seed gives the same schedule, another seed another one', () => {
    expect(makeSchedule(7, 10)).toEqual(makeSchedule(7, 10));
    expect(makeSchedule(7, 10)).not.toEqual(makeSchedule(8, 10));
    const r = prng(1);
    const xs = Array.from({ length: 1000 }, () => r());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });

  it('every run of 7 faults has each fault type once', () => {
    for (const seed of [1, 2, 3, 20240611]) {
      expect(new Set(makeSchedule(seed, 7).map((f) => f.type))).toEqual(new Set(FAULT_TYPES));
    }
  });
});

describe('invariant 1 checks', () => {
  it('epochs: a clean takeover passes; two actives at one epoch, or HA_DUAL_ACTIVE, fail', () => {
    expect(checkEpochs(kill)).toEqual([]);
    expect(checkEpochs([...kill, role(2000, 'a', 'active', 2)]).map((v) => v.check)).toEqual(['two actives at one epoch']);
    expect(checkEpochs([...kill, e(2000, 'b', 'alarm', { code: 'HA_DUAL_ACTIVE' })])).toHaveLength(1);
  });

  it('frames: SIP from the active passes; from a passive, a dead node or one that stepped down fails', () => {
    expect(checkFrames(kill, [frame(500, 'a'), frame(1700, 'b')]).violations).toEqual([]);
    expect(checkFrames(kill, [frame(500, 'b')]).violations).toHaveLength(1); // B never took over yet
    expect(checkFrames(kill, [frame(1100, 'a')]).violations).toHaveLength(1); // A dead
    const stepped = [...kill.slice(0, 6), role(900, 'a', 'stepping-down', 1), e(950, 'a', MSG_STEPPED_DOWN), role(951, 'a', 'passive', 1)];
    expect(checkFrames(stepped, [frame(920, 'a')]).violations).toEqual([]); // before its step-down finished
    expect(checkFrames(stepped, [frame(960, 'a')]).violations).toHaveLength(1);
  });

  it('frames: SIP from a node while both logs say active fails (an isolated old active seen on the wire)', () => {
    // A stays active at epoch 1 (cut off), B takes over at epoch 2 while A still logs active.
    const split = [...kill.slice(0, 6), role(1500, 'b', 'taking-over', 2), e(1501, 'b', MSG_TAKING_OVER), role(1600, 'b', 'active', 2), role(2500, 'a', 'fenced', 1), e(2600, 'a', MSG_STEPPED_DOWN)];
    const rep = checkFrames(split, [frame(1700, 'b'), frame(1800, 'a'), frame(2550, 'a')]);
    expect(rep.violations.map((v) => `${v.node} ${v.check}`)).toEqual(['b SIP while both nodes were active', 'a SIP while both nodes were active']);
    expect(rep.inStepDownWindow).toBe(1);
  });

  it('parses tcpdump -e -tt lines', () => {
    expect(parseTcpdump('1763789449.123456 02:aa:bb:cc:dd:01 > 02:aa:bb:cc:dd:02, ethertype IPv4 (0x0800), length 400: 198.18.1.100.5060 > 198.18.1.10.5090: SIP, length 358')).toEqual({ t: 1763789449123.456, mac: '02:aa:bb:cc:dd:01' });
    expect(parseTcpdump('listening on br0, link-type EN10MB')).toBeUndefined();
  });
});
