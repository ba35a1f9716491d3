import { describe, expect, it } from 'vitest';
import { NodeOps, type OpsCallControl, type OpsHa, type OpsSync } from '../../src/admin/node-ops.js';
import type { Admission, AdmissionDecision } from '../../src/call-control.js';
import type { CallRecord } from '../../src/records/call-record.js';
import { emptyLeg } from '../../src/records/call-record.js';

function rec(id: string, state: CallRecord['state'], createdAt = Date.now()): CallRecord {
  return { schemaVersion: 1, id, version: 1, epoch: 1, state, createdAt, route: { target: 'sip:x', rule: 'default' }, a: { ...emptyLeg('uas'), callId: `a-${id}` }, b: { ...emptyLeg('uac'), callId: `b-${id}` } };
}

class FakeCC implements OpsCallControl {
  live: CallRecord[] = [];
  admission: Admission | undefined;
  held: AdmissionDecision[] = [];
  phase = 'running';
  #ended: Array<(r: CallRecord) => void> = [];
  get heldInvites() {
    return this.held.length;
  }
  calls() {
    return this.live;
  }
  setAdmission(a?: Admission) {
    this.admission = a;
    const held = this.held.length;
    this.held = [];
    for (let i = 0; i < held; i++) this.invite();
  }
  on(event: string, fn: (r: CallRecord) => void) {
    if (event === 'callEnded') this.#ended.push(fn);
    return this;
  }
  /** A new INVITE: what the admission decides. */
  invite(): AdmissionDecision {
    const d = this.admission?.({} as never) ?? { action: 'accept' };
    if (d.action === 'hold') this.held.push(d);
    return d;
  }
  end(id: string) {
    const r = this.live.find((x) => x.id === id)!;
    this.live = this.live.filter((x) => x.id !== id);
    for (const f of this.#ended) f({ ...r, state: 'ended', ended: true });
  }
}

describe('NodeOps drain', () => {
  it('refuses new calls 503 with Retry-After, finishes when the last call ends, cancel takes calls again', () => {
    const cc = new FakeCC();
    cc.live = [rec('1', 'answered'), rec('2', 'answered')];
    const ops = new NodeOps({ nodeId: 'A', version: 't', callControl: cc, processMetrics: false });
    const st = ops.drain({});
    expect(st).toMatchObject({ state: 'draining', code: 503, retryAfter: 30, callsAtStart: 2, callsLeft: 2 });
    expect(cc.invite()).toEqual({ action: 'refuse', status: 503, reason: 'Service Unavailable', headers: { 'Retry-After': '30' } });
    expect(ops.status().accepting).toBe(false);
    cc.end('1');
    expect(ops.drainStatus().state).toBe('draining');
    cc.end('2');
    expect(ops.drainStatus()).toMatchObject({ state: 'done', callsLeft: 0, refused: 1 });
    expect(cc.invite().action).toBe('refuse'); // a drained node keeps refusing
    expect(() => ops.drain({})).not.toThrow(); // done: a new drain may start
    expect(ops.cancelDrain().state).toBe('cancelled');
    expect(cc.invite()).toEqual({ action: 'accept' });
    expect(() => ops.cancelDrain()).toThrow(expect.objectContaining({ code: 'ERR_ADMIN_NOT_DRAINING' }));
  });

  it('redirects to the given URI with 302, refuses a second drain while one runs', () => {
    const cc = new FakeCC();
    cc.live = [rec('1', 'answered')];
    const ops = new NodeOps({ nodeId: 'A', version: 't', callControl: cc, processMetrics: false });
    ops.drain({ redirect: 'sip:198.18.1.2:5060' });
    expect(cc.invite()).toEqual({ action: 'refuse', status: 302, reason: 'Moved Temporarily', headers: { Contact: '<sip:198.18.1.2:5060>' } });
    expect(() => ops.drain({})).toThrow(expect.objectContaining({ code: 'ERR_ADMIN_DRAINING' }));
  });

  it('times out with calls left and says so', async () => {
    const cc = new FakeCC();
    cc.live = [rec('1', 'answered')];
    const ops = new NodeOps({ nodeId: 'A', version: 't', callControl: cc, processMetrics: false });
    ops.drain({ timeoutMs: 20 });
    await new Promise((r) => setTimeout(r, 40));
    expect(ops.drainStatus()).toMatchObject({ state: 'timedOut', callsLeft: 1 });
  });

  it('lists calls with state, age and text filters, oldest first', () => {
    const cc = new FakeCC();
    const now = Date.now();
    cc.live = [rec('new', 'ringing', now - 100), rec('old', 'answered', now - 60_000), rec('mid', 'answered', now - 5_000)];
    const ops = new NodeOps({ nodeId: 'A', version: 't', callControl: cc, processMetrics: false });
    expect(ops.calls({}).map((c) => c.id)).toEqual(['old', 'mid', 'new']);
    expect(ops.calls({ state: 'connected' }).map((c) => c.id)).toEqual(['old', 'mid']);
    expect(ops.calls({ state: 'ringing' }).map((c) => c.id)).toEqual(['new']);
    expect(ops.calls({ minAgeMs: 10_000 }).map((c) => c.id)).toEqual(['old']);
    expect(ops.calls({ match: 'b-mid' }).map((c) => c.id)).toEqual(['mid']);
    expect(ops.calls({ limit: 1 })[0]!.legs.a.callId).toBe('a-old');
  });

  it('standalone: switchover is refused with ERR_ADMIN_NOT_PAIR', async () => {
    const ops = new NodeOps({ nodeId: 'A', version: 't', callControl: new FakeCC(), processMetrics: false });
    await expect(ops.switchover({})).rejects.toMatchObject({ code: 'ERR_ADMIN_NOT_PAIR' });
  });
});

function fakeHa(cc: FakeCC, opts: { refuse?: string } = {}) {
  let role = 'active';
  const handlers: Record<string, Array<(...a: any[]) => void>> = {};
  const ha = {
    nodeId: 'A',
    get role() {
      return role;
    },
    switchoverDrain: undefined as undefined | ((e: number) => Promise<void>),
    status: () =>
      ({
        nodeId: 'A', state: 'running', role, epoch: 1, version: 't', uptimeMs: 1, accepting: true,
        vip: { name: 'vip', heldHere: true, holder: 'A' }, calls: { connected: 0, ringing: 0, total: 0 },
        sync: { role: 'primary', ready: true, reasons: [], lagEntries: null, lagMs: null, records: 0, published: 0, dropped: 0 },
        ha: { peer: { id: 'B', alive: true, role: 'passive', epoch: 1, ready: true, lastSeenMs: 5 }, paths: [], pairReady: true, pairReasons: [], switchoverInProgress: false },
        lastTakeoverMs: null, alarms: [],
      }) as never,
    on: (ev: string, fn: (...a: any[]) => void) => ((handlers[ev] ??= []).push(fn), ha),
    controller: {
      on: () => undefined,
      requestSwitchover: async () => {
        if (opts.refuse) throw Object.assign(new Error('pair not ready: peer not ready'), { code: opts.refuse });
        role = 'draining';
        await ha.switchoverDrain!(1);
        // The cut happened: an INVITE arriving before the unbind is held.
        cc.invite();
        role = 'passive';
        return { epoch: 2, peerId: 'B', ms: 5 };
      },
    },
  };
  return ha;
}

describe('NodeOps switchover', () => {
  it('waits for ringing calls to settle and the sync flush before the cut, holds INVITEs only after it', async () => {
    const cc = new FakeCC();
    cc.live = [rec('c1', 'answered'), rec('r1', 'ringing')];
    let flushes = 0;
    let published = 10;
    const sync: OpsSync = {
      flush: async () => {
        flushes++;
        await new Promise((r) => setTimeout(r, 2));
        return { replicas: 1, published };
      },
      status: () => ({ role: 'primary', publisher: { queued: 0, inFlight: 0, published } }) as never,
    };
    const ha = fakeHa(cc);
    const ops = new NodeOps({ nodeId: 'A', version: 't', callControl: cc, ha: ha as unknown as OpsHa, sync, processMetrics: false });
    setTimeout(() => {
      // the ringing call is answered 30 ms in; during the settle, new calls are still taken
      expect(cc.invite()).toEqual({ action: 'accept' });
      cc.live = [rec('c1', 'answered'), rec('r1', 'answered')];
      published++;
    }, 30);
    const report = await ops.switchover({});
    expect(report).toMatchObject({ from: 'A', to: 'B', epoch: 2, callsAtStart: { connected: 1, ringing: 1 }, heldAtCut: 1, replicasAcked: 1 });
    expect(report.phases.settleMs).toBeGreaterThanOrEqual(25);
    expect(flushes).toBeGreaterThanOrEqual(1);
    // handed over: the held INVITE is dropped, nothing is held any more
    expect(cc.heldInvites).toBe(0);
    expect(ops.status().switchover.last?.to).toBe('B');
  });

  it('passes a refusal through (pair not ready) and keeps taking calls', async () => {
    const cc = new FakeCC();
    const ops = new NodeOps({ nodeId: 'A', version: 't', callControl: cc, ha: fakeHa(cc, { refuse: 'ERR_HA_PAIR_NOT_READY' }) as unknown as OpsHa, processMetrics: false });
    await expect(ops.switchover({})).rejects.toMatchObject({ code: 'ERR_HA_PAIR_NOT_READY' });
    expect(cc.invite()).toEqual({ action: 'accept' });
    expect(ops.status().switchover.lastError?.code).toBe('ERR_HA_PAIR_NOT_READY');
    expect(await ops.metrics.metrics()).toMatch(/dualsip_switchovers_total\{result="refused"\} 1/);
  });

  it('fails the drain when no replica acknowledges the flush', async () => {
    const cc = new FakeCC();
    const sync: OpsSync = { flush: async () => ({ replicas: 0, published: 1 }), status: () => ({ role: 'primary' }) as never };
    const ha = fakeHa(cc);
    const ops = new NodeOps({ nodeId: 'A', version: 't', callControl: cc, ha: ha as unknown as OpsHa, sync, processMetrics: false });
    await expect(ops.switchover({})).rejects.toMatchObject({ code: 'ERR_SYNC_FLUSH' });
  });
});

describe('NodeMetrics', () => {
  it('exports calls, failures by status, refusals, role and epoch', async () => {
    const cc = new FakeCC();
    cc.live = [rec('1', 'answered'), rec('2', 'ringing')];
    const ops = new NodeOps({ nodeId: 'A', version: 't', callControl: cc, processMetrics: false });
    ops.nodeMetrics.callStarted();
    ops.nodeMetrics.callEnded({ ...rec('3', 'failed'), endStatus: 486 });
    ops.drain({});
    cc.invite();
    const text = await ops.metrics.metrics();
    expect(text).toMatch(/dualsip_calls\{state="connected"\} 1/);
    expect(text).toMatch(/dualsip_calls\{state="ringing"\} 1/);
    expect(text).toMatch(/dualsip_calls_failed_total\{status="486"\} 1/);
    expect(text).toMatch(/dualsip_calls_refused_total\{status="503"\} 1/);
    expect(text).toMatch(/dualsip_role\{role="standalone"\} 1/);
    expect(text).toMatch(/dualsip_epoch 0/);
    expect(text).toMatch(/dualsip_call_rate 0\.1/);
    expect(text).toMatch(/dualsip_draining 1/);
  });
});
