/**
 * The operator commands against real AdminServers (core) with hand-made node facades:
 * text and JSON output, exit codes, wrong token, node down.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer, NodeMetrics, type AdminNode, type DrainStatus, type NodeStatusView, type SwitchoverReport } from '@dualsip/core';
import { statusCommand } from '../src/commands/status.js';
import { switchoverCommand } from '../src/commands/switchover.js';
import { drainCommand } from '../src/commands/drain.js';
import { callsCommand } from '../src/commands/calls.js';
import { main } from '../src/main.js';
import { CliError } from '../src/errors.js';

const TOKEN = 'ops-test-token';
const idle: DrainStatus = { state: 'idle', code: null, retryAfter: null, redirect: null, startedAt: null, elapsedMs: 0, timeoutMs: 0, callsAtStart: 0, callsLeft: 0, refused: 0 };

function view(id: string, role: string, over: Partial<NodeStatusView> = {}): NodeStatusView {
  return {
    nodeId: id, version: '0.1.0', uptimeMs: 65_000, mode: 'pair', role, epoch: 4, accepting: role === 'active', state: 'running',
    vip: { name: '198.18.1.100/24', heldHere: role === 'active', holder: 'A' },
    calls: role === 'active' ? { connected: 12, ringing: 2, total: 14 } : { connected: 0, ringing: 0, total: 0 },
    sync: { role: role === 'active' ? 'primary' : 'replica', ready: true, reasons: [], lagEntries: role === 'active' ? null : 0, lagMs: role === 'active' ? null : 1 },
    peer: { id: id === 'A' ? 'B' : 'A', alive: true, role: role === 'active' ? 'passive' : 'active', epoch: 4, ready: true, lastSeenMs: 20 },
    paths: [{ name: 'sip', network: 'sip', up: true, lastSeenMs: 20 }, { name: 'sync', network: 'sync', up: true, lastSeenMs: 20 }],
    pairReady: true, pairReasons: [], switchover: { running: false, last: null, lastError: null }, drain: idle, alarms: [], ...over,
  };
}

class Fake implements AdminNode {
  metrics = new NodeMetrics({ status: () => this.st, processMetrics: false }).registry;
  drainState: DrainStatus = { ...idle };
  polls = 0;
  constructor(public st: NodeStatusView, public onSwitch?: () => Promise<SwitchoverReport>) {}
  status() {
    return this.st;
  }
  calls() {
    return [{ id: 'c1', state: 'answered', ageMs: 3000, epoch: 4, version: 3, legs: { a: { callId: 'a1@x', state: 'confirmed', localUri: '', remoteUri: '' }, b: { callId: 'b1@y', state: 'confirmed', localUri: '', remoteUri: '' } } }];
  }
  drain(o: { code?: number }) {
    this.drainState = { ...idle, state: 'draining', code: o.code ?? 503, retryAfter: 30, callsAtStart: 2, callsLeft: 2 };
    return this.drainState;
  }
  drainStatus() {
    this.polls++;
    if (this.drainState.state === 'draining') {
      const left = Math.max(0, 2 - this.polls);
      this.drainState = { ...this.drainState, callsLeft: left, state: left === 0 ? 'done' : 'draining' };
    }
    return this.drainState;
  }
  cancelDrain() {
    return { ...this.drainState, state: 'cancelled' as const };
  }
  async switchover() {
    if (!this.onSwitch) throw Object.assign(new Error('pair not ready: peer not ready'), { code: 'ERR_HA_PAIR_NOT_READY' });
    return this.onSwitch();
  }
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

function capture() {
  const chunks: string[] = [];
  return { out: (s: string) => void chunks.push(s), text: () => chunks.join('') };
}

async function exitOf(p: Promise<number>): Promise<{ code: number; err?: CliError }> {
  try {
    return { code: await p };
  } catch (err) {
    if (err instanceof CliError) return { code: err.exitCode, err };
    throw err;
  }
}

/** A port nothing listens on. */
async function deadUrl(): Promise<string> {
  const url = await serve(new Fake(view('X', 'passive')));
  await servers.pop()!.close();
  return url;
}

describe('dualsip status', () => {
  it('healthy pair: text table with role, epoch, VIP, calls, sync, paths, uptime, version; exit 0', async () => {
    const a = await serve(new Fake(view('A', 'active')));
    const b = await serve(new Fake(view('B', 'passive', { vip: { name: 'v', heldHere: false, holder: 'A' } })));
    const c = capture();
    const code = await statusCommand({ node: [`A=${a}`, `B=${b}`], token: TOKEN }, {}, c.out);
    expect(code).toBe(0);
    const t = c.text();
    expect(t).toMatch(/^pair: healthy$/m);
    expect(t).toMatch(/^A\s+active\s+4\s+held\s+12\/2\s+primary ready\s+sip:up sync:up\s+-\s+65s\s+0\.1\.0$/m);
    expect(t).toMatch(/^B\s+passive\s+4\s+-> A\s+0\/0\s+replica lag 0\/1ms ready/m);
  });

  it('witness column: reachability per witness; an isolated passive makes the pair degraded and says why', async () => {
    const w = (reachable: boolean, isolated: boolean) => ({ reachable, isolated, lastCheckMs: 100, targets: [{ address: '198.18.1.254', reachable, lastOkMs: reachable ? 100 : null, rttMs: reachable ? 0.3 : null, lastError: reachable ? null : 'no answer' }] });
    const down = [{ name: 'sip', network: 'sip' as const, up: false, lastSeenMs: 4000 }, { name: 'sync', network: 'sync' as const, up: false, lastSeenMs: 4000 }];
    const a = await serve(new Fake(view('A', 'active', { witness: w(true, false), paths: down })));
    const b = await serve(new Fake(view('B', 'passive', { witness: w(false, true), paths: down, alarms: [{ code: 'HA_ISOLATED', text: 'isolated: ...' }] })));
    const c = capture();
    const code = await statusCommand({ node: [`A=${a}`, `B=${b}`], token: TOKEN }, {}, c.out);
    expect(code).toBe(3);
    const t = c.text();
    expect(t).toMatch(/^\S*\s*NODE\s+ROLE.*HEARTBEAT PATHS\s+WITNESS\s+UPTIME/m);
    expect(t).toMatch(/^A\s+active\s+4\s+held.*sip:DOWN sync:DOWN\s+198\.18\.1\.254:ok\s+65s/m);
    expect(t).toMatch(/^B\s+passive.*sip:DOWN sync:DOWN\s+ISOLATED 198\.18\.1\.254:NO ANSWER\s+65s/m);
    expect(t).toMatch(/node B: isolated \(peer lost on every path and no witness answers\)/);
  });

  it('JSON for scripts; passive not ready and a path down = degraded, exit 3', async () => {
    const a = await serve(new Fake(view('A', 'active', { pairReady: false, pairReasons: ['peer not ready'] })));
    const b = await serve(new Fake(view('B', 'passive', { sync: { role: 'replica', ready: false, reasons: ['initialSync'], lagEntries: 40, lagMs: 900 }, paths: [{ name: 'sync', network: 'sync', up: false, lastSeenMs: 4000 }] })));
    const c = capture();
    const code = await statusCommand({ node: [`A=${a}`, `B=${b}`], token: TOKEN, json: true }, {}, c.out);
    expect(code).toBe(3);
    const j = JSON.parse(c.text());
    expect(j.health).toBe('degraded');
    expect(j.nodes.map((n: { name: string; status: { role: string } }) => `${n.name}:${n.status.role}`)).toEqual(['A:active', 'B:passive']);
    expect(j.problems.join('\n')).toMatch(/node B: sync not ready \(initialSync\)/);
    expect(j.problems.join('\n')).toMatch(/node B: heartbeat path sync \(sync\) down/);
  });

  it('one node down: degraded, names the node and what failed; none active: down, exit 4', async () => {
    const a = await serve(new Fake(view('A', 'active')));
    const dead = await deadUrl();
    const c = capture();
    expect(await statusCommand({ node: [`A=${a}`, `B=${dead}`], token: TOKEN }, {}, c.out)).toBe(3);
    expect(c.text()).toMatch(/^B\s+UNREACHABLE/m);
    expect(c.text()).toMatch(/node B: GET \/v1\/status failed: ECONNREFUSED/);
    const p = await serve(new Fake(view('B', 'passive')));
    const c2 = capture();
    expect(await statusCommand({ node: [`B=${p}`, `C=${dead}`], token: TOKEN }, {}, c2.out)).toBe(4);
    expect(c2.text()).toMatch(/^pair: down$/m);
  });

  it('wrong token: refused, names the node, exit 5', async () => {
    const a = await serve(new Fake(view('A', 'active')));
    const r = await exitOf(statusCommand({ node: [`A=${a}`], token: 'not-the-token' }, {}, capture().out));
    expect(r.code).toBe(5);
    expect(r.err?.message).toMatch(/node A \(http:\/\/127\.0\.0\.1:\d+\): wrong admin token \(401\)/);
  });

  it('nodes and token from DUALSIP_NODES / DUALSIP_ADMIN_TOKEN; none given is a usage error (exit 2)', async () => {
    const a = await serve(new Fake(view('A', 'active')));
    const c = capture();
    expect(await statusCommand({}, { DUALSIP_NODES: `A=${a}`, DUALSIP_ADMIN_TOKEN: TOKEN }, c.out)).toBe(0);
    expect(c.text()).toMatch(/^A\s+active/m);
    expect((await exitOf(statusCommand({}, {}, c.out))).code).toBe(2);
  });
});

describe('dualsip switchover', () => {
  it('refused when the passive is not ready: says why, hints --force, exit 1', async () => {
    const a = await serve(new Fake(view('A', 'active')));
    const b = await serve(new Fake(view('B', 'passive')));
    const r = await exitOf(switchoverCommand({ node: [`A=${a}`, `B=${b}`], token: TOKEN }, {}, capture().out));
    expect(r.code).toBe(1);
    expect(r.err?.message).toMatch(/switchover refused: node A .*pair not ready: peer not ready \[ERR_HA_PAIR_NOT_READY\]/);
    expect(r.err?.hint).toMatch(/--force/);
  });

  it('asks the active, confirms the new roles, reports the handover time (text and JSON)', async () => {
    const fa = new Fake(view('A', 'active'));
    const fb = new Fake(view('B', 'passive'));
    fa.onSwitch = async () => {
      fa.st = view('A', 'passive', { epoch: 5 });
      fb.st = view('B', 'active', { epoch: 5 });
      return { from: 'A', to: 'B', epoch: 5, ms: 87, forced: false, phases: { settleMs: 3, flushMs: 2, handoverMs: 80 }, callsAtStart: { connected: 12, ringing: 2 }, heldAtCut: 0, flushRounds: 1, replicasAcked: 1 };
    };
    const a = await serve(fa);
    const b = await serve(fb);
    const c = capture();
    expect(await switchoverCommand({ node: [`A=${a}`, `B=${b}`], token: TOKEN }, {}, c.out)).toBe(0);
    expect(c.text()).toMatch(/switchover A -> B: done in 87 ms/);
    expect(c.text()).toMatch(/new roles: A passive, B active \(epoch 5\)/);
    fb.onSwitch = fa.onSwitch;
    fa.st = view('A', 'active', { epoch: 5 });
    fb.st = view('B', 'passive', { epoch: 5 });
    const j = capture();
    expect(await switchoverCommand({ node: [`A=${a}`, `B=${b}`], token: TOKEN, json: true }, {}, j.out)).toBe(0);
    expect(JSON.parse(j.text())).toMatchObject({ ok: true, from: 'A', to: 'B', handoverMs: 87, roles: { A: 'passive', B: 'active' } });
  });

  it('a node down: names it, exit 4', async () => {
    const a = await serve(new Fake(view('A', 'active')));
    const dead = await deadUrl();
    const r = await exitOf(switchoverCommand({ node: [`A=${a}`, `B=${dead}`], token: TOKEN }, {}, capture().out));
    expect(r.code).toBe(4);
    expect(r.err?.message).toMatch(/^node B \(.*\): GET \/v1\/status failed: ECONNREFUSED/);
  });
});

describe('dualsip drain and calls', () => {
  it('drain shows progress until no call is left, exit 0; --cancel', async () => {
    const f = new Fake(view('A', 'active'));
    const a = await serve(f);
    const c = capture();
    expect(await drainCommand({ node: [`A=${a}`], token: TOKEN }, [], {}, { out: c.out, isTTY: false, pollMs: 5 })).toBe(0);
    expect(c.text()).toMatch(/node A: draining, new calls answered 503 \(Retry-After 30\)/);
    expect(c.text()).toMatch(/\[#+-+\] 1 call\(s\) left of 2/);
    expect(c.text()).toMatch(/drained in .*no calls left/);
    const t = capture();
    await drainCommand({ node: [`A=${a}`], token: TOKEN }, [], {}, { out: t.out, isTTY: true, pollMs: 5 });
    expect(t.text()).toContain('\r[');
    const x = capture();
    expect(await drainCommand({ node: [`A=${a}`], token: TOKEN, cancel: true }, [], {}, { out: x.out })).toBe(0);
    expect(x.text()).toMatch(/drain cancelled/);
  });

  it('drain: an unknown node name and bad flags are usage errors', async () => {
    const a = await serve(new Fake(view('A', 'active')));
    expect((await exitOf(drainCommand({ node: [`A=${a}`], token: TOKEN }, ['Z'], {}))).err?.message).toMatch(/unknown node "Z"/);
    expect((await exitOf(drainCommand({ node: [`A=${a}`], token: TOKEN, redirect: 'http://x' }, [], {}))).code).toBe(2);
  });

  it('calls: table and JSON', async () => {
    const a = await serve(new Fake(view('A', 'active')));
    const c = capture();
    expect(await callsCommand({ node: [`A=${a}`], token: TOKEN, state: 'connected' }, [], {}, c.out)).toBe(0);
    expect(c.text()).toMatch(/^A\s+c1\s+answered\s+3s\s+a1@x confirmed\s+b1@y confirmed$/m);
    const j = capture();
    await callsCommand({ node: [`A=${a}`], token: TOKEN, json: true }, [], {}, j.out);
    expect(JSON.parse(j.text()).nodes[0].calls[0].id).toBe('c1');
    expect((await exitOf(callsCommand({ node: [`A=${a}`], token: TOKEN, state: 'bogus' }, [], {}))).code).toBe(2);
  });

  it('main(): the commands are registered (help exits 0, unknown flag exits 2)', async () => {
    expect(await main(['status', '--help'])).toBe(0);
    expect(await main(['switchover', '--bogus'])).toBe(2);
  });
});
