// Issue 7, end to end on one node: a telephony application connects to a real
// `dualsip node` through the client library (packages/client) and
//  - routes calls placed by SIPp (route-to-URI with headers, reject-with-code),
//  - sees every call event (offered, ringing, answered, ended) with increasing seq,
//  - sends INFO and hangs calls up (both legs end: the SIPp caller and callee each get a BYE),
//  - cannot stall call processing: a router that never answers means static routing after app.routeTimeoutMs,
//  - gets coded errors for bad input on the live node, which keeps working.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DualsipClient, type CallEvent } from '@dualsip/client';
import { Sipp, cleanupAll, explain, randomLoopbackAddress, startNode, type SippRun, type StartedNode } from '../harness/index.js';

const TOKEN = 'e2e-app-token-1';
const ROUTE_TIMEOUT_MS = 400;
const HANGUP_SCENARIO = fileURLToPath(new URL('./app-scenarios/uac-app-hangup.xml', import.meta.url));
const REROUTE_SCENARIO = fileURLToPath(new URL('./app-scenarios/uac-reroute.xml', import.meta.url));

const ip = randomLoopbackAddress();
let node: StartedNode;
let appUrl: string;
let client: DualsipClient;
const callees: Record<'static' | 'routed' | 'hangup' | 'first' | 'second', SippRun> = {} as never;
const rerouted: Array<{ call: string; ok: boolean; err?: string }> = [];
const events: CallEvent[] = [];
const stuckRouterCalls: string[] = [];

function eventsOf(call: string): CallEvent[] {
  return events.filter((e) => e.call === call);
}

function callsWith(pred: (e: CallEvent) => boolean): string[] {
  return [...new Set(events.filter(pred).map((e) => e.call))];
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  for (const k of ['static', 'routed', 'hangup', 'first', 'second'] as const) {
    callees[k] = await Sipp.start({ scenario: 'uas-basic', localIp: ip, recvTimeoutMs: 10_000, name: `callee ${k}` });
  }
  node = await startNode({
    sipAddress: ip,
    routeDefault: `sip:${callees.static.address}`,
    transports: ['udp'],
    extraArgs: ['--app-token', `demo=${TOKEN}`, '--app-port', '0', '--app-route-timeout', String(ROUTE_TIMEOUT_MS)],
    readyTimeoutMs: 60_000,
  });
  expect(typeof node.ready['app']).toBe('string');
  appUrl = `ws://${String(node.ready['app'])}`;
  client = new DualsipClient({
    nodes: [appUrl],
    token: TOKEN,
    name: 'demo',
    router: (offer) => {
      if (offer.user.startsWith('7')) return { action: 'route', target: `sip:${offer.user}@${callees.routed.address}`, headers: { 'X-Routed-By': 'demo' } };
      if (offer.user === '486') return { action: 'reject', status: 486, reason: 'Busy Here' };
      if (offer.user.startsWith('8')) {
        // A stuck application: never answers in time.
        stuckRouterCalls.push(offer.call);
        return new Promise((r) => setTimeout(() => r({ action: 'route', target: `sip:${callees.routed.address}` }), 5000));
      }
      if (offer.user.startsWith('6')) return { action: 'route', target: `sip:${offer.user}@${callees.first.address}` };
      if (offer.user.startsWith('9')) return { action: 'route', target: `sip:${offer.user}@${callees.hangup.address}` };
      return undefined;
    },
  });
  for (const e of ['callOffered', 'callRinging', 'callAnswered', 'callModified', 'callEnded'] as const) client.on(e, (ev) => events.push(ev));
  // The application's own logic: calls from tenant acme get an INFO, then are hung up.
  client.on('callAnswered', (ev) => {
    if (!ev.data.headers?.['X-Tenant']?.startsWith('acme')) return;
    void (async () => {
      await client.sendInfo(ev.call, { leg: 'a', contentType: 'application/dtmf-relay', body: 'Signal=1\r\nDuration=100\r\n' });
      await client.hangup(ev.call, { reason: 'app-hangup' });
    })().catch((err) => events.push({ event: 'call.modified', node: 'error', call: ev.call, seq: -1, data: { state: String(err) } as never }));
  });
  // Calls to 6…: once answered, transfer them to the second callee by re-routing the B leg, then hang up.
  client.on('callAnswered', (ev) => {
    if (!ev.data.requestUri.includes('@') || !/sip:6\d*@/.test(ev.data.requestUri)) return;
    void (async () => {
      try {
        await client.reroute(ev.call, { target: `sip:${callees.second.address}`, headers: { 'X-Transferred': 'yes' } });
        rerouted.push({ call: ev.call, ok: true });
        await new Promise((r) => setTimeout(r, 200));
        await client.hangup(ev.call, { reason: 'app-hangup' });
      } catch (err) {
        rerouted.push({ call: ev.call, ok: false, err: String(err) });
      }
    })();
  });
  await client.start();
}, 90_000);

afterAll(async () => {
  await client?.close();
  await cleanupAll();
});

describe('application API on a standalone node (SIPp through a real node)', () => {
  it('the application routes calls placed by SIPp and sees offered, ringing, answered and ended for every call, in seq order', async () => {
    const r = await Sipp.run({ scenario: 'uac-basic', localIp: ip, remote: node.sipTarget, service: '7001', calls: 20, rate: 10, holdMs: 200, timeoutSec: 30, recvTimeoutMs: 5000 });
    expect(r.failed, explain(r)).toBe(0);
    expect(r.successful, explain(r)).toBe(20);
    await until(() => callsWith((e) => e.event === 'call.ended' && e.data.requestUri.includes('7001')).length === 20, 5000, '20 ended events');
    const routedCalls = callsWith((e) => e.event === 'call.offered' && e.data.requestUri.includes('7001'));
    expect(routedCalls).toHaveLength(20);
    for (const call of routedCalls) {
      const evs = eventsOf(call);
      expect(evs.map((e) => e.event), call).toEqual(['call.offered', 'call.ringing', 'call.answered', 'call.ended']);
      const seqs = evs.map((e) => e.seq);
      expect([...seqs].sort((x, y) => x - y), 'seq increases').toEqual(seqs);
      expect(new Set(seqs).size).toBe(seqs.length);
      const ended = evs[3]!.data;
      expect(ended).toMatchObject({ rule: 'app', endReason: 'caller-bye', state: 'ended' });
      expect(ended.target).toContain(callees.routed.address);
      expect(ended.durationMs).toBeGreaterThanOrEqual(150);
    }
    // The routed callee took them all; the static default none.
    const routed = await callees.routed.stop();
    expect(routed.successful, explain(routed)).toBe(20);
  }, 60_000);

  it('reject-with-code: the caller gets the application\'s 486; the call ends with that status', async () => {
    const r = await Sipp.run({ scenario: 'uac-486', localIp: ip, remote: node.sipTarget, service: '486', calls: 5, rate: 5, timeoutSec: 20, recvTimeoutMs: 5000 });
    expect(r.successful, explain(r)).toBe(5);
    await until(() => callsWith((e) => e.event === 'call.ended' && e.data.endReason === 'app-rejected').length === 5, 5000, 'rejected calls');
    for (const call of callsWith((e) => e.data.endReason === 'app-rejected')) {
      expect(eventsOf(call).at(-1)!.data).toMatchObject({ endStatus: 486, state: 'failed' });
    }
  }, 30_000);

  it('INFO and hang-up from the application: both legs end (caller and callee each receive the BYE), custom headers are readable', async () => {
    const r = await Sipp.run({ scenario: HANGUP_SCENARIO, localIp: ip, remote: node.sipTarget, service: '9001', calls: 5, rate: 5, timeoutSec: 40, recvTimeoutMs: 25_000 });
    expect(r.failed, explain(r)).toBe(0);
    expect(r.successful, explain(r)).toBe(5);
    const callee = await callees.hangup.stop();
    // The callee's scenario ends with the BYE: every call completed means every B leg got one.
    expect(callee.successful, explain(callee)).toBe(5);
    expect(callee.failed, explain(callee)).toBe(0);
    await until(() => callsWith((e) => e.event === 'call.ended' && e.data.endReason === 'app-hangup').length === 5, 5000, 'hung-up calls');
    const offered = events.filter((e) => e.event === 'call.offered' && e.data.requestUri.includes('9001'));
    expect(offered).toHaveLength(5);
    for (const e of offered) expect(e.data.headers?.['X-Tenant']).toMatch(/^acme-\d+$/);
    expect(events.filter((e) => e.node === 'error')).toEqual([]);
  }, 60_000);

  it('transfer by re-routing the B leg: the first callee is released, the second takes over, the caller is re-INVITEd; the hang-up ends both legs', async () => {
    const r = await Sipp.run({ scenario: REROUTE_SCENARIO, localIp: ip, remote: node.sipTarget, service: '6001', calls: 3, rate: 3, timeoutSec: 40, recvTimeoutMs: 25_000 });
    expect(r.failed, explain(r)).toBe(0);
    expect(r.successful, explain(r)).toBe(3);
    expect(rerouted).toEqual(expect.arrayContaining([expect.objectContaining({ ok: true })]));
    expect(rerouted.filter((x) => x.ok)).toHaveLength(3);
    // Both callees' scenarios end with a BYE: the first got ours at the transfer, the second at the hang-up.
    const first = await callees.first.stop();
    const second = await callees.second.stop();
    expect(first.successful, explain(first)).toBe(3);
    expect(second.successful, explain(second)).toBe(3);
    for (const { call } of rerouted) {
      const ended = eventsOf(call).at(-1)!;
      expect(ended).toMatchObject({ event: 'call.ended', data: { rule: 'app-reroute', endReason: 'app-hangup' } });
      expect(ended.data.target).toContain(callees.second.address);
    }
  }, 60_000);

  it('a router that does not answer cannot stall calls: static routing applies after app.routeTimeoutMs', async () => {
    const r = await Sipp.run({ scenario: 'uac-basic', localIp: ip, remote: node.sipTarget, service: '8001', calls: 5, rate: 5, timeoutSec: 20, recvTimeoutMs: 5000, traceRtt: true });
    expect(r.successful, explain(r)).toBe(5);
    expect(stuckRouterCalls).toHaveLength(5);
    await until(() => stuckRouterCalls.every((c) => eventsOf(c).some((e) => e.event === 'call.ended')), 5000, 'stuck-router calls ended');
    for (const call of stuckRouterCalls) {
      const ended = eventsOf(call).at(-1)!.data;
      expect(ended.rule).toBe('default');
      expect(ended.target).toContain(callees.static.address);
      // Answer time: the routing wait is bounded by the timeout, far below the application's 5 s.
      expect(ended.answeredAt! - ended.createdAt).toBeGreaterThanOrEqual(ROUTE_TIMEOUT_MS - 50);
      expect(ended.answeredAt! - ended.createdAt).toBeLessThan(ROUTE_TIMEOUT_MS + 1500);
    }
  }, 30_000);

  it('bad input on the live node gets coded errors; a wrong token closes with a reason; the node keeps taking calls', async () => {
    const raw = new WebSocket(appUrl);
    const msgs: Array<Record<string, unknown>> = [];
    raw.on('message', (d) => msgs.push(JSON.parse(d.toString())));
    await new Promise((r) => raw.once('open', r));
    raw.send(JSON.stringify({ type: 'hello', id: 1, token: TOKEN }));
    raw.send('{{{');
    raw.send(JSON.stringify({ type: 'teleport', id: 2 }));
    raw.send(JSON.stringify({ type: 'call.hangup', id: 3, call: 'no-such-call' }));
    raw.send(JSON.stringify({ type: 'query.pair', id: 4 }));
    await until(() => msgs.some((m) => m['id'] === 4), 3000, 'query reply');
    expect(msgs.find((m) => m['code'] === 'ERR_BAD_JSON')).toBeDefined();
    expect(msgs.find((m) => m['id'] === 2)).toMatchObject({ type: 'error', code: 'ERR_UNKNOWN_TYPE' });
    expect(msgs.find((m) => m['id'] === 3)).toMatchObject({ type: 'error', code: 'ERR_UNKNOWN_CALL' });
    expect(msgs.find((m) => m['id'] === 4)).toMatchObject({ type: 'result', data: { role: 'standalone' } });
    raw.close();
    const bad = new WebSocket(appUrl);
    const closed = new Promise<[number, string]>((r) => bad.on('close', (c, why) => r([c, why.toString()])));
    await new Promise((r) => bad.once('open', r));
    bad.send(JSON.stringify({ type: 'hello', id: 1, token: 'guess-guess' }));
    expect(await closed).toEqual([4401, 'authentication failed']);
    const r = await Sipp.run({ scenario: 'uac-basic', localIp: ip, remote: node.sipTarget, service: '5555', calls: 3, rate: 3, timeoutSec: 20, recvTimeoutMs: 5000 });
    expect(r.successful, explain(r)).toBe(3);
    expect(node.process.running).toBe(true);
  }, 30_000);
});
