// Stall-aware failure detection. In Node a timer that fires after a stall runs in the
// timers phase, BEFORE the heartbeats that arrived during the stall are read in the poll
// phase. ManualClock models that: stall() moves time without running anything, the
// overdue timers then fire late, queueIo() callbacks run after them, afterIo() last.
import { describe, expect, it } from 'vitest';
import {
  encodeHeartbeat,
  HaController,
  InMemoryHeartbeatNetwork,
  ManualClock,
  MemoryEpochStore,
  PathLiveness,
  PathState,
  Role,
  type Clock,
} from '../../src/ha/index.js';
import { PATHS, SECRET } from './harness.js';

const TIMEOUT = 500; // 100 ms × 5 misses

function path(clock: Clock, opts: { stallToleranceMs?: number } = {}) {
  const changes: string[] = [];
  const stalls: number[] = [];
  const p = new PathLiveness({
    name: 'sip',
    network: 'sip',
    clock,
    timeoutMs: TIMEOUT,
    stallToleranceMs: opts.stallToleranceMs ?? 100,
    onChange: (x, from) => changes.push(`${from}->${x.state}`),
    onStall: (_x, late) => stalls.push(late),
  });
  return { p, changes, stalls };
}

/** The same clock without afterIo: a decision cannot wait for the pending I/O. */
function withoutAfterIo(c: ManualClock): Clock {
  return { now: () => c.now(), setTimeout: (fn, ms) => c.setTimeout(fn, ms), clearTimeout: (h) => c.clearTimeout(h) };
}

describe('PathLiveness: stall-aware deadline', () => {
  it('a deadline that fires late because our own loop stalled does not take the path down; the heartbeat queued during the stall is read', () => {
    const clock = new ManualClock();
    const { p, changes, stalls } = path(clock);
    p.heard();
    clock.stall(800); // our loop blocked for 800 ms; the peer kept sending
    clock.queueIo(() => p.heard());
    clock.advance(0);
    expect(p.state).toBe(PathState.Up);
    expect(changes).toEqual(['unknown->up']);
    expect(stalls).toEqual([300]);
    expect(p.stallsExcused).toBe(1);
  });

  it('a late deadline restarts the window: with nothing heard, the path goes down one full window after the loop resumed', () => {
    const clock = new ManualClock();
    const { p, changes } = path(clock);
    p.heard();
    clock.stall(800);
    clock.advance(0); // late by 300 ms: not counted
    expect(p.state).toBe(PathState.Up);
    clock.advance(TIMEOUT - 1);
    expect(p.state).toBe(PathState.Up);
    clock.advance(1);
    expect(p.state).toBe(PathState.Down);
    expect(changes).toEqual(['unknown->up', 'up->down']);
  });

  it('a deadline on time waits for the pending I/O: a heartbeat read in the same loop turn keeps the path up', () => {
    const clock = new ManualClock();
    const { p, changes } = path(clock);
    p.heard();
    clock.stall(TIMEOUT); // exactly due: not late, so no stall excuse
    clock.queueIo(() => p.heard());
    clock.advance(0);
    expect(p.state).toBe(PathState.Up);
    expect(p.stallsExcused).toBe(0);
    expect(changes).toEqual(['unknown->up']);
  });

  it('without afterIo the same on-time deadline takes the path down before the queued heartbeat is read (why the check waits)', () => {
    const clock = new ManualClock();
    const { p, changes } = path(withoutAfterIo(clock));
    p.heard();
    clock.stall(TIMEOUT);
    clock.queueIo(() => p.heard());
    clock.advance(0);
    expect(changes).toEqual(['unknown->up', 'up->down', 'down->up']);
  });

  it('a late deadline within the tolerance still counts: real silence is detected on time', () => {
    const clock = new ManualClock();
    const { p, changes } = path(clock);
    p.heard();
    clock.stall(TIMEOUT + 50);
    clock.advance(0);
    expect(p.state).toBe(PathState.Down);
    expect(changes).toEqual(['unknown->up', 'up->down']);
  });
});

/** Node B alone, passive behind a scripted peer A whose heartbeats the test queues as I/O. */
async function passiveB(opts: { clock?: Clock; stallToleranceMs?: number } = {}) {
  const clock = new ManualClock({ start: 1_000_000 });
  const net = new InMemoryHeartbeatNetwork({ clock, latencyMs: 1 });
  const transport = net.endpoint({ nodeId: 'node-b', peerId: 'node-a', paths: PATHS });
  net.endpoint({ nodeId: 'node-a', peerId: 'node-b', paths: PATHS });
  const actions: string[] = [];
  const ctl = new HaController({
    nodeId: 'node-b',
    peerId: 'node-a',
    clock: opts.clock ?? clock,
    transport,
    secret: SECRET,
    epochStore: new MemoryEpochStore(),
    intervalMs: 100,
    missCount: 5,
    startupWaitMs: 1000,
    ...(opts.stallToleranceMs !== undefined ? { stallToleranceMs: opts.stallToleranceMs } : {}),
    actions: {
      becomeActive: async (e) => void actions.push(`active@${e}`),
      becomePassive: async (e) => void actions.push(`passive@${e}`),
    },
  });
  let seq = 0;
  const hb = () =>
    encodeHeartbeat(
      { nodeId: 'node-a', incarnation: 'a1', role: Role.Active, epoch: 1, seq: ++seq, sentAt: clock.now(), ready: true, sipUp: true, preferred: true, yielding: false },
      SECRET,
    );
  /** A's heartbeat arrives now (read in the next poll phase). */
  const queueHeartbeat = () => {
    const data = hb();
    clock.queueIo(() => {
      for (const p of PATHS) net.inject({ to: 'node-b', path: p.name, data, from: 'node-a' });
    });
  };
  await ctl.start();
  for (let i = 0; i < 20; i++) {
    queueHeartbeat();
    await clock.tick(100);
  }
  expect(ctl.role).toBe(Role.Passive);
  return { clock, ctl, actions, queueHeartbeat };
}

describe('HaController: a late timer must not produce a takeover', () => {
  it('B stalled 800 ms while A kept sending: B reads the queued heartbeats and stays passive', async () => {
    const { clock, ctl, actions, queueHeartbeat } = await passiveB();
    const excused: number[] = [];
    ctl.on('stallExcused', (_p, late) => excused.push(late));
    clock.stall(800);
    for (let i = 0; i < 8; i++) queueHeartbeat(); // sent by A during B's stall, unread
    await clock.tick(0);
    for (let i = 0; i < 20; i++) {
      queueHeartbeat();
      await clock.tick(100);
    }
    expect(ctl.role).toBe(Role.Passive);
    expect(actions).toEqual([]);
    expect(excused.length).toBeGreaterThan(0);
    expect(ctl.status().counters.stallsExcused).toBe(excused.length);
  });

  it('the whole host starved 800 ms (A sent nothing either): the silence is not counted, A is heard again, no takeover', async () => {
    const { clock, ctl, actions, queueHeartbeat } = await passiveB();
    clock.stall(800);
    await clock.tick(0);
    await clock.tick(50);
    queueHeartbeat(); // A resumed too
    await clock.tick(100);
    expect(ctl.role).toBe(Role.Passive);
    expect(actions).toEqual([]);
  });

  it('a naive detector (no stall tolerance, no wait for I/O) takes over in the same situation (the test can fail)', async () => {
    // Build B with a clock whose afterIo is missing and a tolerance that never excuses.
    const { clock, ctl, actions, queueHeartbeat } = await (async () => {
      const c = new ManualClock({ start: 1_000_000 });
      const net = new InMemoryHeartbeatNetwork({ clock: c, latencyMs: 1 });
      const transport = net.endpoint({ nodeId: 'node-b', peerId: 'node-a', paths: PATHS });
      net.endpoint({ nodeId: 'node-a', peerId: 'node-b', paths: PATHS });
      const acts: string[] = [];
      const ctl = new HaController({
        nodeId: 'node-b', peerId: 'node-a', clock: withoutAfterIo(c), transport, secret: SECRET, epochStore: new MemoryEpochStore(),
        intervalMs: 100, missCount: 5, startupWaitMs: 1000, stallToleranceMs: 1e9,
        actions: { becomeActive: async (e) => void acts.push(`active@${e}`), becomePassive: async (e) => void acts.push(`passive@${e}`) },
      });
      let seq = 0;
      const q = () => {
        const data = encodeHeartbeat({ nodeId: 'node-a', incarnation: 'a1', role: Role.Active, epoch: 1, seq: ++seq, sentAt: c.now(), ready: true, sipUp: true, preferred: true, yielding: false }, SECRET);
        c.queueIo(() => {
          for (const p of PATHS) net.inject({ to: 'node-b', path: p.name, data, from: 'node-a' });
        });
      };
      await ctl.start();
      for (let i = 0; i < 20; i++) {
        q();
        await c.tick(100);
      }
      return { clock: c, ctl, actions: acts, queueHeartbeat: q };
    })();
    expect(ctl.role).toBe(Role.Passive);
    clock.stall(800);
    for (let i = 0; i < 8; i++) queueHeartbeat();
    await clock.tick(0);
    expect(actions).toEqual(['active@2']);
  });

  it('a dead peer is still taken over after a stall: one full window after the loop resumed', async () => {
    const { clock, ctl, actions } = await passiveB();
    clock.stall(800); // A died during B's stall: nothing queued
    await clock.tick(0);
    expect(ctl.role).toBe(Role.Passive);
    await clock.tick(499);
    expect(ctl.role).toBe(Role.Passive);
    await clock.tick(2);
    expect(actions).toEqual(['active@2']);
  });
});
