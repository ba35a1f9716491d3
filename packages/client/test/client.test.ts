import { afterEach, describe, expect, it } from 'vitest';
import { AppServer, type AppCallSource, type AppCallHandle, type PairSource, type PairView, type PairEventName, type CallOffer, type RouteHook } from '../../core/src/app-api/index.js';
import { askWithTimeout } from '../../core/src/app-api/route-hook.js';
import { TypedEmitter } from '../../core/src/typed-emitter.js';
import { emptyLeg, type CallRecord } from '../../core/src/records/call-record.js';
import { systemClock } from '../../core/src/clock.js';
import { ClientError, ConnectionState, ConnectionStateMachine, DualsipClient, type CallEvent, type PairEvent } from '../src/index.js';

const TOKEN = 'client-test-token';

class FakeCalls extends TypedEmitter<{ record: (r: CallRecord) => void; callOffered: (o: CallOffer) => void }> implements AppCallSource {
  records = new Map<string, CallRecord>();
  routeHook: RouteHook | undefined;
  hangups: string[] = [];
  push(r: CallRecord): void {
    this.records.set(r.id, r);
    this.emit('record', r);
  }
  calls(): CallRecord[] {
    return [...this.records.values()].filter((r) => !r.ended);
  }
  call(id: string): CallRecord | undefined {
    return this.records.get(id);
  }
  liveCall(id: string): AppCallHandle | undefined {
    const r = this.records.get(id);
    if (!r || r.ended) return undefined;
    return {
      hangup: async ({ reason }) => {
        this.hangups.push(id);
        this.push(rec(id, r.version + 2, 'ended', { ended: true, endReason: reason }));
      },
      sendRequest: async () => ({ status: 200, reason: 'OK' }),
    };
  }
}

class FakePair extends TypedEmitter<{ event: (n: PairEventName, d: Record<string, unknown>) => void }> implements PairSource {
  constructor(readonly node: string, readonly peer: string, public role: string) {
    super();
  }
  view(): PairView {
    const active = this.role === 'active' ? this.node : this.peer;
    return { node: this.node, role: this.role, epoch: 1, ready: true, readyReasons: [], active, peer: { id: this.peer, alive: true, role: null } };
  }
  isActive(): boolean {
    return this.role === 'active';
  }
  set(role: string): void {
    this.role = role;
    this.emit('event', 'pair.role', { role, active: this.view().active });
  }
  fire(n: PairEventName, d: Record<string, unknown>): void {
    this.emit('event', n, d);
  }
  close(): void {}
}

function rec(id: string, version: number, state: CallRecord['state'], extra: Partial<CallRecord> = {}): CallRecord {
  return {
    schemaVersion: 1, id, version, epoch: 0, state, createdAt: 1000,
    route: { target: 'sip:x@198.18.0.2', rule: 'default' },
    a: { ...emptyLeg('uas'), remoteUri: 'sip:alice@x', localUri: 'sip:bob@y', requestUri: 'sip:bob@y' },
    b: emptyLeg('uac'),
    ...extra,
  };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function node(id: string, peer: string, role: string) {
  const calls = new FakeCalls();
  const pair = new FakePair(id, peer, role);
  const server = new AppServer({ calls, pair, nodeId: id, address: '127.0.0.1', port: 0, tokens: { demo: TOKEN }, routeTimeoutMs: 2000 });
  const { port } = await server.start();
  cleanups.push(() => server.close());
  return { calls, pair, server, url: `ws://127.0.0.1:${port}` };
}

function client(urls: string[], extra: Partial<ConstructorParameters<typeof DualsipClient>[0]> = {}) {
  const c = new DualsipClient({ nodes: urls, token: TOKEN, requestTimeoutMs: 1000, retryForMs: 5000, reconnectMinMs: 50, reconnectMaxMs: 200, ...extra });
  cleanups.push(() => c.close());
  const events: CallEvent[] = [];
  const pairEvents: PairEvent[] = [];
  for (const e of ['callOffered', 'callRinging', 'callAnswered', 'callModified', 'callEnded'] as const) c.on(e, (ev) => events.push(ev));
  c.on('pair', (ev) => pairEvents.push(ev));
  return { c, events, pairEvents };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('DualsipClient', () => {
  it('connects to both nodes, sends commands to the active and follows it after a takeover (hang-up retried on the new active)', async () => {
    const a = await node('a', 'b', 'active');
    const b = await node('b', 'a', 'passive');
    const { c, pairEvents } = client([a.url, b.url]);
    await c.start();
    await until(() => c.active === 'a');
    a.calls.push(rec('k1', 3, 'answered'));
    b.calls.push(rec('k2', 3, 'answered')); // b adopted k2 at takeover, below
    await c.hangup('k1');
    expect(a.calls.hangups).toEqual(['k1']);
    // Takeover: a dies, b becomes active.
    a.server.destroy();
    b.pair.fire('pair.takeoverStarted', { epoch: 2 });
    b.pair.set('active');
    await until(() => c.active === 'b');
    await c.hangup('k2');
    expect(b.calls.hangups).toEqual(['k2']);
    await until(() => pairEvents.some((e) => e.event === 'pair.role' && e.node === 'b'));
    expect(pairEvents.map((e) => [e.node, e.event, e.seq])).toEqual([
      ['b', 'pair.takeoverStarted', 1],
      ['b', 'pair.role', 2],
    ]);
  });

  it('a command sent to a node that turns out passive (ERR_NOT_ACTIVE) is retried on the active', async () => {
    const a = await node('a', 'b', 'active');
    const b = await node('b', 'a', 'passive');
    const { c } = client([a.url, b.url]);
    await c.start();
    await until(() => c.active === 'a' && c.connections().every((x) => x.state === ConnectionState.Ready));
    b.calls.push(rec('k3', 3, 'answered'));
    // The pair switched, but the client has not heard yet: a refuses, b takes it.
    a.pair.role = 'passive';
    b.pair.role = 'active';
    await c.hangup('k3');
    expect(b.calls.hangups).toEqual(['k3']);
    expect(c.active).toBe('b');
  });

  it('delivers each call event once: duplicates from both nodes and replays after a reconnect are dropped, seq continues across nodes', async () => {
    const a = await node('a', 'b', 'active');
    const b = await node('b', 'a', 'passive');
    const { c, events } = client([a.url, b.url]);
    await c.start();
    await until(() => c.connections().every((x) => x.state === ConnectionState.Ready));
    a.calls.push(rec('d1', 1, 'routing'));
    a.calls.push(rec('d1', 3, 'ringing'));
    a.calls.push(rec('d1', 5, 'answered'));
    await until(() => events.length === 3);
    // The same record change seen from b (e.g. just after a takeover): dropped.
    b.calls.push(rec('d1', 1, 'routing'));
    b.calls.push(rec('d1', 5, 'answered'));
    // Reconnect to a: the subscribe snapshot replays d1 as answered (seq 5): dropped.
    await a.server.close(); // closes every application connection (1001); a new server on another port would be another node
    // b continues the call's sequence (record versions are mirrored): modified and ended are new.
    b.calls.push(rec('d1', 6, 'answered', { a: { ...emptyLeg('uas'), remoteSdp: 'v=0 b' } }));
    b.calls.push(rec('d1', 8, 'ended', { ended: true, endReason: 'caller-bye' }));
    b.calls.push(rec('d1', 8, 'ended', { ended: true, endReason: 'caller-bye' }));
    await until(() => events.some((e) => e.event === 'call.ended'));
    await new Promise((r) => setTimeout(r, 100));
    expect(events.map((e) => [e.event, e.seq, e.node])).toEqual([
      ['call.offered', 1, 'a'],
      ['call.ringing', 3, 'a'],
      ['call.answered', 5, 'a'],
      ['call.modified', 6, 'b'],
      ['call.ended', 8, 'b'],
    ]);
  });

  it('re-subscribes after a reconnect: the replay delivers what was missed while disconnected, once', async () => {
    const a = await node('a', 'b', 'active');
    const { c, events } = client([a.url]);
    await c.start();
    a.calls.push(rec('r1', 1, 'routing'));
    await until(() => events.length === 1);
    const states: string[] = [];
    c.on('connection', (i) => states.push(i.state));
    c.dropConnections();
    // While the client is away the call is answered; the client hears it from the snapshot after re-subscribing.
    await until(() => states.includes('backoff'));
    a.calls.push(rec('r1', 4, 'answered'));
    await until(() => states.includes('ready'));
    await until(() => events.length === 2);
    expect(events[1]).toMatchObject({ event: 'call.answered', seq: 4, replay: true });
    c.dropConnections();
    await until(() => states.filter((s) => s === 'ready').length === 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(events).toHaveLength(2);
  });

  it('routes new calls with the router callback; a throwing router means static routing', async () => {
    const a = await node('a', 'b', 'active');
    let n = 0;
    const { c } = client([a.url], {
      router: (offer) => {
        if (n++ === 1) throw new Error('oops');
        return { action: 'route', target: `sip:${offer.user}@198.18.0.50`, headers: { 'X-App': 'demo' } };
      },
    });
    await c.start();
    await until(() => a.calls.routeHook !== undefined);
    const offer = { call: 'x', requestUri: 'sip:42@y', user: '42', from: '', to: '', sipCallId: '', headers: {} };
    expect(await askWithTimeout(a.calls.routeHook!, offer, systemClock)).toEqual({ action: 'route', target: 'sip:42@198.18.0.50', headers: { 'X-App': 'demo' } });
    expect(await askWithTimeout(a.calls.routeHook!, offer, systemClock)).toBeUndefined();
  });

  it('after a takeover, a call the new active does not know is ended once (synthesized), so no call stays open', async () => {
    const a = await node('a', 'b', 'active');
    const b = await node('b', 'a', 'passive');
    const { c, events } = client([a.url, b.url]);
    await c.start();
    await until(() => c.active === 'a' && c.connections().every((x) => x.state === ConnectionState.Ready));
    a.calls.push(rec('lost', 1, 'routing'));
    a.calls.push(rec('lost', 4, 'answered'));
    a.calls.push(rec('kept', 1, 'routing'));
    a.calls.push(rec('kept', 4, 'answered'));
    await until(() => events.length === 4);
    b.calls.push(rec('kept', 5, 'answered')); // adopted (mirrored) on b
    a.server.destroy();
    b.pair.set('active');
    b.pair.fire('pair.takeoverFinished', { epoch: 2 });
    await until(() => events.some((e) => e.event === 'call.ended'));
    await new Promise((r) => setTimeout(r, 200));
    const ended = events.filter((e) => e.event === 'call.ended');
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ call: 'lost', synthesized: true, data: { endReason: 'unknown-after-takeover' } });
  });

  it('a refused token is a permanent ERR_AUTH error; start() rejects instead of hanging', async () => {
    const a = await node('a', 'b', 'active');
    const c = new DualsipClient({ nodes: [a.url], token: 'wrong-token-xx', requestTimeoutMs: 30_000 });
    cleanups.push(() => c.close());
    const errors: ClientError[] = [];
    c.on('error', (e) => errors.push(e));
    const t0 = Date.now();
    await expect(c.start()).rejects.toMatchObject({ code: 'ERR_AUTH' });
    // Rejected on the node's answer, not by the 30 s request timeout.
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(errors[0]).toMatchObject({ code: 'ERR_AUTH' });
    expect(c.connections()[0]!.state).toBe(ConnectionState.Closed);
  });

  it('bad options are ERR_BAD_OPTIONS; close() is idempotent; commands after close are ERR_CLOSED', async () => {
    expect(() => new DualsipClient({ nodes: ['http://x'], token: 't' })).toThrow(expect.objectContaining({ code: 'ERR_BAD_OPTIONS' }));
    const c = new DualsipClient({ nodes: ['ws://127.0.0.1:9'], token: 't' });
    await c.close();
    await c.close();
    await expect(c.hangup('x')).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });
});

describe('connection state machine', () => {
  it('rejects illegal moves (ready straight back to connecting) and allows the reconnect cycle', () => {
    const sm = new ConnectionStateMachine();
    sm.transition(ConnectionState.Connecting);
    sm.transition(ConnectionState.Authenticating);
    sm.transition(ConnectionState.Ready);
    expect(() => sm.transition(ConnectionState.Connecting)).toThrow(expect.objectContaining({ code: 'ERR_ILLEGAL_TRANSITION' }));
    sm.transition(ConnectionState.Backoff);
    sm.transition(ConnectionState.Connecting);
    sm.transition(ConnectionState.Closed);
    expect(() => sm.transition(ConnectionState.Connecting)).toThrow();
  });
});

