import { describe, expect, it } from 'vitest';
import { InMemoryHeartbeatNetwork, ManualClock, MemoryEpochStore, Role } from '../../src/ha/index.js';
import { HaNode, HaNodeState, PairError, type PairCallControl, type PairSync } from '../../src/pair/index.js';
import type { SyncRecord, SyncNodeStatus } from '@dualsip/sync';
import type { VipController } from '@dualsip/vip';
import type { CallRecord } from '../../src/records/call-record.js';

const PATHS = [
  { name: 'sync', network: 'sync' as const },
  { name: 'sip', network: 'sip' as const },
];

class FakeSync implements PairSync {
  role = 'idle';
  published: SyncRecord[] = [];
  mirror: SyncRecord[] = [];
  constructor(private readonly log: string[]) {}
  async becomePrimary(epoch: number) {
    this.log.push(`sync.primary(${epoch})`);
    this.role = 'primary';
  }
  async becomeReplica() {
    this.log.push('sync.replica');
    this.role = 'replica';
  }
  async publish(r: SyncRecord) {
    this.published.push(r);
  }
  records() {
    return this.role === 'primary' ? this.published : this.mirror;
  }
  status(): SyncNodeStatus {
    const ready = this.role === 'replica' || this.role === 'primary';
    return { role: this.role as SyncNodeStatus['role'], epoch: 0, ready, reasons: ready ? [] : [this.role] };
  }
  async close() {
    this.role = 'closed';
  }
}

function fakeVip(log: string[], holders: Set<string>, id: string): VipController {
  let held = false;
  const v = {
    async claim() {
      log.push('vip.claim');
      held = true;
      holders.add(id);
      return { changed: true, address: 'vip', interface: 'x', announced: 0, method: 'port' as const, elapsedMs: 0 };
    },
    async release() {
      log.push('vip.release');
      const changed = held;
      held = false;
      holders.delete(id);
      return { changed, address: 'vip', interface: 'x' };
    },
    holds: () => held,
    async close() {
      held = false;
      holders.delete(id);
    },
    destroy() {},
    on: () => v,
    once: () => v,
    off: () => v,
  };
  return v as unknown as VipController;
}

function rec(id: string, state: CallRecord['state'], ended = false): CallRecord {
  return { id, version: 1, epoch: 1, state, ...(ended ? { ended: true } : {}) } as unknown as CallRecord;
}

function makeNode(clock: ManualClock, net: InMemoryHeartbeatNetwork, id: string, peer: string, holders: Set<string>, preferred = false) {
  const log: string[] = [];
  const sync = new FakeSync(log);
  const adopted: CallRecord[][] = [];
  let live: CallRecord[] = [];
  const cc: PairCallControl = {
    calls: () => live,
    takeover: { attach: () => void log.push('cc.attach') },
    adoptCalls: (r) => {
      log.push('cc.adopt');
      adopted.push(r);
      live = [...r];
    },
    forgetCalls: () => {
      log.push('cc.forget');
      live = [];
    },
  };
  const node = new HaNode({
    nodeId: id,
    peerId: peer,
    preferred,
    secret: 's3cret',
    transport: net.endpoint({ nodeId: id, peerId: peer, paths: PATHS }),
    epochStore: new MemoryEpochStore(),
    sync,
    vip: fakeVip(log, holders, id),
    sip: {
      bind: async () => void log.push('sip.bind'),
      unbind: async () => void log.push('sip.unbind'),
    },
    intervalMs: 100,
    missCount: 3,
    startupWaitMs: 1000,
    clock,
  });
  return { node, log, sync, cc, adopted, setLive: (r: CallRecord[]) => (live = r) };
}

async function pair(preferredA = false) {
  const clock = new ManualClock();
  const net = new InMemoryHeartbeatNetwork({ clock });
  const holders = new Set<string>();
  const a = makeNode(clock, net, 'a', 'b', holders, preferredA);
  const b = makeNode(clock, net, 'b', 'a', holders);
  await a.node.start({ callControl: a.cc });
  await b.node.start({ callControl: b.cc });
  await clock.tick(2000);
  return { clock, net, holders, a, b };
}

describe('HaNode', () => {
  it('start-up elects exactly one active: it promotes sync, claims the VIP and binds SIP; the other follows as replica', async () => {
    const { a, b, holders } = await pair(false);
    expect([a.node.role, b.node.role].sort()).toEqual([Role.Active, Role.Passive]);
    expect(holders.size).toBe(1);
    const active = a.node.role === Role.Active ? a : b;
    const passive = active === a ? b : a;
    // The takeover handlers are attached at start, before any SIP can arrive.
    expect(active.log[0]).toBe('cc.attach');
    expect(passive.log[0]).toBe('cc.attach');
    // A starting node first releases a floating IP a killed predecessor may have left (a no-op here).
    expect(active.log[1]).toBe('vip.release');
    expect(active.log.slice(2, 5)).toEqual([`sync.primary(${active.node.epoch()})`, 'vip.claim', 'sip.bind']);
    expect(active.node.accepting).toBe(true);
    expect(passive.sync.role).toBe('replica');
    expect(passive.node.accepting).toBe(false);
    expect(active.node.status().vip.holder).toBe(active.node.nodeId);
    expect(passive.node.status().vip.holder).toBe(active.node.nodeId);
  });

  it('the record sink publishes only while this node is the sync primary', async () => {
    const { a, b } = await pair(true);
    expect(a.node.role).toBe(Role.Active);
    await a.node.sink.publish(rec('c1', 'answered'));
    await b.node.sink.publish(rec('c2', 'answered'));
    expect(a.sync.published.map((r) => r.id)).toEqual(['c1']);
    expect(b.sync.published).toEqual([]);
    expect(b.node.status().sync.dropped).toBe(1);
  });

  it('peer dead: the passive takes over with a higher epoch and adopts the mirrored calls that have not ended', async () => {
    const { a, b, clock, net, holders } = await pair(true);
    expect(a.node.role).toBe(Role.Active);
    const e0 = a.node.epoch();
    b.sync.mirror = [rec('c1', 'answered'), rec('c2', 'ringing'), rec('c3', 'ended', true)] as unknown as SyncRecord[];
    const finished: number[] = [];
    b.node.on('takeoverFinished', (ms) => finished.push(ms));
    a.node.destroy();
    holders.delete('a');
    net.isolate('a', ['sync', 'sip']);
    await clock.tick(1000);
    expect(b.node.role).toBe(Role.Active);
    expect(b.node.epoch()).toBe(e0 + 1);
    expect(b.adopted).toHaveLength(1);
    expect(b.adopted[0]!.map((r) => r.id)).toEqual(['c1', 'c2']);
    expect(finished).toHaveLength(1);
    expect(b.node.status().calls).toEqual({ connected: 1, ringing: 1, total: 2 });
  });

  it('a starting node releases a floating IP left on its interface by a killed predecessor before the election', async () => {
    const clock = new ManualClock();
    const net = new InMemoryHeartbeatNetwork({ clock });
    const holders = new Set<string>();
    const b = makeNode(clock, net, 'b', 'a', holders);
    await b.node.start({ callControl: b.cc });
    await clock.tick(2000);
    expect(b.node.role).toBe(Role.Active);
    expect(holders).toEqual(new Set(['b']));
    // B is SIGKILLed while active (no release runs: its address stays on the interface) and A takes over.
    b.node.destroy();
    const a = makeNode(clock, net, 'a', 'b', holders);
    await a.node.start({ callControl: a.cc });
    await clock.tick(2000);
    expect(a.node.role).toBe(Role.Active);
    // B restarted: it releases the stale address before anything else, then follows A.
    const b2 = makeNode(clock, net, 'b', 'a', holders);
    await b2.node.start({ callControl: b2.cc });
    expect(b2.log.slice(0, 2)).toEqual(['cc.attach', 'vip.release']);
    await clock.tick(1000);
    expect(b2.node.role).toBe(Role.Passive);
    expect(b2.log).not.toContain('vip.claim');
    expect(holders).toEqual(new Set(['a']));
  });

  it('a fenced active stops sending SIP first: sip.unbind, then vip.release, then forget calls, then follow the peer', async () => {
    const { a, b, clock, net, holders } = await pair(true);
    expect(a.node.role).toBe(Role.Active);
    a.setLive([rec('c1', 'answered')]);
    net.isolate('a', ['sync', 'sip']);
    await clock.tick(1000);
    // Both claim while cut off (the test network cannot fence); on heal the lower epoch yields.
    expect(b.node.role).toBe(Role.Active);
    expect(b.node.epoch()).toBeGreaterThan(a.node.epoch());
    a.log.length = 0;
    net.rejoin('a', ['sync', 'sip']);
    await clock.tick(500);
    expect(a.node.role).toBe(Role.Passive);
    expect(a.log).toEqual(['sip.unbind', 'vip.release', 'cc.forget', 'sync.replica']);
    expect(holders).toEqual(new Set(['b']));
    expect(a.node.epoch()).toBe(b.node.epoch());
  });

  it('close() steps an active down and is idempotent; destroy() after close() does nothing', async () => {
    const { a, b, clock } = await pair(true);
    const c1 = a.node.close();
    const c2 = a.node.close();
    expect(c1).toBe(c2);
    await clock.tick(100);
    await c1;
    expect(a.node.state).toBe(HaNodeState.Closed);
    expect(a.log).toContain('sip.unbind');
    a.node.destroy();
    await clock.tick(1000);
    expect(b.node.role).toBe(Role.Active);
  });

  it('rejects a second start with a coded error', async () => {
    const { a } = await pair();
    await expect(a.node.start({ callControl: a.cc })).rejects.toMatchObject({ code: 'ERR_PAIR_ILLEGAL_TRANSITION' });
    expect(PairError).toBeDefined();
  });
});
