import { describe, expect, it } from 'vitest';
import { encodeHeartbeat, HaError, MemoryEpochStore, Role } from '../../src/ha/index.js';
import {
  claiming,
  INTERVAL,
  makeNode,
  makeWorld,
  MISSES,
  PATH_NAMES,
  run,
  runUntil,
  SECRET,
  startPair,
  STARTUP_WAIT,
  type TestNode,
  type World,
} from './harness.js';

const DETECT = INTERVAL * MISSES;

function atMostOneClaiming(world: World, nodes: TestNode[]): () => void {
  return () => {
    const n = nodes.filter(claiming).map((x) => `${x.id}:${x.ctl.role}@${x.ctl.epoch}`);
    if (n.length > 1) throw new Error(`two nodes claim active at t=${world.clock.now()}: ${n.join(', ')}`);
    if (world.holders.size > 1) throw new Error(`two VIP holders at t=${world.clock.now()}: ${[...world.holders].join(', ')}`);
  };
}

describe('HaController: start-up election', () => {
  it('exactly one becomes active: the configured preference wins over the node id', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { bPreferred: true });
    expect(b.ctl.role).toBe(Role.Active);
    expect(a.ctl.role).toBe(Role.Passive);
    expect(b.ctl.epoch).toBe(1);
    expect(a.ctl.epoch).toBe(1); // adopted from the active's heartbeats
    expect(b.store.epoch).toBe(1);
    expect(world.log.filter((r) => r.act === 'active').map((r) => r.node)).toEqual(['node-b']);
    // Elected well before the start-up wait: the peer was heard.
    expect(b.roles.find((r) => r.role === Role.Active)!.at - 1_000_000).toBeLessThan(STARTUP_WAIT);
  });

  it('exactly one becomes active: with no preference the lower node id wins (deterministic tie-break)', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aId: 'zeta', bId: 'alpha' });
    expect(b.ctl.role).toBe(Role.Active);
    expect(a.ctl.role).toBe(Role.Passive);
    expect(world.maxHolders).toBe(1);
  });

  it('a node with no reachable peer becomes active only after the configured wait', async () => {
    const world = makeWorld();
    const a = makeNode(world, { id: 'node-a', peerId: 'node-b' });
    await a.ctl.start();
    await run(world, STARTUP_WAIT - 10);
    expect(a.ctl.role).toBe(Role.Starting);
    expect(world.log).toHaveLength(0);
    await run(world, 20);
    expect(a.ctl.role).toBe(Role.Active);
    expect(a.ctl.epoch).toBe(1);
    expect(a.store.saves).toEqual([1]);
    const st = a.ctl.status();
    expect(st.peer.alive).toBe(false);
    expect(st.peer.role).toBeNull();
  });

  it('a node that starts while the peer is already active stays passive', async () => {
    const world = makeWorld();
    const b = makeNode(world, { id: 'node-b', peerId: 'node-a', store: new MemoryEpochStore({ epoch: 5 }) });
    await b.ctl.start();
    await run(world, STARTUP_WAIT + 50);
    expect(b.ctl.role).toBe(Role.Active);
    expect(b.ctl.epoch).toBe(6);
    const a = makeNode(world, { id: 'node-a', peerId: 'node-b', preferred: true });
    await a.ctl.start();
    await run(world, 3000, { check: atMostOneClaiming(world, [a, b]) });
    expect(a.ctl.role).toBe(Role.Passive);
    expect(a.ctl.epoch).toBe(6);
    expect(a.store.epoch).toBe(6); // adopted epoch persisted
  });
});

describe('HaController: failure detection and takeover', () => {
  it('the peer counts as dead only when every path is silent: passive takes over after interval x misses, epoch persisted before acting', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    expect(a.ctl.role).toBe(Role.Active);
    const started: string[] = [];
    const finished: Array<[number, number | null]> = [];
    b.ctl.on('takeoverStarted', (r) => started.push(r));
    b.ctl.on('takeoverFinished', (ms, since) => finished.push([ms, since]));
    b.actionMs = 30;
    const lost: string[] = [];
    b.ctl.on('peerLost', (r) => lost.push(r));
    a.ctl.destroy(new Error('killed')); // the active dies: no goodbye, just silence
    world.holders.delete('node-a'); // a dead node holds nothing
    const lastHeard = b.ctl.status().paths.map((p) => p.lastSeenMs!);
    const silentFor = Math.min(...lastHeard);
    // Not before interval x misses.
    await run(world, DETECT - silentFor - 5, { step: 1 });
    expect(b.ctl.role).toBe(Role.Passive);
    const elapsed = await runUntil(world, () => b.ctl.role === Role.Active, { max: 1000 });
    expect(elapsed).toBeLessThan(5 + 1 + 30 + 5);
    expect(lost).toEqual(['every heartbeat path silent']);
    expect(started).toEqual(['peer dead: every heartbeat path silent']);
    expect(finished).toHaveLength(1);
    expect(finished[0]![0]).toBeGreaterThanOrEqual(30);
    // From the active's last heartbeat to active again: detection + action, well under 1 s.
    expect(finished[0]![1]).toBeGreaterThanOrEqual(DETECT + 30);
    expect(finished[0]![1]).toBeLessThan(DETECT + INTERVAL + 30 + 10);
    expect(b.ctl.epoch).toBe(2);
    expect(b.store.saves).toContain(2);
    const activation = world.log.filter((r) => r.node === 'node-b' && r.act === 'active');
    expect(activation).toEqual([expect.objectContaining({ epoch: 2, stored: 2 })]);
    expect(b.ctl.status().alarms.map((x) => x.code)).toContain('HA_PEER_LOST');
  });

  it('a lost sync path alone raises an alarm on both, marks the pair not ready, and never triggers a takeover', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    const down: string[] = [];
    b.ctl.on('pathDown', (p) => down.push(p));
    world.net.cut('sync');
    await run(world, 2000, { check: atMostOneClaiming(world, [a, b]) });
    expect(a.ctl.role).toBe(Role.Active);
    expect(b.ctl.role).toBe(Role.Passive);
    expect(a.ctl.epoch).toBe(1);
    expect(down).toEqual(['sync']);
    for (const n of [a, b]) {
      const st = n.ctl.status();
      expect(st.alarms.map((x) => x.code)).toContain('HA_SYNC_PATH_DOWN');
      expect(st.peer.alive).toBe(true);
      expect(st.pairReady).toBe(false);
      expect(st.paths.find((p) => p.name === 'sync')!.up).toBe(false);
      expect(st.paths.find((p) => p.name === 'sip')!.up).toBe(true);
    }
    expect(b.ctl.status().ready).toBe(false);
    expect(b.ctl.status().readyReasons).toContain('sync path sync down');
    // A switchover is refused while the pair is not ready.
    await expect(a.ctl.requestSwitchover()).rejects.toMatchObject({ code: 'ERR_HA_PAIR_NOT_READY' });
    world.net.heal('sync');
    await run(world, 300);
    for (const n of [a, b]) {
      expect(n.ctl.status().alarms.map((x) => x.code)).not.toContain('HA_SYNC_PATH_DOWN');
      expect(n.ctl.status().pairReady).toBe(true);
    }
  });

  it('a lost SIP path alone does not trigger a takeover either', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    world.net.cut('sip');
    await run(world, 2000, { check: atMostOneClaiming(world, [a, b]) });
    expect(a.ctl.role).toBe(Role.Active);
    expect(b.ctl.role).toBe(Role.Passive);
    expect(b.ctl.status().alarms.map((x) => x.code)).toContain('HA_SIP_PATH_DOWN');
    expect(b.ctl.status().alarms.map((x) => x.code)).not.toContain('HA_PEER_LOST');
  });

  it('isolation: passive takes over; on heal the old active sees the higher epoch and steps down at once, never two actives after the heal', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    world.net.isolate('node-a', PATH_NAMES);
    await run(world, DETECT + 50);
    expect(b.ctl.role).toBe(Role.Active);
    expect(b.ctl.epoch).toBe(2);
    // Cut off from its peer, A cannot tell isolation from the peer's death: it stays active.
    expect(a.ctl.role).toBe(Role.Active);
    expect(a.ctl.epoch).toBe(1);
    world.holders.clear(); // the fake world is not partitioned; only the controllers matter from here
    world.holders.add('node-b');
    a.actionMs = 10;
    world.net.rejoin('node-a', PATH_NAMES);
    const healAt = world.clock.now();
    const fromB = (): number => PATH_NAMES.reduce((s, p) => s + (world.net.delivered.get(`node-b>node-a@${p}`) ?? 0), 0);
    const before = fromB();
    const crossed = (): boolean => fromB() > before;
    // Step 1 ms at a time; from the instant A hears B, never two claim active.
    let fencedAt: number | undefined;
    await run(world, 1000, {
      step: 1,
      check: () => {
        if (crossed()) {
          atMostOneClaiming(world, [a, b])();
          fencedAt ??= world.clock.now();
        }
      },
    });
    expect(fencedAt).toBeDefined();
    // A heard B within one heartbeat interval (+ latency) of the heal and let go at once.
    expect(fencedAt! - healAt).toBeLessThanOrEqual(INTERVAL + 2);
    const aFenced = a.roles.find((r) => r.role === Role.Fenced)!;
    expect(aFenced.at).toBe(fencedAt);
    const aRelease = world.log.find((r) => r.node === 'node-a' && r.act === 'passive')!;
    expect(aRelease.at).toBe(fencedAt); // becomePassive called in the same instant
    expect(aRelease.epoch).toBe(2);
    expect(a.ctl.role).toBe(Role.Passive);
    expect(a.ctl.epoch).toBe(2);
    expect(a.store.epoch).toBe(2);
    expect(b.ctl.role).toBe(Role.Active);
    expect(b.ctl.epoch).toBe(2);
    expect(world.log.filter((r) => r.node === 'node-a' && r.act === 'active')).toHaveLength(1); // no re-election
  });

  it('equal epochs and both active: the lower node id keeps it, the other steps down, alarm on both', async () => {
    const world = makeWorld();
    world.watchHolders = false;
    const a = makeNode(world, { id: 'node-a', peerId: 'node-b' });
    const b = makeNode(world, { id: 'node-b', peerId: 'node-a' });
    world.net.isolate('node-a', PATH_NAMES);
    await Promise.all([a.ctl.start(), b.ctl.start()]);
    await run(world, STARTUP_WAIT + 50);
    expect([a.ctl.role, b.ctl.role, a.ctl.epoch, b.ctl.epoch]).toEqual([Role.Active, Role.Active, 1, 1]);
    world.net.rejoin('node-a', PATH_NAMES);
    await run(world, 500);
    expect(a.ctl.role).toBe(Role.Active);
    expect(b.ctl.role).toBe(Role.Passive);
    expect(a.alarms).toContain('HA_DUAL_ACTIVE');
    expect(b.alarms).toContain('HA_DUAL_ACTIVE');
    expect(world.holders).toEqual(new Set(['node-a']));
  });
});

describe('HaController: own SIP interface', () => {
  it('a node whose own SIP interface is down steps down if the peer is healthy', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    a.sipUp = false;
    await run(world, 1000, { step: 1, check: atMostOneClaiming(world, [a, b]) });
    expect(a.ctl.role).toBe(Role.Passive);
    expect(b.ctl.role).toBe(Role.Active);
    expect(b.ctl.epoch).toBe(2);
    expect(a.ctl.epoch).toBe(2);
    expect(a.alarms).toContain('HA_SIP_INTERFACE_DOWN');
    expect(b.roles.find((r) => r.role === Role.TakingOver)!.reason).toBe('peer node-a handed over');
    // A stops yielding once B is active, and does not take it back (no preemption).
    expect(a.ctl.status().yielding).toBe(false);
    a.sipUp = true;
    await run(world, 2000);
    expect(b.ctl.role).toBe(Role.Active);
    expect(a.ctl.role).toBe(Role.Passive);
  });

  it('a node whose own SIP interface is down does not step down when the peer is dead (or not ready)', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    b.ready = false;
    await run(world, INTERVAL + 10); // B's next heartbeat says "not ready"
    expect(a.ctl.status().peer.ready).toBe(false);
    a.sipUp = false;
    await run(world, 1000);
    expect(a.ctl.role).toBe(Role.Active); // peer not ready: stepping down would lose calls
    b.ctl.destroy();
    await run(world, 1000);
    expect(a.ctl.role).toBe(Role.Active);
    expect(a.ctl.status().alarms.map((x) => x.code)).toEqual(expect.arrayContaining(['HA_SIP_INTERFACE_DOWN', 'HA_PEER_LOST']));
  });
});

describe('HaController: own SIP interface down, then the peer goes silent', () => {
  it('an active that handed over for its SIP link does not take the role back when the peer then goes silent; it does once its link is back', async () => {
    // The namespace test's "A isolated": A's SIP cable goes first (A hands over to the
    // healthy B), then its sync cable. Before the fix A, passive with no SIP, took over
    // again at the same epoch as B: two actives at one epoch on heal.
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    a.sipUp = false;
    await run(world, 1000, { step: 1, check: atMostOneClaiming(world, [a, b]) });
    expect(a.ctl.role).toBe(Role.Passive);
    expect(b.ctl.role).toBe(Role.Active);
    const before = a.roles.length;
    world.net.isolate('node-a', PATH_NAMES);
    await run(world, 2000, { step: 1 });
    expect(a.ctl.role).toBe(Role.Passive);
    expect(a.roles.slice(before).filter((r) => r.role === Role.TakingOver)).toEqual([]);
    expect(b.ctl.role).toBe(Role.Active);
    expect(b.ctl.epoch).toBe(2);
    // The link comes back while the peer is still unheard: now A can serve, and does.
    a.sipUp = true;
    await run(world, 1000, { step: 1 });
    expect(a.ctl.role).toBe(Role.Active);
    expect(a.ctl.epoch).toBe(3);
  });

  it('an election never goes to a node whose SIP interface is down when the peer has one', async () => {
    const world = makeWorld();
    const a = makeNode(world, { id: 'node-a', peerId: 'node-b', preferred: true });
    const b = makeNode(world, { id: 'node-b', peerId: 'node-a', preferred: false });
    a.sipUp = false;
    await Promise.all([a.ctl.start(), b.ctl.start()]);
    await run(world, STARTUP_WAIT + 500, { step: 1, check: atMostOneClaiming(world, [a, b]) });
    expect(b.ctl.role).toBe(Role.Active);
    expect(a.ctl.role).toBe(Role.Passive);
    expect(b.roles.find((r) => r.role === Role.TakingOver)!.reason).toBe('elected: peer SIP interface down');
  });
});

describe('HaController: rejoin', () => {
  it('a restarted node comes back passive and does not take the VIP back (no preemption)', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    a.ctl.destroy();
    world.holders.delete('node-a');
    await run(world, DETECT + 100);
    expect(b.ctl.role).toBe(Role.Active);
    expect(b.ctl.epoch).toBe(2);
    const a2 = makeNode(world, { id: 'node-a', peerId: 'node-b', preferred: true, store: a.store });
    await a2.ctl.start();
    const peerBack: number[] = [];
    b.ctl.on('peerBack', () => peerBack.push(world.clock.now()));
    await run(world, 5000, { check: atMostOneClaiming(world, [a2, b]) });
    expect(a2.ctl.role).toBe(Role.Passive);
    expect(a2.ctl.epoch).toBe(2);
    expect(b.ctl.role).toBe(Role.Active);
    expect(b.ctl.epoch).toBe(2);
    expect(peerBack).toHaveLength(1);
    expect(b.ctl.status().alarms.map((x) => x.code)).not.toContain('HA_PEER_LOST');
    expect(world.log.filter((r) => r.node === 'node-a' && r.act === 'active')).toHaveLength(1); // only the first start
  });
});

describe('HaController: heartbeat authenticity', () => {
  it('forged and corrupt heartbeats are dropped and counted, and cannot fence the active', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    const forged = encodeHeartbeat(
      { nodeId: 'node-b', incarnation: 'evil', role: Role.Active, epoch: 99, seq: 1, sentAt: 0, ready: true, sipUp: true, preferred: true, yielding: false },
      'wrong-secret',
    );
    const dropped0 = a.ctl.status().counters.dropped;
    world.net.inject({ to: 'node-a', path: 'sip', data: forged });
    const corrupt = Buffer.from(forged);
    corrupt[corrupt.length - 3] ^= 0xff;
    world.net.inject({ to: 'node-a', path: 'sync', data: corrupt });
    world.net.inject({ to: 'node-a', path: 'sync', data: Buffer.from('garbage') });
    // Right secret, wrong node: a heartbeat from some third node is not our peer's.
    const stranger = encodeHeartbeat(
      { nodeId: 'node-x', incarnation: 'x', role: Role.Active, epoch: 50, seq: 1, sentAt: 0, ready: true, sipUp: true, preferred: false, yielding: false },
      SECRET,
    );
    world.net.inject({ to: 'node-a', path: 'sip', data: stranger });
    await run(world, 50);
    expect(a.ctl.status().counters.dropped).toBe(dropped0 + 4);
    expect(a.ctl.role).toBe(Role.Active);
    expect(a.ctl.epoch).toBe(1);
    expect(b.ctl.role).toBe(Role.Passive);
  });

  it('a replayed genuine heartbeat is dropped', async () => {
    const world = makeWorld();
    const { a } = await startPair(world, { aPreferred: true });
    const replay = encodeHeartbeat(
      { nodeId: 'node-b', incarnation: 'inc-1', role: Role.Passive, epoch: 1, seq: 10, sentAt: 0, ready: true, sipUp: true, preferred: false, yielding: false },
      SECRET,
    );
    const received0 = a.ctl.status().counters.received;
    const dropped0 = a.ctl.status().counters.dropped;
    world.net.inject({ to: 'node-a', path: 'sip', data: replay });
    world.net.inject({ to: 'node-a', path: 'sip', data: replay });
    expect(a.ctl.status().counters.received).toBe(received0 + 1);
    expect(a.ctl.status().counters.dropped).toBe(dropped0 + 1);
  });
});

describe('HaController: actions', () => {
  it('a failure in becomeActive rolls back to passive with an alarm, then retries', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    b.failActive = 1;
    a.ctl.destroy();
    world.holders.delete('node-a');
    await run(world, DETECT + 50);
    expect(b.ctl.role).toBe(Role.Passive);
    expect(b.alarms).toContain('HA_TAKEOVER_FAILED');
    const seq = world.log.filter((r) => r.node === 'node-b').map((r) => r.act);
    expect(seq).toEqual(['active', 'passive']); // rolled back: partial work undone
    await run(world, 600);
    expect(b.ctl.role).toBe(Role.Active);
    expect(b.ctl.epoch).toBe(3);
    expect(b.ctl.status().alarms.map((x) => x.code)).not.toContain('HA_TAKEOVER_FAILED');
  });

  it('actions never overlap: a fence during a slow takeover waits for it, then releases', async () => {
    const world = makeWorld();
    world.watchHolders = false;
    let inFlight = 0;
    let maxInFlight = 0;
    const a = makeNode(world, { id: 'node-a', peerId: 'node-b', store: new MemoryEpochStore({ epoch: 0 }) });
    const b = makeNode(world, { id: 'node-b', peerId: 'node-a', store: new MemoryEpochStore({ epoch: 4 }) });
    for (const n of [a, b]) {
      n.ctl.on('role', () => {
        inFlight = world.log.length; // touch: listeners run synchronously and must not matter
      });
    }
    world.net.isolate('node-a', PATH_NAMES);
    a.actionMs = 200;
    await Promise.all([a.ctl.start(), b.ctl.start()]);
    await run(world, STARTUP_WAIT + 20); // both start taking over; A slowly
    expect(a.ctl.role).toBe(Role.TakingOver);
    expect(b.ctl.role).toBe(Role.Active);
    world.net.rejoin('node-a', PATH_NAMES);
    await runUntil(world, () => a.ctl.role !== Role.TakingOver, { max: INTERVAL + 5 });
    // A saw epoch 5 > 1 mid-takeover: it reports Fenced at once and never Active.
    expect(a.ctl.role).toBe(Role.Fenced);
    expect(a.roles.map((r) => r.role)).not.toContain(Role.Active);
    const aLog = (): string[] => world.log.filter((r) => r.node === 'node-a').map((r) => `${r.act}@${r.at - 1_000_000}`);
    expect(aLog()).toHaveLength(1);
    await run(world, 600);
    const acts = world.log.filter((r) => r.node === 'node-a');
    expect(acts.map((r) => r.act)).toEqual(['active', 'passive']);
    // becomePassive started only after becomeActive's 200 ms had run.
    expect(acts[1]!.at - acts[0]!.at).toBeGreaterThanOrEqual(200);
    expect(a.ctl.role).toBe(Role.Passive);
    expect(a.ctl.epoch).toBe(5);
    maxInFlight = Math.max(maxInFlight, inFlight);
    expect(maxInFlight).toBeGreaterThan(0);
  });

  it('a fenced node whose release fails stays fenced (never active) with an alarm and retries', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    world.net.isolate('node-a', PATH_NAMES);
    await run(world, DETECT + 50);
    expect(b.ctl.role).toBe(Role.Active);
    a.failPassive = 1;
    world.net.rejoin('node-a', PATH_NAMES);
    await run(world, 200);
    expect(a.ctl.role).toBe(Role.Fenced);
    expect(a.ctl.status().alarms.map((x) => x.code)).toContain('HA_STEP_DOWN_FAILED');
    expect(b.ctl.role).toBe(Role.Active);
    await run(world, 500); // retryMs
    expect(a.ctl.role).toBe(Role.Passive);
    expect(a.ctl.status().alarms.map((x) => x.code)).not.toContain('HA_STEP_DOWN_FAILED');
    expect(world.log.filter((r) => r.node === 'node-a' && r.act === 'passive')).toHaveLength(2);
  });

  it('a listener that throws does not corrupt the controller', async () => {
    const world = makeWorld();
    const a = makeNode(world, { id: 'node-a', peerId: 'node-b' });
    a.ctl.on('role', () => {
      throw new Error('listener bug');
    });
    a.ctl.on('takeoverStarted', () => {
      throw new Error('listener bug');
    });
    await a.ctl.start();
    await run(world, STARTUP_WAIT + 50);
    expect(a.ctl.role).toBe(Role.Active);
    expect(a.roles.map((r) => r.role)).toEqual([Role.TakingOver, Role.Active]);
  });
});

describe('HaController: switchover and close', () => {
  it('requestSwitchover drains, hands over, and resolves once the peer is active; never two actives', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    await expect(b.ctl.requestSwitchover()).rejects.toMatchObject({ code: 'ERR_HA_NOT_ACTIVE' });
    const check = atMostOneClaiming(world, [a, b]);
    const p = a.ctl.requestSwitchover();
    let result: { epoch: number; ms: number } | undefined;
    let error: unknown;
    p.then((r) => (result = r), (e) => (error = e));
    await expect(a.ctl.requestSwitchover()).rejects.toMatchObject({ code: 'ERR_HA_SWITCHOVER_IN_PROGRESS' });
    await runUntil(world, () => result !== undefined || error !== undefined, { max: 3000, check });
    expect(error).toBeUndefined();
    expect(result!.epoch).toBe(2);
    expect(result!.ms).toBeLessThan(300);
    expect(a.ctl.role).toBe(Role.Passive);
    expect(b.ctl.role).toBe(Role.Active);
    expect(world.log.filter((r) => r.node === 'node-a').map((r) => r.act)).toEqual(['active', 'drain', 'passive']);
    await run(world, 2000, { check });
    expect(b.ctl.role).toBe(Role.Active); // no flip back
  });

  it('closing the active hands over without waiting for the misses', async () => {
    const world = makeWorld();
    const { a, b } = await startPair(world, { aPreferred: true });
    const closed = a.ctl.close();
    await run(world, 5, { step: 1 });
    await closed;
    expect(a.ctl.role).toBe(Role.Closed);
    expect(world.log.filter((r) => r.node === 'node-a').map((r) => r.act)).toEqual(['active', 'passive']);
    const t = await runUntil(world, () => b.ctl.role === Role.Active, { max: 1000, check: atMostOneClaiming(world, [a, b]) });
    expect(t).toBeLessThan(INTERVAL);
    expect(b.ctl.epoch).toBe(2);
    await a.ctl.close(); // idempotent
    a.ctl.destroy(); // idempotent after close
    expect(a.ctl.role).toBe(Role.Closed);
  });
});

it('HaError carries a stable code', () => {
  const e = new HaError({ code: 'ERR_HA_NOT_ACTIVE', message: 'x' });
  expect(e.code).toBe('ERR_HA_NOT_ACTIVE');
  expect(e).toBeInstanceOf(Error);
});
