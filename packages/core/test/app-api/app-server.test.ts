import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AppServer, type AppCallSource, type AppCallHandle, type PairSource, type PairView, type PairEventName } from '../../src/app-api/index.js';
import type { CallOffer, RouteHook } from '../../src/app-api/route-hook.js';
import { askWithTimeout } from '../../src/app-api/route-hook.js';
import { TypedEmitter } from '../../src/typed-emitter.js';
import { emptyLeg, type CallRecord } from '../../src/records/call-record.js';
import { systemClock } from '../../src/clock.js';

const TOKEN = 'app-secret-1';

class FakeCalls extends TypedEmitter<{ record: (r: CallRecord) => void; callOffered: (o: CallOffer) => void }> implements AppCallSource {
  records = new Map<string, CallRecord>();
  handles = new Map<string, AppCallHandle>();
  routeHook: RouteHook | undefined;
  hungUp: string[] = [];
  push(r: CallRecord): void {
    this.records.set(r.id, r);
    this.emit('record', r);
  }
  offer(o: CallOffer): void {
    this.emit('callOffered', o);
  }
  calls(): CallRecord[] {
    return [...this.records.values()].filter((r) => !r.ended);
  }
  call(id: string): CallRecord | undefined {
    return this.records.get(id);
  }
  liveCall(id: string): AppCallHandle | undefined {
    return this.handles.get(id);
  }
}

class FakePair extends TypedEmitter<{ event: (n: PairEventName, d: Record<string, unknown>) => void }> implements PairSource {
  active = false;
  view(): PairView {
    return { node: 'b', role: this.active ? 'active' : 'passive', epoch: 3, ready: true, readyReasons: [], active: this.active ? 'b' : 'a', peer: { id: 'a', alive: true, role: 'active' } };
  }
  isActive(): boolean {
    return this.active;
  }
  fire(n: PairEventName, d: Record<string, unknown>): void {
    this.emit('event', n, d);
  }
  close(): void {}
}

function rec(id: string, version: number, state: CallRecord['state'], extra: Partial<CallRecord> = {}): CallRecord {
  return {
    schemaVersion: 1, id, version, epoch: 0, state, createdAt: 1000,
    route: { target: 'sip:callee@198.18.0.2', rule: 'default' },
    a: { ...emptyLeg('uas'), remoteUri: 'sip:alice@x', localUri: 'sip:bob@y', requestUri: 'sip:bob@y' },
    b: emptyLeg('uac'),
    ...extra,
  };
}

class Client {
  readonly ws: WebSocket;
  readonly msgs: any[] = [];
  #waiters: Array<{ pred: (m: any) => boolean; resolve: (m: any) => void }> = [];
  #n = 0;
  closed: Promise<{ code: number; reason: string }>;
  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      this.msgs.push(m);
      for (const w of [...this.#waiters]) if (w.pred(m)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(m);
      }
    });
    this.closed = new Promise((r) => this.ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  }
  open(): Promise<void> {
    return new Promise((r, j) => { this.ws.once('open', () => r()); this.ws.once('error', j); });
  }
  wait(pred: (m: any) => boolean, ms = 3000): Promise<any> {
    const hit = this.msgs.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timeout; got ${JSON.stringify(this.msgs).slice(0, 800)}`)), ms);
      this.#waiters.push({ pred, resolve: (m) => { clearTimeout(t); resolve(m); } });
    });
  }
  sendRaw(s: string): void {
    this.ws.send(s);
  }
  req(type: string, body: Record<string, unknown> = {}): Promise<any> {
    const id = `q${++this.#n}`;
    this.ws.send(JSON.stringify({ type, id, ...body }));
    return this.wait((m) => m.id === id && (m.type === 'result' || m.type === 'error'));
  }
}

let server: AppServer | undefined;
const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await server?.close();
  server = undefined;
});

async function setup(opts: { pair?: PairSource; routeTimeoutMs?: number; maxBacklog?: number } = {}) {
  const calls = new FakeCalls();
  server = new AppServer({ calls, nodeId: 'b', address: '127.0.0.1', port: 0, tokens: { demo: TOKEN }, ...opts });
  const addr = await server.start();
  const url = `ws://127.0.0.1:${addr.port}`;
  const connect = async (hello = true): Promise<Client> => {
    const c = new Client(url);
    clients.push(c);
    await c.open();
    if (hello) {
      const r = await c.req('hello', { token: TOKEN });
      expect(r.type).toBe('result');
    }
    return c;
  };
  return { calls, connect };
}

describe('AppServer: bad input', () => {
  it('a wrong token gets ERR_AUTH and the connection closes with 4401 and a reason', async () => {
    const { connect } = await setup();
    const c = await connect(false);
    const r = await c.req('hello', { token: 'not-the-token' });
    expect(r).toMatchObject({ type: 'error', code: 'ERR_AUTH' });
    expect(await c.closed).toEqual({ code: 4401, reason: 'authentication failed' });
  });

  it('commands before hello get ERR_NOT_AUTHENTICATED and the connection stays usable', async () => {
    const { connect } = await setup();
    const c = await connect(false);
    expect(await c.req('query.pair')).toMatchObject({ type: 'error', code: 'ERR_NOT_AUTHENTICATED' });
    expect(await c.req('hello', { token: TOKEN })).toMatchObject({ type: 'result', data: { node: 'b', app: 'demo' } });
  });

  it('malformed JSON, unknown types, bad fields and unknown calls get coded errors; the connection stays usable', async () => {
    const { connect } = await setup();
    const c = await connect();
    c.sendRaw('{not json');
    expect(await c.wait((m) => m.type === 'error' && m.code === 'ERR_BAD_JSON')).toMatchObject({ id: null });
    expect(await c.req('frobnicate')).toMatchObject({ type: 'error', code: 'ERR_UNKNOWN_TYPE' });
    c.sendRaw('[1,2]');
    await c.wait((m) => m.type === 'error' && m.code === 'ERR_BAD_MESSAGE' && m.id === null);
    expect(await c.req('call.hangup', {})).toMatchObject({ type: 'error', code: 'ERR_BAD_MESSAGE' });
    expect(await c.req('call.hangup', { call: 'nope' })).toMatchObject({ type: 'error', code: 'ERR_UNKNOWN_CALL' });
    expect(await c.req('call.info', { call: 'x', leg: 'c' })).toMatchObject({ type: 'error', code: 'ERR_BAD_MESSAGE' });
    expect(await c.req('call.refer', { call: 'x', referTo: 'http://evil' })).toMatchObject({ type: 'error', code: 'ERR_BAD_MESSAGE' });
    expect(await c.req('route.decision', { request: 'r99', action: 'route', target: 'sip:x@y', headers: { 'Call-ID': 'mine' } })).toMatchObject({ type: 'error', code: 'ERR_BAD_MESSAGE' });
    expect(await c.req('route.decision', { request: 'r99', action: 'reject', status: 200 })).toMatchObject({ type: 'error', code: 'ERR_BAD_MESSAGE' });
    expect(await c.req('route.decision', { request: 'r99', action: 'static' })).toMatchObject({ type: 'error', code: 'ERR_UNKNOWN_REQUEST' });
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await c.wait((m) => m.type === 'error' && m.message.includes('text frames'));
    expect(await c.req('ping')).toMatchObject({ type: 'result', data: { node: 'b' } });
  });

  it('requests pipelined right behind hello (same tick) are served, in order', async () => {
    const { connect } = await setup();
    const c = await connect(false);
    c.sendRaw(JSON.stringify({ type: 'hello', id: 1, token: TOKEN }) );
    c.sendRaw(JSON.stringify({ type: 'query.pair', id: 2 }));
    expect(await c.wait((m) => m.id === 2)).toMatchObject({ type: 'result', data: { role: 'standalone', active: 'b' } });
  });

  it('a client that sends no hello is closed after the auth timeout', async () => {
    const calls = new FakeCalls();
    server = new AppServer({ calls, nodeId: 'b', address: '127.0.0.1', port: 0, tokens: { demo: TOKEN }, authTimeoutMs: 100 });
    const { port } = await server.start();
    const c = new Client(`ws://127.0.0.1:${port}`);
    clients.push(c);
    expect((await c.closed).code).toBe(4401);
  });

  it('rejects bad options with ERR_BAD_OPTIONS', () => {
    expect(() => new AppServer({ calls: new FakeCalls(), nodeId: 'b', address: '127.0.0.1', port: 0, tokens: { demo: 'short' } })).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_OPTIONS' }),
    );
  });
});

describe('AppServer: call events', () => {
  it('offered, ringing, answered, modified and ended carry the call id and the record version as seq', async () => {
    const { calls, connect } = await setup();
    const c = await connect();
    await c.req('subscribe', { calls: true });
    calls.offer({ call: 'c1', requestUri: 'sip:bob@y', user: 'bob', from: '', to: '', sipCallId: 'x', headers: { 'X-Tenant': 't1' } });
    calls.push(rec('c1', 1, 'routing'));
    calls.push(rec('c1', 2, 'calling'));
    calls.push(rec('c1', 3, 'ringing'));
    calls.push(rec('c1', 4, 'ringing')); // a record change that is no event
    calls.push(rec('c1', 5, 'answered', { answeredAt: 2000 }));
    calls.push(rec('c1', 6, 'answered', { answeredAt: 2000, a: { ...emptyLeg('uas'), remoteSdp: 'v=0 new' } }));
    calls.push(rec('c1', 7, 'ending', { answeredAt: 2000 }));
    calls.push(rec('c1', 8, 'ended', { answeredAt: 2000, endedAt: 5000, ended: true, endReason: 'caller-bye' }));
    const ended = await c.wait((m) => m.event === 'call.ended');
    const evs = c.msgs.filter((m) => m.type === 'event').map((m) => [m.event, m.call, m.seq]);
    expect(evs).toEqual([
      ['call.offered', 'c1', 1],
      ['call.ringing', 'c1', 3],
      ['call.answered', 'c1', 5],
      ['call.modified', 'c1', 6],
      ['call.ended', 'c1', 8],
    ]);
    expect(c.msgs.find((m) => m.event === 'call.offered').data.headers).toEqual({ 'X-Tenant': 't1' });
    expect(ended.data).toMatchObject({ endReason: 'caller-bye', durationMs: 3000, state: 'ended' });
  });

  it('subscribe replays live calls (replay: true) so a client that reconnects learns their state', async () => {
    const { calls, connect } = await setup();
    calls.push(rec('c2', 5, 'answered', { answeredAt: 1 }));
    const c = await connect();
    await c.req('subscribe', {});
    expect(await c.wait((m) => m.type === 'event')).toMatchObject({ event: 'call.answered', call: 'c2', seq: 5, replay: true });
  });

  it('a client that does not read its events is disconnected after a bounded backlog (4008)', async () => {
    const { calls, connect } = await setup({ maxBacklog: 64 * 1024 });
    const slow = await connect();
    const fast = await connect();
    await slow.req('subscribe', { calls: true });
    await fast.req('subscribe', { calls: true });
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = 'x'.repeat(4000);
    let i = 0;
    const deadline = Date.now() + 10_000;
    while (server!.sessions === 2 && Date.now() < deadline) {
      for (let k = 0; k < 200; k++, i++) calls.push(rec(`f${i}`, 1, 'routing', { route: { target: big, rule: 'x' } }));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(server!.sessions).toBe(1);
    // The reading client keeps its connection and its events.
    expect(await fast.req('ping')).toMatchObject({ type: 'result' });
    await fast.wait((m) => m.call === `f${i - 1}`);
  });
});

describe('AppServer: routing', () => {
  it('a registered router is asked; its route decision (with headers) reaches the core', async () => {
    const { calls, connect } = await setup();
    const c = await connect();
    expect(calls.routeHook).toBeUndefined();
    await c.req('router.register');
    expect(calls.routeHook).toBeDefined();
    const offer: CallOffer = { call: 'c9', requestUri: 'sip:100@y', user: '100', from: '<sip:a@x>', to: '<sip:100@y>', sipCallId: 'cid', headers: {} };
    const answer = askWithTimeout(calls.routeHook!, offer, systemClock);
    const q = await c.wait((m) => m.type === 'route.request');
    expect(q.offer).toEqual(offer);
    expect(await c.req('route.decision', { request: q.request, action: 'route', target: 'sip:200@198.18.0.9', headers: { 'X-Routed': 'yes' } })).toMatchObject({ type: 'result' });
    expect(await answer).toEqual({ action: 'route', target: 'sip:200@198.18.0.9', headers: { 'X-Routed': 'yes' } });
    // A second answer to the same question is refused, not applied twice.
    expect(await c.req('route.decision', { request: q.request, action: 'static' })).toMatchObject({ code: 'ERR_UNKNOWN_REQUEST' });
  });

  it('a router that does not answer within routeTimeoutMs means static routing (undefined) after the timeout, not later', async () => {
    const { calls, connect } = await setup({ routeTimeoutMs: 150 });
    const c = await connect();
    await c.req('router.register');
    const t0 = Date.now();
    const answer = await askWithTimeout(calls.routeHook!, { call: 'c1', requestUri: '', user: '', from: '', to: '', sipCallId: '', headers: {} }, systemClock);
    const ms = Date.now() - t0;
    expect(answer).toBeUndefined();
    expect(ms).toBeGreaterThanOrEqual(140);
    expect(ms).toBeLessThan(1000);
  });

  it('a router that disconnects while asked releases the question at once, and the hook goes away', async () => {
    const { calls, connect } = await setup({ routeTimeoutMs: 5000 });
    const c = await connect();
    await c.req('router.register');
    const answer = askWithTimeout(calls.routeHook!, { call: 'c1', requestUri: '', user: '', from: '', to: '', sipCallId: '', headers: {} }, systemClock);
    await c.wait((m) => m.type === 'route.request');
    const t0 = Date.now();
    c.ws.close();
    expect(await answer).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(calls.routeHook).toBeUndefined();
  });

  it('reject decisions carry the status', async () => {
    const { calls, connect } = await setup();
    const c = await connect();
    await c.req('router.register');
    const answer = askWithTimeout(calls.routeHook!, { call: 'c1', requestUri: '', user: '', from: '', to: '', sipCallId: '', headers: {} }, systemClock);
    const q = await c.wait((m) => m.type === 'route.request');
    c.sendRaw(JSON.stringify({ type: 'route.decision', request: q.request, action: 'reject', status: 486, reason: 'Busy Here' }));
    expect(await answer).toEqual({ action: 'reject', status: 486, reason: 'Busy Here' });
  });
});

describe('AppServer: commands and the pair', () => {
  it('hang-up reaches the live call; a repeated hang-up of the ended call succeeds (idempotent)', async () => {
    const { calls, connect } = await setup();
    const c = await connect();
    calls.push(rec('h1', 5, 'answered'));
    calls.handles.set('h1', {
      hangup: async ({ reason }) => {
        calls.hungUp.push(reason);
        calls.push(rec('h1', 7, 'ended', { ended: true, endReason: reason }));
      },
      sendRequest: async () => ({ status: 200, reason: 'OK' }),
    });
    expect(await c.req('call.hangup', { call: 'h1' })).toMatchObject({ type: 'result', data: { state: 'ended', endReason: 'app-hangup' } });
    expect(await c.req('call.hangup', { call: 'h1' })).toMatchObject({ type: 'result', data: { state: 'ended' } });
    expect(calls.hungUp).toEqual(['app-hangup']);
  });

  it('hang-up, INFO and REFER reach a call adopted at takeover (no live B2BCall here); re-route is refused', async () => {
    const { calls, connect } = await setup();
    const c = await connect();
    calls.push(rec('ad1', 9, 'answered'));
    const reasons: string[] = [];
    const sent: unknown[] = [];
    (calls as unknown as AppCallSource).adoptedCall = (id) =>
      id === 'ad1'
        ? { hangup: async ({ reason }) => void reasons.push(reason), sendRequest: async (side, o) => (sent.push([side, o.method]), { status: 200, reason: 'OK' }) }
        : undefined;
    expect(await c.req('call.info', { call: 'ad1', leg: 'b', contentType: 'application/dtmf-relay', body: 'Signal=1' })).toMatchObject({ type: 'result', data: { status: 200 } });
    expect(await c.req('call.refer', { call: 'ad1', referTo: 'sip:carol@198.18.0.7' })).toMatchObject({ type: 'result', data: { status: 200 } });
    expect(sent).toEqual([['b', 'INFO'], ['a', 'REFER']]);
    expect(await c.req('call.reroute', { call: 'ad1', target: 'sip:carol@198.18.0.7' })).toMatchObject({ type: 'error', code: 'ERR_CALL_STATE' });
    expect(await c.req('call.hangup', { call: 'ad1', reason: 'operator' })).toMatchObject({ type: 'result' });
    expect(reasons).toEqual(['operator']);
  });

  it('INFO and REFER go to the chosen leg; a SIP failure is ERR_SIP with the status', async () => {
    const { calls, connect } = await setup();
    const c = await connect();
    const sent: any[] = [];
    calls.push(rec('i1', 5, 'answered'));
    calls.handles.set('i1', { hangup: async () => {}, sendRequest: async (side, o) => (sent.push([side, o]), o.method === 'REFER' ? { status: 603, reason: 'Declined' } : { status: 200, reason: 'OK' }) });
    expect(await c.req('call.info', { call: 'i1', leg: 'b', contentType: 'application/dtmf-relay', body: 'Signal=5', headers: { 'X-A': '1' } })).toMatchObject({ type: 'result', data: { status: 200 } });
    expect(await c.req('call.refer', { call: 'i1', referTo: 'sip:carol@198.18.0.7' })).toMatchObject({ type: 'error', code: 'ERR_SIP', status: 603 });
    expect(sent).toEqual([
      ['b', { method: 'INFO', headers: { 'X-A': '1', 'Content-Type': 'application/dtmf-relay' }, body: 'Signal=5' }],
      ['a', { method: 'REFER', headers: { 'Refer-To': '<sip:carol@198.18.0.7>' } }],
    ]);
    calls.push(rec('i2', 2, 'ringing'));
    calls.handles.set('i2', calls.handles.get('i1')!);
    expect(await c.req('call.info', { call: 'i2', contentType: 't/p', body: 'x' })).toMatchObject({ type: 'error', code: 'ERR_CALL_STATE' });
  });

  it('the passive answers queries, says it is passive and which node is active, refuses call commands with ERR_NOT_ACTIVE naming the active, and delivers pair events', async () => {
    const pair = new FakePair();
    const { calls, connect } = await setup({ pair });
    const c = await connect();
    const hello = c.msgs.find((m) => m.type === 'result');
    expect(hello.data.view).toMatchObject({ node: 'b', role: 'passive', active: 'a' });
    expect(await c.req('query.pair')).toMatchObject({ type: 'result', data: { role: 'passive', active: 'a', epoch: 3 } });
    calls.push(rec('p1', 3, 'answered'));
    expect(await c.req('call.hangup', { call: 'p1' })).toMatchObject({ type: 'error', code: 'ERR_NOT_ACTIVE', active: 'a' });
    await c.req('subscribe', { pair: true });
    pair.fire('pair.takeoverStarted', { reason: 'peer dead', epoch: 4 });
    pair.fire('pair.role', { role: 'active', epoch: 4 });
    const evs = await c.wait((m) => m.event === 'pair.role');
    expect(evs).toMatchObject({ node: 'b', seq: 2, data: { role: 'active' } });
    expect(c.msgs.find((m) => m.event === 'pair.takeoverStarted')).toMatchObject({ seq: 1, data: { epoch: 4 } });
    // Not subscribed to calls: no call events.
    expect(c.msgs.some((m) => m.event?.startsWith('call.'))).toBe(false);
  });

  it('close() says goodbye (1001) and is idempotent; destroy() after close is a no-op', async () => {
    const { connect } = await setup();
    const c = await connect();
    const p1 = server!.close();
    const p2 = server!.close();
    expect(p1).toBe(p2);
    await p1;
    expect((await c.closed).code).toBe(1001);
    server!.destroy();
  });
});
