/**
 * `dualsip drill`: the kept / ended normally / lost classification, the verdict and exit
 * codes, and the whole command against two real AdminServers with hand-made nodes that
 * "switch over" by swapping roles.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer, NodeMetrics, type AdminNode, type CallLookup, type CallView, type DrainStatus, type DrillRecord, type NodeStatusView, type SwitchoverReport } from '@dualsip/core';
import { classify, drillCommand, drillExitCode, legProblems, renderDrill, snapshotOf, type DrillLeg, type SnapCall } from '../src/commands/drill.js';
import { main } from '../src/main.js';
import { CliError } from '../src/errors.js';

const TOKEN = 'drill-cli-token';

const live = (id: string, state = 'answered'): CallLookup => ({ id, found: 'live', state, endReason: null, endStatus: null, endedAt: null, endedNormally: null });
const ended = (id: string, endReason: string, normally: boolean, endStatus: number | null = null): CallLookup => ({ id, found: 'ended', state: 'ended', endReason, endStatus, endedAt: '2024-05-01T10:00:00.000Z', endedNormally: normally });
const none = (id: string): CallLookup => ({ id, found: 'none', state: null, endReason: null, endStatus: null, endedAt: null, endedNormally: null });
const snap = (id: string, group: 'connected' | 'ringing' = 'connected'): SnapCall => ({ id, state: group === 'connected' ? 'answered' : 'ringing', group });

describe('what became of the snapshot calls', () => {
  it('live on the new active: kept; ended by a party on either node: ended normally; ended by the pair or unknown to both: lost', () => {
    const s = [snap('k1'), snap('k2'), snap('bye-before-cut'), snap('bye-after'), snap('dropped'), snap('vanished'), snap('stuck'), snap('r1', 'ringing'), snap('r2', 'ringing')];
    const c = classify(s, {
      to: { name: 'B', calls: [live('k1'), live('k2'), none('bye-before-cut'), ended('bye-after', 'callee-bye', true), ended('dropped', 'takeover-reinvite-failed', false), none('vanished'), none('stuck'), live('r1', 'answered'), ended('r2', 'rejected', true, 486)] },
      from: { name: 'A', calls: [none('k1'), none('k2'), ended('bye-before-cut', 'caller-bye', true), none('bye-after'), none('dropped'), none('vanished'), live('stuck'), none('r1'), none('r2')] },
    });
    expect(c.calls.connected).toEqual({ before: 7, kept: 2, endedNormally: 2, lost: 3 });
    expect(c.calls.ringing).toEqual({ before: 2, kept: 1, endedNormally: 1, lost: 0 });
    expect(c.ended.map((e) => `${e.id}@${e.node}:${e.endReason}`)).toEqual(['bye-before-cut@A:caller-bye', 'bye-after@B:callee-bye', 'r2@B:rejected']);
    expect(c.lost.map((l) => `${l.id}: ${l.why}`)).toEqual([
      'dropped: ended on B: takeover-reinvite-failed',
      'vanished: no record on either node (not adopted by B, or its end fell out of the recent history)',
      'stuck: still live on the old active A, not on B',
    ]);
  });

  it('the snapshot counts connected and ringing calls; calls already ending are not part of it', () => {
    const v = (id: string, state: string) => ({ id, state, ageMs: 1, epoch: 1, version: 1, legs: { a: { callId: '', state: '', localUri: '', remoteUri: '' }, b: { callId: '', state: '', localUri: '', remoteUri: '' } } });
    expect(snapshotOf([v('1', 'answered'), v('2', 'routing'), v('3', 'calling'), v('4', 'ringing'), v('5', 'ending')]).map((s) => `${s.id}:${s.group}`)).toEqual(['1:connected', '2:ringing', '3:ringing', '4:ringing']);
  });
});

describe('verdict and exit code', () => {
  const leg = (over: Partial<DrillLeg> = {}): DrillLeg => ({
    kind: 'switchover', from: 'A', to: 'B', fromId: 'a', toId: 'b', startedAt: '', epoch: 2, takeoverMs: 40, switchoverMs: 120, servingMs: 150,
    calls: { connected: { before: 5, kept: 4, endedNormally: 1, lost: 0 }, ringing: { before: 0, kept: 0, endedNormally: 0, lost: 0 } }, lost: [], ended: [], problems: [], ...over,
  });

  it('nothing lost, within the limit: exit 0; the limit itself is within', () => {
    expect(legProblems(leg(), 40)).toEqual([]);
    expect(drillExitCode({ problems: legProblems(leg(), undefined) })).toBe(0);
  });

  it('a lost call, a takeover over --max-takeover-ms, or an unmeasured takeover with a limit: exit 1 with the reason', () => {
    const lost = leg({ calls: { connected: { before: 5, kept: 3, endedNormally: 1, lost: 1 }, ringing: { before: 1, kept: 0, endedNormally: 0, lost: 1 } }, lost: [{ id: 'x', group: 'connected', why: 'ended on B: error', node: 'B' }] });
    expect(legProblems(lost)).toEqual(['A -> B: 2 call(s) lost (1 connected, 1 ringing); first: x: ended on B: error']);
    expect(legProblems(leg(), 39)).toEqual(['A -> B: takeover 40 ms > --max-takeover-ms 39']);
    expect(legProblems(leg({ takeoverMs: null }), 100)).toEqual(['A -> B: takeover time not measured (limit 100 ms)']);
    expect(drillExitCode({ problems: legProblems(lost) })).toBe(1);
  });

  it('the human report: takeover, kept X/Y, ringing kept, ended normally, lost, and the verdict', () => {
    const t = renderDrill({ ok: true, kind: 'switchover', startedAt: '', maxTakeoverMs: 500, legs: [leg()], problems: [] });
    expect(t).toBe(
      [
        'drill switchover A -> B (epoch 2): takeover 40 ms (switchover 120 ms), B serving after 150 ms',
        '  connected calls kept 4/5, ringing kept 0/0, ended normally 1, lost 0',
        'drill passed: no call lost, every takeover within 500 ms',
      ].join('\n'),
    );
  });
});

// ------------------------------------------------------------------ the command against two admin servers

const idle: DrainStatus = { state: 'idle', code: null, retryAfter: null, redirect: null, startedAt: null, elapsedMs: 0, timeoutMs: 0, callsAtStart: 0, callsLeft: 0, refused: 0 };

function view(id: string, role: string, over: Partial<NodeStatusView> = {}): NodeStatusView {
  return {
    nodeId: id, version: '0.1.0', uptimeMs: 1000, mode: 'pair', role, epoch: 4, accepting: role === 'active', state: 'running',
    vip: null, calls: { connected: 0, ringing: 0, total: 0 }, sync: null, peer: null, paths: [],
    pairReady: true, pairReasons: [], switchover: { running: false, last: null, lastError: null }, drain: idle, alarms: [], ...over,
  };
}

const callView = (id: string, state: string): CallView => ({ id, state, ageMs: 1000, epoch: 4, version: 2, legs: { a: { callId: `a-${id}`, state: 'confirmed', localUri: '', remoteUri: '' }, b: { callId: `b-${id}`, state: 'confirmed', localUri: '', remoteUri: '' } } });

/** One node of a fake pair: calls are a map id -> state (live) or end reason (ended). */
class FakeNode implements AdminNode {
  metrics = new NodeMetrics({ status: () => this.status(), processMetrics: false }).registry;
  peer!: FakeNode;
  live = new Map<string, string>();
  over = new Map<string, { reason: string; normally: boolean }>();
  drills: DrillRecord[] = [];
  epoch = 4;
  constructor(public id: string, public role: string, public st: Partial<NodeStatusView> = {}, public takeoverMs = 30) {}
  status() {
    return view(this.id, this.role, { epoch: this.epoch, ...this.st });
  }
  calls() {
    return [...this.live].map(([id, state]) => callView(id, state));
  }
  drain() {
    return idle;
  }
  drainStatus() {
    return idle;
  }
  cancelDrain() {
    return idle;
  }
  /** What happens to the calls at the handover, given by the test. */
  onHandover: (from: FakeNode, to: FakeNode) => void = (from, to) => {
    for (const [id, st] of from.live) to.live.set(id, st === 'answered' || st === 'ringing' ? 'answered' : st);
    from.live.clear();
  };
  /** Refuse this many switchovers as "pair not ready" although the status says ready (readiness flapping). */
  refuseNext = 0;
  async switchover(): Promise<SwitchoverReport> {
    if (this.refuseNext > 0 && this.refuseNext--) throw Object.assign(new Error('pair not ready: peer mirror lags'), { code: 'ERR_HA_PAIR_NOT_READY' });
    if (this.st.pairReady === false) throw Object.assign(new Error('pair not ready: peer not ready'), { code: 'ERR_HA_PAIR_NOT_READY' });
    this.onHandover(this, this.peer);
    this.role = 'passive';
    this.peer.role = 'active';
    this.epoch = this.peer.epoch = this.epoch + 1;
    return { from: this.id, to: this.peer.id, epoch: this.epoch, ms: this.takeoverMs + 100, forced: false, phases: { settleMs: 60, flushMs: 40, handoverMs: this.takeoverMs }, callsAtStart: { connected: 0, ringing: 0 }, heldAtCut: 0, flushRounds: 1, replicasAcked: 1 };
  }
  lookupCalls(ids: string[]): CallLookup[] {
    return ids.map((id) => {
      const l = this.live.get(id);
      if (l) return live(id, l);
      const o = this.over.get(id);
      return o ? ended(id, o.reason, o.normally) : none(id);
    });
  }
  recordDrill(r: Omit<DrillRecord, 'recordedAt'>): DrillRecord {
    const d = { ...r, recordedAt: new Date().toISOString() };
    this.drills.push(d);
    return d;
  }
}

function pair(aOver: Partial<NodeStatusView> = {}): { a: FakeNode; b: FakeNode } {
  const a = new FakeNode('a', 'active', aOver);
  const b = new FakeNode('b', 'passive', {}, 45);
  a.peer = b;
  b.peer = a;
  return { a, b };
}

const servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(node: AdminNode): Promise<string> {
  const s = new AdminServer({ node, address: '127.0.0.1', port: 0, token: TOKEN });
  servers.push(s);
  await s.listen();
  return s.url;
}

async function run(a: FakeNode, b: FakeNode, extra: Record<string, unknown> = {}) {
  const flags = { node: [`A=${await serve(a)}`, `B=${await serve(b)}`], token: TOKEN, json: true, ...extra };
  let o = '';
  let e = '';
  try {
    const code = await drillCommand(flags, {}, (s) => void (o += s), (s) => void (e += s));
    return { code, json: JSON.parse(o), err: e };
  } catch (err) {
    if (err instanceof CliError) return { code: err.exitCode, json: null, err: `${err.message}\nhint: ${err.hint}` };
    throw err;
  }
}

describe('dualsip drill against a pair', () => {
  it('--back --json: both takeovers kept the calls, a BYE in between counts as ended normally, each leg recorded on the node that took over; exit 0', async () => {
    const { a, b } = pair();
    for (const id of ['c1', 'c2', 'c3']) a.live.set(id, 'answered');
    a.live.set('r1', 'ringing');
    // c3's caller hangs up during the first handover: it ends normally on A before the cut.
    a.onHandover = (from, to) => {
      from.live.delete('c3');
      from.over.set('c3', { reason: 'caller-bye', normally: true });
      for (const [id] of from.live) to.live.set(id, 'answered');
      from.live.clear();
    };
    const r = await run(a, b, { back: true, 'max-takeover-ms': '50' });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.legs.map((l: DrillLeg) => `${l.from}->${l.to}`)).toEqual(['A->B', 'B->A']);
    expect(r.json.legs[0].calls).toEqual({ connected: { before: 3, kept: 2, endedNormally: 1, lost: 0 }, ringing: { before: 1, kept: 1, endedNormally: 0, lost: 0 } });
    expect(r.json.legs[1].calls).toEqual({ connected: { before: 3, kept: 3, endedNormally: 0, lost: 0 }, ringing: { before: 0, kept: 0, endedNormally: 0, lost: 0 } });
    expect(r.json.legs.map((l: DrillLeg) => l.takeoverMs)).toEqual([30, 45]);
    expect(r.json.legs[0].servingMs).toBeGreaterThanOrEqual(0);
    expect(b.drills).toHaveLength(1);
    expect(b.drills[0]).toMatchObject({ kind: 'switchover', from: 'a', to: 'b', takeoverMs: 30, ok: true, calls: { connected: { kept: 2, endedNormally: 1 } } });
    expect(a.drills[0]).toMatchObject({ from: 'b', to: 'a', takeoverMs: 45, ok: true });
    expect(a.role).toBe('active');
  });

  it('a call the takeover dropped: exit 1, the reason on stderr, and the node records the failed drill', async () => {
    const { a, b } = pair();
    a.live.set('c1', 'answered');
    a.live.set('c2', 'answered');
    a.onHandover = (from, to) => {
      to.live.set('c1', 'answered');
      to.over.set('c2', { reason: 'takeover-reinvite-failed', normally: false });
      from.live.clear();
    };
    const r = await run(a, b);
    expect(r.code).toBe(1);
    expect(r.json.legs[0].calls.connected).toEqual({ before: 2, kept: 1, endedNormally: 0, lost: 1 });
    expect(r.err).toBe('drill failed: A -> B: 1 call(s) lost (1 connected, 0 ringing); first: c2: ended on B: takeover-reinvite-failed\n');
    expect(b.drills[0]).toMatchObject({ ok: false, calls: { connected: { lost: 1 } } });
  });

  it('a switch back refused as not ready right after the pair said ready is tried again; a refusal that lasts is reported with the first leg', async () => {
    const { a, b } = pair();
    a.live.set('c1', 'answered');
    b.refuseNext = 2;
    const r = await run(a, b, { back: true });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.json.legs.map((l: DrillLeg) => `${l.from}->${l.to}`)).toEqual(['A->B', 'B->A']);
    expect(b.refuseNext).toBe(0);
    const p2 = pair();
    p2.a.live.set('c1', 'answered');
    p2.b.refuseNext = 1_000_000;
    const r2 = await run(p2.a, p2.b, { back: true, 'ready-timeout': '1' });
    expect(r2.code).toBe(1);
    expect(r2.json.legs).toHaveLength(1);
    expect(r2.json.legs[0].calls.connected.kept).toBe(1);
    expect(r2.err).toMatch(/^drill failed: switch back failed: drill refused: node B .*pair not ready: peer mirror lags/);
    expect(p2.b.drills).toHaveLength(1); // the first leg is still recorded
  });

  it('a takeover over --max-takeover-ms: exit 1 naming the limit', async () => {
    const { a, b } = pair();
    const r = await run(a, b, { 'max-takeover-ms': '20' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^drill failed: A -> B: takeover 30 ms > --max-takeover-ms 20/);
  });

  it('passive not ready: refused before anything happens (exit 1, hint --force); nothing recorded', async () => {
    const { a, b } = pair({ pairReady: false, pairReasons: ['sync path sync down'] });
    a.live.set('c1', 'answered');
    const r = await run(a, b, { back: true });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^drill refused: pair not ready: sync path sync down\nhint: .*--force/);
    expect([a.role, b.role]).toEqual(['active', 'passive']);
    expect(a.drills.length + b.drills.length).toBe(0);
  });

  it('the human report through main(), and usage errors', async () => {
    const { a, b } = pair();
    a.live.set('c1', 'answered');
    const lines: string[] = [];
    const w = process.stdout.write;
    process.stdout.write = ((s: string) => (lines.push(s), true)) as typeof process.stdout.write;
    let code: number;
    try {
      code = await main(['drill', '--node', `A=${await serve(a)}`, '--node', `B=${await serve(b)}`, '--token', TOKEN]);
    } finally {
      process.stdout.write = w;
    }
    expect(code).toBe(0);
    expect(lines.join('')).toMatch(/^drill switchover A -> B \(epoch 5\): takeover 30 ms \(switchover 130 ms\), B serving after \d+ ms\n  connected calls kept 1\/1, ringing kept 0\/0, ended normally 0, lost 0\ndrill passed: no call lost\n$/);
    expect(await exitCode(drillCommand({ node: ['A=http://127.0.0.1:1'], token: TOKEN }, {}))).toBe(2);
    expect(await exitCode(drillCommand({ node: ['A=http://127.0.0.1:1', 'B=http://127.0.0.1:2'], token: TOKEN, 'max-takeover-ms': 'soon' }, {}))).toBe(2);
  });
});

async function exitCode(p: Promise<number>): Promise<number> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof CliError) return err.exitCode;
    throw err;
  }
}
