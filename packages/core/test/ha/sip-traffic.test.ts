import { describe, expect, it } from 'vitest';
import { decideSipTraffic, ManualClock, Role, SipTrafficMonitor, sipProbeRequest, type SipTrafficDecision, type SipTrafficSample } from '../../src/ha/index.js';
import { fakeWitness, makeNode, makeWorld, run, runUntil, type FakeWitness, type TestNode, type World } from './harness.js';

const W = 2000;
const MIN = 5;
const STEP = 200;

/** Samples every STEP ms from t=0 with `perStep(i)` new requests in step i (the first sample has 0). */
function series(steps: number, perStep: (i: number) => number): SipTrafficSample[] {
  const out: SipTrafficSample[] = [];
  let total = 0;
  for (let i = 0; i <= steps; i++) {
    if (i > 0) total += perStep(i);
    out.push({ at: i * STEP, total });
  }
  return out;
}

/** Runs the pure rule over a series, step by step (as the monitor does), returning every decision. */
function replay(samples: SipTrafficSample[], min = MIN): SipTrafficDecision[] {
  const out: SipTrafficDecision[] = [];
  let prev: SipTrafficDecision | undefined;
  for (let i = 0; i < samples.length; i++) {
    prev = decideSipTraffic({ samples: samples.slice(0, i + 1), windowMs: W, minRequests: min, previous: prev?.state });
    out.push(prev);
  }
  return out;
}

describe('decideSipTraffic (the SIP traffic loss rule, pure)', () => {
  it('learns for two windows: a new active cannot fire before it has 2 windows of its own history', () => {
    const d = replay(series(2 * W / STEP - 1, () => 10));
    expect(d.every((x) => x.state === 'learning' && !x.fire)).toBe(true);
    expect(replay(series(2 * W / STEP, () => 10)).at(-1)!.state).toBe('armed');
  });

  it('fires once when a whole window has no request after a window with at least minRequests', () => {
    // 4 s of 5 requests per step, then silence.
    const d = replay(series(40, (i) => (i <= 20 ? 5 : 0)));
    const fired = d.map((x, i) => (x.fire ? i : -1)).filter((i) => i >= 0);
    // The silent window (t-W, t] is complete at step 20 + W/STEP = 30.
    expect(fired).toEqual([30]);
    expect(d[30]).toMatchObject({ state: 'lost', lastWindow: 0, prevWindow: 50 });
    // It stays lost (without firing again) while the silence lasts.
    expect(d.slice(30).every((x) => x.state === 'lost')).toBe(true);
  });

  it('a pair that goes quiet gradually (last window before the silence under minRequests) never fires', () => {
    // steady, then 1 request per window, then nothing
    const d = replay(series(80, (i) => (i <= 20 ? 5 : i <= 40 ? (i % 10 === 0 ? 1 : 0) : 0)));
    expect(d.some((x) => x.fire || x.state === 'lost')).toBe(false);
  });

  it('traffic under minRequests never arms; one request in a window is not silence', () => {
    expect(replay(series(60, (i) => (i % 5 === 0 ? 1 : 0))).some((x) => x.fire)).toBe(false);
    expect(replay(series(60, (i) => (i <= 20 ? 5 : i % 9 === 0 ? 1 : 0))).some((x) => x.fire)).toBe(false);
  });

  it('lost ends when a request arrives again, and can fire again only after a new armed window', () => {
    const d = replay(series(90, (i) => (i <= 20 ? 5 : i === 45 ? 1 : i > 45 && i <= 60 ? 5 : 0)));
    expect(d[44]!.state).toBe('lost');
    expect(d[45]!.state).not.toBe('lost');
    expect(d.map((x, i) => (x.fire ? i : -1)).filter((i) => i >= 0)).toEqual([30, 70]);
  });

  it('uses the newest sample at or before each window boundary (missed samples do not invent traffic)', () => {
    const s = series(30, (i) => (i <= 20 ? 5 : 0)).filter((x) => x.at % 1000 === 0 || x.at > 5000);
    const d = decideSipTraffic({ samples: s, windowMs: W, minRequests: MIN });
    expect(d).toMatchObject({ state: 'lost', lastWindow: 0, fire: true });
  });
});

describe('SipTrafficMonitor (sampling on the manual clock)', () => {
  it('samples every stepMs, restarts with no history, drops a late sample after stop, starts over when the counter goes back', async () => {
    const clock = new ManualClock({ start: 0 });
    let total = 0;
    const seen: SipTrafficDecision[] = [];
    const m = new SipTrafficMonitor({ clock, windowMs: W, minRequests: MIN, stepMs: STEP, sample: () => total, onDecision: (d) => seen.push(d) });
    m.start();
    for (let i = 0; i < 25; i++) {
      total += 5;
      await clock.tick(STEP);
    }
    expect(m.last?.state).toBe('armed');
    m.start();
    await clock.tick(STEP);
    expect(m.last?.state).toBe('learning');
    total = 3; // engine restarted
    for (let i = 0; i < 25; i++) await clock.tick(STEP);
    expect(m.last).toMatchObject({ state: 'idle', lastWindow: 0 });
    m.stop();
    expect(m.last).toBeUndefined();
    expect(() => new SipTrafficMonitor({ clock, windowMs: W, minRequests: 0, sample: () => 0, onDecision: () => {} })).toThrow(/minRequests/);
  });
});

describe('sipProbeRequest', () => {
  it('is an OPTIONS with the mandatory header fields (RFC 3261 §8.1.1) and no body', () => {
    const r = sipProbeRequest({ target: { address: '198.18.1.100', port: 5060 }, source: { address: '198.18.1.2', port: 40000 }, seq: 7 });
    expect(r.startsWith('OPTIONS sip:198.18.1.100:5060 SIP/2.0\r\n')).toBe(true);
    for (const h of ['Via: SIP/2.0/UDP 198.18.1.2:40000;branch=z9hG4bK', 'Max-Forwards: 70', 'From: <sip:ha-probe@198.18.1.2:40000>;tag=', 'To: <sip:198.18.1.100:5060>', 'Call-ID: ', 'CSeq: 7 OPTIONS', 'Content-Length: 0']) {
      expect(r).toContain(h);
    }
    expect(r.endsWith('\r\n\r\n')).toBe(true);
  });
});

// ---------------------------------------------------------------- pair on the manual clock

interface TrafficWorld {
  world: World;
  a: TestNode;
  b: TestNode;
  counts: Record<string, number>;
  /** Callers send one request per 100 ms to whichever node is active. */
  callers: boolean;
  /** Inbound SIP dropped at this node (its NIC, a firewall). */
  dropped: Set<string>;
  /** The passive's OPTIONS probe, once per second, to the active. */
  probes: boolean;
}

async function trafficPair(opts: { witness?: FakeWitness; probes?: boolean } = {}): Promise<TrafficWorld> {
  const world = makeWorld();
  const t: TrafficWorld = { world, counts: { 'node-a': 0, 'node-b': 0 }, callers: true, dropped: new Set(), probes: opts.probes ?? false } as unknown as TrafficWorld;
  const sipTraffic = (id: string) => ({ windowMs: W, minRequests: MIN, stepMs: STEP, sample: () => t.counts[id] });
  t.a = makeNode(world, { id: 'node-a', peerId: 'node-b', preferred: true, sipTraffic: sipTraffic('node-a'), ...(opts.witness ? { witness: opts.witness } : {}) });
  t.b = makeNode(world, { id: 'node-b', peerId: 'node-a', sipTraffic: sipTraffic('node-b'), ...(opts.witness ? { witness: fakeWitness() } : {}) });
  const deliver = () => {
    for (const n of [t.a, t.b]) if (n.ctl.role === Role.Active && !t.dropped.has(n.id)) t.counts[n.id]!++;
  };
  const tick = () => {
    if (t.callers) deliver();
    world.clock.setTimeout(tick, 100);
  };
  const probe = () => {
    if (t.probes) for (const [p, act] of [[t.a, t.b], [t.b, t.a]] as const) if (p.ctl.role === Role.Passive && act.ctl.role === Role.Active && !t.dropped.has(act.id)) t.counts[act.id]!++;
    world.clock.setTimeout(probe, 1000);
  };
  tick();
  probe();
  await Promise.all([t.a.ctl.start(), t.b.ctl.start()]);
  await runUntil(world, () => t.a.ctl.role === Role.Active && t.b.ctl.role === Role.Passive, { max: 3000 });
  // Two windows of traffic: A's rule is armed.
  await run(world, 2 * W + 500, { step: 50 });
  expect(t.a.ctl.status().sipTraffic).toMatchObject({ state: 'armed' });
  return t;
}

const reasons = (n: TestNode) => n.roles.map((r) => `${r.role}: ${r.reason}`);

describe('HaController: switchover on SIP traffic loss (manual clock)', () => {
  it('inbound SIP lost on the active: HA_SIP_TRAFFIC_LOST, graceful switchover to the ready peer, which does not switch back (it arms only on its own traffic)', async () => {
    const t = await trafficPair();
    const epoch = t.a.ctl.epoch;
    t.dropped.add('node-a');
    await runUntil(t.world, () => t.b.ctl.role === Role.Active, { max: 3 * W, step: 10 });
    expect(t.a.alarms).toContain('HA_SIP_TRAFFIC_LOST');
    // The operator's switchover path: draining (drain action ran), stepping down, passive.
    expect(reasons(t.a).find((r) => r.startsWith('draining'))).toMatch(/^draining: SIP traffic lost: no inbound SIP request for 2000 ms/);
    expect(t.world.log.filter((x) => x.node === 'node-a').map((x) => x.act)).toEqual(['active', 'drain', 'passive']);
    expect(t.b.ctl.epoch).toBe(epoch + 1);
    expect(t.a.ctl.status().sipTraffic).toMatchObject({ switchovers: 1 });
    // Anti-flap: the callers stop right after the takeover (probes off), before B has seen
    // a window of its own traffic: B's rule never arms, A (passive) runs no rule at all.
    t.callers = false;
    await run(t.world, 10 * W, { step: 50 });
    expect(t.b.ctl.role).toBe(Role.Active);
    expect(t.b.alarms).not.toContain('HA_SIP_TRAFFIC_LOST');
    expect(t.b.ctl.status().sipTraffic).toMatchObject({ state: 'idle', switchovers: 0 });
    expect(t.a.ctl.role).toBe(Role.Passive);
  });

  it('the new active whose inbound is lost too (an upstream fault on both) never sees traffic, never arms, never switches back', async () => {
    const t = await trafficPair();
    t.dropped.add('node-a');
    t.dropped.add('node-b');
    await runUntil(t.world, () => t.b.ctl.role === Role.Active, { max: 3 * W, step: 10 });
    await run(t.world, 10 * W, { step: 50 });
    expect(t.b.ctl.role).toBe(Role.Active);
    expect(t.b.ctl.status().sipTraffic?.switchovers).toBe(0);
    expect(t.a.roles.filter((r) => r.role === Role.Active)).toHaveLength(1);
  });

  it('callers that stop at once while the passive probes: the active still sees requests, no switchover', async () => {
    const t = await trafficPair({ probes: true });
    t.callers = false;
    await run(t.world, 10 * W, { step: 50 });
    expect(t.a.ctl.role).toBe(Role.Active);
    expect(t.a.alarms).not.toContain('HA_SIP_TRAFFIC_LOST');
    // ... and with the probes on, losing inbound SIP is still seen.
    t.callers = true;
    await run(t.world, 2 * W, { step: 50 });
    t.dropped.add('node-a');
    await runUntil(t.world, () => t.b.ctl.role === Role.Active, { max: 3 * W, step: 10 });
    expect(t.a.alarms).toContain('HA_SIP_TRAFFIC_LOST');
  });

  it('callers that stop at once without probes look like a loss: it switches over once (the probes exist for this)', async () => {
    const t = await trafficPair();
    t.callers = false;
    await runUntil(t.world, () => t.b.ctl.role === Role.Active, { max: 3 * W, step: 10 });
    await run(t.world, 10 * W, { step: 50 });
    expect(t.b.ctl.role).toBe(Role.Active);
    expect(t.a.ctl.role).toBe(Role.Passive);
  });

  it('peer not ready: alarm only, no switchover; once the peer is ready (still no traffic) it switches over', async () => {
    const t = await trafficPair();
    t.b.ready = false;
    await run(t.world, 500, { step: 50 });
    t.dropped.add('node-a');
    await run(t.world, 2 * W, { step: 50 });
    expect(t.a.alarms).toContain('HA_SIP_TRAFFIC_LOST');
    expect(t.a.ctl.status().alarms.find((x) => x.code === 'HA_SIP_TRAFFIC_LOST')?.text).toMatch(/no switchover: .*peer not ready/);
    expect(t.a.ctl.role).toBe(Role.Active);
    expect(t.world.log.filter((x) => x.act === 'drain')).toEqual([]);
    t.b.ready = true;
    await runUntil(t.world, () => t.b.ctl.role === Role.Active, { max: 2 * W, step: 10 });
    expect(t.a.ctl.role).toBe(Role.Passive);
  });

  it('traffic back before the peer is ready: the alarm clears and nothing switches', async () => {
    const t = await trafficPair();
    t.b.ready = false;
    await run(t.world, 500, { step: 50 });
    t.dropped.add('node-a');
    await run(t.world, 2 * W, { step: 50 });
    expect(t.a.ctl.status().alarms.map((x) => x.code)).toContain('HA_SIP_TRAFFIC_LOST');
    t.dropped.delete('node-a');
    await run(t.world, 500, { step: 50 });
    expect(t.a.ctl.status().alarms.map((x) => x.code)).not.toContain('HA_SIP_TRAFFIC_LOST');
    t.b.ready = true;
    await run(t.world, 3 * W, { step: 50 });
    expect(t.a.ctl.role).toBe(Role.Active);
  });

  it('a switchover that fails is retried once per window while the silence lasts, not at every sample', async () => {
    const t = await trafficPair();
    let attempts = 0;
    t.a.ctl.sipTrafficSwitchover = async (reason) => {
      attempts++;
      expect(reason).toMatch(/^SIP traffic lost/);
      throw new Error('injected switchover failure');
    };
    t.dropped.add('node-a');
    await run(t.world, W + 3 * STEP, { step: 50 });
    expect(attempts).toBe(1);
    await run(t.world, 3 * W, { step: 50 });
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(attempts).toBeLessThanOrEqual(4);
    expect(t.a.ctl.role).toBe(Role.Active);
  });

  it('a witness configured and none answering: alarm only', async () => {
    const w = fakeWitness({ intervalMs: 500, timeoutMs: 200 });
    const t = await trafficPair({ witness: w });
    w.reachable = false;
    await run(t.world, 1000, { step: 50 });
    t.dropped.add('node-a');
    await run(t.world, 2 * W + 500, { step: 50 });
    expect(t.a.ctl.status().alarms.find((x) => x.code === 'HA_SIP_TRAFFIC_LOST')?.text).toMatch(/no witness answers/);
    expect(t.a.ctl.role).toBe(Role.Active);
  });

  it('off unless configured: no sipTraffic status, nothing switches', async () => {
    const world = makeWorld();
    const a = makeNode(world, { id: 'node-a', peerId: 'node-b', preferred: true });
    const b = makeNode(world, { id: 'node-b', peerId: 'node-a' });
    await Promise.all([a.ctl.start(), b.ctl.start()]);
    await run(world, 3000, { step: 50 });
    expect(a.ctl.status().sipTraffic).toBeNull();
    expect(a.ctl.role).toBe(Role.Active);
  });
});
