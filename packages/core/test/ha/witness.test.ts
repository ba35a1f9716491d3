import { describe, expect, it } from 'vitest';
import { decidePeerLoss, ManualClock, Role, WitnessMonitor, type WitnessRound } from '../../src/ha/index.js';
import { fakeWitness, INTERVAL, makeNode, makeWorld, MISSES, PATH_NAMES, run, runUntil, startPair, STARTUP_WAIT, type TestNode } from './harness.js';

const DETECT = INTERVAL * MISSES;

describe('decidePeerLoss (the witness rule, pure)', () => {
  const base = { witnessConfigured: true, now: 10_000, settleMs: 300 } as const;

  it('without a witness: a passive takes over and an active stays (the behaviour before witnesses)', () => {
    expect(decidePeerLoss({ ...base, witnessConfigured: false, holding: 'nothing', round: undefined }).kind).toBe('take-over');
    expect(decidePeerLoss({ ...base, witnessConfigured: false, holding: 'service', round: undefined }).kind).toBe('stay-active');
  });

  it('no fresh witness round yet: probe first, decide nothing', () => {
    expect(decidePeerLoss({ ...base, holding: 'nothing', round: undefined })).toEqual({ kind: 'probe' });
    expect(decidePeerLoss({ ...base, holding: 'service', round: undefined })).toEqual({ kind: 'probe' });
  });

  it('a passive that reaches no witness is the isolated one: it does not take over', () => {
    expect(decidePeerLoss({ ...base, holding: 'nothing', round: { reachable: false, reachableSince: null } }).kind).toBe('isolated');
  });

  it('an active that reaches no witness is the isolated one: it steps down', () => {
    expect(decidePeerLoss({ ...base, holding: 'service', round: { reachable: false, reachableSince: null } }).kind).toBe('isolated');
  });

  it('an active that reaches a witness keeps serving', () => {
    expect(decidePeerLoss({ ...base, holding: 'service', round: { reachable: true, reachableSince: 10_000 } }).kind).toBe('stay-active');
  });

  it('a passive that has reached a witness for at least the detection window takes over', () => {
    expect(decidePeerLoss({ ...base, holding: 'nothing', round: { reachable: true, reachableSince: 9_700 } }).kind).toBe('take-over');
  });

  it('a passive whose witness answers only since a moment ago confirms after the detection window (its link may just have come back)', () => {
    expect(decidePeerLoss({ ...base, holding: 'nothing', round: { reachable: true, reachableSince: 9_900 } })).toEqual({ kind: 'confirm', atMs: 10_200 });
  });
});

describe('WitnessMonitor', () => {
  it('a round is decided by the first witness that answers, and each witness keeps its own state', async () => {
    const clock = new ManualClock({ start: 0 });
    const rounds: WitnessRound[] = [];
    const m = new WitnessMonitor({
      addresses: ['198.18.1.254', '198.18.1.253'],
      intervalMs: 1000,
      timeoutMs: 200,
      clock,
      onRound: (r) => rounds.push(r),
      probe: (address) =>
        address === '198.18.1.254'
          ? new Promise((resolve) => clock.setTimeout(() => resolve({ ok: true, rttMs: 5 }), 5))
          : Promise.reject(new Error('send failed: Network is unreachable')),
    });
    m.start();
    await clock.tick(5);
    expect(rounds).toHaveLength(1);
    expect(rounds[0]).toMatchObject({ startedAt: 0, finishedAt: 5, reachable: true, reachableSince: 5 });
    const st = m.status(clock.now(), false);
    expect(st.reachable).toBe(true);
    expect(st.targets).toEqual([
      { address: '198.18.1.254', reachable: true, lastOkMs: 0, rttMs: 5, lastError: null },
      { address: '198.18.1.253', reachable: false, lastOkMs: null, rttMs: null, lastError: 'send failed: Network is unreachable' },
    ]);
    // Still reachable in the next round: the run of reachable rounds keeps its start.
    await clock.tick(1005);
    expect(rounds[1]).toMatchObject({ reachable: true, reachableSince: 5 });
    m.stop();
  });

  it('a probe that never settles cannot hold the decision: the round is unreachable at its timeout', async () => {
    const clock = new ManualClock({ start: 0 });
    const rounds: WitnessRound[] = [];
    const m = new WitnessMonitor({ addresses: ['198.18.1.254'], intervalMs: 1000, timeoutMs: 200, clock, onRound: (r) => rounds.push(r), probe: () => new Promise(() => {}) });
    m.start();
    await clock.tick(199);
    expect(rounds).toHaveLength(0);
    await clock.tick(1);
    expect(rounds).toEqual([{ startedAt: 0, finishedAt: 200, reachable: false, reachableSince: null }]);
    expect(m.status(clock.now(), true)).toMatchObject({ reachable: false, reachableForMs: null, isolated: true, targets: [{ reachable: false }] });
    m.stop();
    expect(clock.pending).toBe(0);
  });

  it('ensureRound asks for a round that starts after a given time: one in flight that started earlier is followed by a new one', async () => {
    const clock = new ManualClock({ start: 0 });
    const rounds: WitnessRound[] = [];
    const m = new WitnessMonitor({
      addresses: ['198.18.1.254'],
      intervalMs: 10_000,
      timeoutMs: 200,
      clock,
      onRound: (r) => rounds.push(r),
      probe: () => new Promise((resolve) => clock.setTimeout(() => resolve({ ok: true }), 50)),
    });
    m.start(); // round 1 starts at 0
    await clock.tick(20);
    m.ensureRound(20);
    await clock.tick(100);
    expect(rounds.map((r) => r.startedAt)).toEqual([0, 50]);
    m.stop();
  });
});

function hasAlarm(n: TestNode, code: string): boolean {
  return n.ctl.status().alarms.some((a) => a.code === code);
}

describe('HaController with a witness: the isolated node does not take over (split brain)', () => {
  it('a passive that has lost the peer on every path takes over only if a witness answers: isolated passive stays passive, HA_ISOLATED', async () => {
    const world = makeWorld();
    const aW = fakeWitness();
    const bW = fakeWitness();
    const { a, b } = await startPair(world, { aPreferred: true, aWitness: aW, bWitness: bW });
    expect(a.ctl.role).toBe(Role.Active);
    expect(b.ctl.role).toBe(Role.Passive);
    const epoch = a.ctl.epoch;
    // B's port dies: it hears neither the peer nor the witness.
    world.net.isolate('node-b', PATH_NAMES);
    bW.reachable = false;
    await run(world, 3000);
    expect(b.ctl.role).toBe(Role.Passive);
    expect(world.log.filter((r) => r.node === 'node-b' && r.act === 'active')).toEqual([]);
    expect(hasAlarm(b, 'HA_ISOLATED')).toBe(true);
    expect(b.ctl.status().witness).toMatchObject({ reachable: false, isolated: true, targets: [{ address: '198.18.1.254', reachable: false }] });
    // A lost its peer too, but reaches its witness: it keeps serving.
    expect(a.ctl.role).toBe(Role.Active);
    expect(hasAlarm(a, 'HA_ISOLATED')).toBe(false);
    expect(a.ctl.status().witness).toMatchObject({ reachable: true, isolated: false });
    expect(world.holders).toEqual(new Set(['node-a']));
    // Heal: B rejoins as passive, nobody's epoch moved.
    world.net.rejoin('node-b', PATH_NAMES);
    bW.reachable = true;
    await run(world, 2000);
    expect(b.ctl.role).toBe(Role.Passive);
    expect(a.ctl.role).toBe(Role.Active);
    expect([a.ctl.epoch, b.ctl.epoch]).toEqual([epoch, epoch]);
    expect(hasAlarm(b, 'HA_ISOLATED')).toBe(false);
    expect(world.maxHolders).toBe(1);
  });

  it('an active that has lost the peer on every path and whose witnesses are all unreachable steps down, raises HA_ISOLATED, and rejoins as passive', async () => {
    const world = makeWorld();
    const aW = fakeWitness();
    const bW = fakeWitness();
    const { a, b } = await startPair(world, { aPreferred: true, aWitness: aW, bWitness: bW });
    const epoch = a.ctl.epoch;
    world.watchHolders = false; // A, cut off, holds the VIP until it has decided; nobody can reach it meanwhile
    world.net.isolate('node-a', PATH_NAMES);
    aW.reachable = false;
    await runUntil(world, () => a.ctl.role === Role.Passive && b.ctl.role === Role.Active, { max: 3000 });
    // B saw the network: it took over with a new epoch; A stepped down on its own, before any heal.
    expect(b.ctl.epoch).toBe(epoch + 1);
    expect(a.ctl.epoch).toBe(epoch);
    expect(world.holders).toEqual(new Set(['node-b']));
    expect(a.roles.map((r) => r.role)).toContain(Role.SteppingDown);
    expect(a.roles.map((r) => r.role)).not.toContain(Role.Fenced);
    expect(a.roles.find((r) => r.role === Role.SteppingDown)!.reason).toMatch(/^isolated/);
    expect(hasAlarm(a, 'HA_ISOLATED')).toBe(true);
    expect(a.ctl.status().witness?.isolated).toBe(true);
    // Still cut off: A stays passive (no takeover of its own).
    await run(world, 3000);
    expect(a.ctl.role).toBe(Role.Passive);
    expect(world.log.filter((r) => r.node === 'node-a' && r.act === 'active' && r.at > 1_000_000 + 5000)).toEqual([]);
    // Heal: A adopts B's epoch and stays passive.
    world.net.rejoin('node-a', PATH_NAMES);
    aW.reachable = true;
    await run(world, 2000);
    expect(a.ctl.role).toBe(Role.Passive);
    expect(b.ctl.role).toBe(Role.Active);
    expect(a.ctl.epoch).toBe(epoch + 1);
    expect(hasAlarm(a, 'HA_ISOLATED')).toBe(false);
  });

  it('a passive whose link comes back does not take over in the instant before it hears the peer again (confirmation window)', async () => {
    const world = makeWorld();
    const bW = fakeWitness({ intervalMs: 200 });
    const { a, b } = await startPair(world, { aPreferred: true, aWitness: fakeWitness(), bWitness: bW });
    const epoch = a.ctl.epoch;
    world.net.isolate('node-b', PATH_NAMES);
    bW.reachable = false;
    await run(world, 2000);
    expect(hasAlarm(b, 'HA_ISOLATED')).toBe(true);
    // The witness answers again a moment before the first heartbeat gets through.
    bW.reachable = true;
    await runUntil(world, () => b.ctl.status().witness?.reachable === true, { max: 1000 });
    world.net.rejoin('node-b', PATH_NAMES);
    await run(world, 2000, { check: () => expect(b.ctl.role).toBe(Role.Passive) });
    expect([a.ctl.epoch, b.ctl.epoch]).toEqual([epoch, epoch]);
    expect(world.log.filter((r) => r.node === 'node-b' && r.act === 'active')).toEqual([]);
  });

  it('an isolated passive whose witness comes back while the peer stays silent takes over after the confirmation window', async () => {
    const world = makeWorld();
    const bW = fakeWitness({ intervalMs: 200 });
    const { a, b } = await startPair(world, { aPreferred: true, aWitness: fakeWitness(), bWitness: bW });
    world.net.isolate('node-b', PATH_NAMES);
    bW.reachable = false;
    await run(world, 2000);
    expect(b.ctl.role).toBe(Role.Passive);
    // A really dies meanwhile; B's network comes back.
    a.ctl.destroy();
    bW.reachable = true;
    const t0 = world.clock.now();
    await runUntil(world, () => b.ctl.role === Role.Active, { max: 3000 });
    const took = b.roles.find((r) => r.role === Role.TakingOver)!;
    // Not before the witness had answered for a whole detection window.
    expect(took.at - t0).toBeGreaterThanOrEqual(DETECT);
    expect(took.reason).toMatch(/a witness answers/);
    expect(hasAlarm(b, 'HA_ISOLATED')).toBe(false);
  });

  it('a passive whose peer died and whose witness answers takes over (checked at decision time)', async () => {
    const world = makeWorld();
    const bW = fakeWitness();
    const { a, b } = await startPair(world, { aPreferred: true, aWitness: fakeWitness(), bWitness: bW });
    const probesBefore = bW.probes;
    a.ctl.destroy();
    await runUntil(world, () => b.ctl.role === Role.Active, { max: 3000 });
    expect(bW.probes).toBeGreaterThan(probesBefore);
    expect(b.roles.find((r) => r.role === Role.TakingOver)!.reason).toBe('peer dead: every heartbeat path silent; a witness answers');
  });

  it('a probe that hangs cannot keep the passive undecided: the round is unreachable at the timeout and the passive stays passive', async () => {
    const world = makeWorld();
    const bW = fakeWitness();
    const { a, b } = await startPair(world, { aPreferred: true, aWitness: fakeWitness(), bWitness: bW });
    bW.reachable = false;
    bW.hang = true;
    a.ctl.destroy();
    await run(world, DETECT + bW.timeoutMs + 50);
    expect(b.ctl.role).toBe(Role.Passive);
    expect(hasAlarm(b, 'HA_ISOLATED')).toBe(true);
  });

  it('a peer that said goodbye (closed) needs no witness: the passive takes over', async () => {
    const world = makeWorld();
    const bW = fakeWitness();
    const { a, b } = await startPair(world, { aPreferred: true, aWitness: fakeWitness(), bWitness: bW });
    bW.reachable = false;
    await a.ctl.close();
    await runUntil(world, () => b.ctl.role === Role.Active, { max: 3000 });
    expect(b.roles.find((r) => r.role === Role.TakingOver)!.reason).toBe('peer closed');
  });

  it('a node that starts cut off does not claim after the start-up wait; it takes over once a witness answers', async () => {
    const world = makeWorld();
    const w = fakeWitness({ reachable: false, intervalMs: 200 });
    const a = makeNode(world, { id: 'node-a', peerId: 'node-b', witness: w });
    await a.ctl.start();
    await run(world, STARTUP_WAIT + 1000);
    expect(a.ctl.role).toBe(Role.Passive);
    expect(world.log).toEqual([]);
    expect(hasAlarm(a, 'HA_ISOLATED')).toBe(true);
    w.reachable = true;
    await runUntil(world, () => a.ctl.role === Role.Active, { max: 3000 });
    expect(a.ctl.epoch).toBe(1);
  });

  it('an unreachable witness with the peer alive raises HA_WITNESS_UNREACHABLE and changes no role', async () => {
    const world = makeWorld();
    const aW = fakeWitness();
    const { a, b } = await startPair(world, { aPreferred: true, aWitness: aW, bWitness: fakeWitness() });
    aW.reachable = false;
    await run(world, 2500);
    expect(hasAlarm(a, 'HA_WITNESS_UNREACHABLE')).toBe(true);
    expect(hasAlarm(a, 'HA_ISOLATED')).toBe(false);
    expect([a.ctl.role, b.ctl.role]).toEqual([Role.Active, Role.Passive]);
    aW.reachable = true;
    await run(world, 1500);
    expect(hasAlarm(a, 'HA_WITNESS_UNREACHABLE')).toBe(false);
  });

  it('status() has no witness section when none is configured', async () => {
    const world = makeWorld();
    const { a } = await startPair(world);
    expect(a.ctl.status().witness).toBeNull();
  });
});
