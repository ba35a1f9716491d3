// /health/live|ready|active: the judgement (evaluateHealth), what NodeOps feeds it, and
// how AdminServer serves it (no token, HEAD, 404/405, Cache-Control, shutdown, probe off).
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { AdminServer, healthFromStatus } from '../../src/admin/server.js';
import { evaluateHealth, type HealthInput } from '../../src/admin/health.js';
import { NodeOps, type OpsCallControl, type OpsHa } from '../../src/admin/node-ops.js';
import type { AdminNode, DrainStatus, NodeStatusView } from '../../src/admin/types.js';

const TOKEN = 'test-token-123';

const standalone: HealthInput = { mode: 'standalone', role: 'standalone', epoch: 0, closing: false, sipServing: true, draining: false };
const active: HealthInput = { mode: 'pair', role: 'active', epoch: 7, closing: false, sipServing: true, draining: false, pairReady: true, pairReasons: [], sipInterfaceUp: true };
const passive: HealthInput = { ...active, role: 'passive', sipServing: false };

describe('evaluateHealth', () => {
  const judge = (h: HealthInput) => ({
    live: evaluateHealth('live', h).status,
    ready: evaluateHealth('ready', h).status,
    active: evaluateHealth('active', h).status,
  });

  it('active with SIP bound: ok on every check; passive ready: ready ok, active fail (role passive)', () => {
    expect(judge(active)).toEqual({ live: 'ok', ready: 'ok', active: 'ok' });
    expect(evaluateHealth('active', active)).toEqual({ status: 'ok', role: 'active', epoch: 7, reasons: [] });
    expect(judge(passive)).toEqual({ live: 'ok', ready: 'ok', active: 'fail' });
    expect(evaluateHealth('active', passive).reasons).toEqual(['role passive']);
  });

  it('a passive that cannot take over is not ready, with the controller\'s reasons', () => {
    const h = { ...passive, pairReady: false, pairReasons: ['peer b not reachable', 'initialSync'] };
    expect(evaluateHealth('ready', h)).toEqual({ status: 'fail', role: 'passive', epoch: 7, reasons: ['peer b not reachable', 'initialSync'] });
    expect(evaluateHealth('ready', { ...passive, pairReady: false, pairReasons: [] }).reasons).toEqual(['pair not ready']);
    expect(evaluateHealth('ready', { ...passive, sipInterfaceUp: false }).reasons).toEqual(['sip interface down']);
  });

  it('an active without SIP bound fails ready and active; in-between roles fail both', () => {
    expect(evaluateHealth('ready', { ...active, sipServing: false }).reasons).toEqual(['sip not serving']);
    expect(evaluateHealth('active', { ...active, sipServing: false }).reasons).toEqual(['sip not serving']);
    for (const role of ['starting', 'taking-over', 'draining', 'stepping-down', 'fenced']) {
      expect(judge({ ...active, role }), role).toEqual({ live: 'ok', ready: 'fail', active: 'fail' });
      expect(evaluateHealth('ready', { ...active, role }).reasons).toEqual([`role ${role}`]);
    }
  });

  it('an operator drain fails active only; closing fails ready and active, never live', () => {
    expect(judge({ ...active, draining: true })).toEqual({ live: 'ok', ready: 'ok', active: 'fail' });
    expect(evaluateHealth('active', { ...standalone, draining: true }).reasons).toEqual(['draining']);
    expect(judge({ ...active, closing: true })).toEqual({ live: 'ok', ready: 'fail', active: 'fail' });
    expect(evaluateHealth('ready', { ...passive, closing: true }).reasons).toEqual(['closing']);
  });

  it('a standalone node counts as active while it serves SIP', () => {
    expect(judge(standalone)).toEqual({ live: 'ok', ready: 'ok', active: 'ok' });
    expect(judge({ ...standalone, sipServing: false })).toEqual({ live: 'ok', ready: 'fail', active: 'fail' });
  });
});

// ------------------------------------------------------------------ NodeOps.health()

function fakeCC(phase = 'running'): OpsCallControl & { phase: string } {
  return {
    phase,
    heldInvites: 0,
    calls: () => [],
    setAdmission() {},
    on() {
      return undefined;
    },
  };
}

function fakeHa(over: { role?: string; accepting?: boolean; state?: string; pairReady?: boolean; pairReasons?: string[]; sipUp?: boolean } = {}) {
  return {
    nodeId: 'A',
    role: over.role ?? 'active',
    accepting: over.accepting ?? true,
    state: over.state ?? 'running',
    // The probe must not use HaNode.status(): it copies every mirrored record.
    status: () => {
      throw new Error('HaNode.status() called by a probe');
    },
    on() {},
    controller: {
      on() {},
      requestSwitchover: async () => {
        throw new Error('not here');
      },
      status: () => ({ role: over.role ?? 'active', epoch: 5, pairReady: over.pairReady ?? true, pairReasons: over.pairReasons ?? [], sipUp: over.sipUp ?? true }),
    },
  } as unknown as OpsHa;
}

describe('NodeOps.health()', () => {
  it('standalone: serving while call control runs; a drain (also done) counts until cancelled; closing when call control drains', () => {
    const cc = fakeCC();
    const ops = new NodeOps({ nodeId: 'S', version: 't', callControl: cc, processMetrics: false });
    expect(ops.health()).toEqual({ mode: 'standalone', role: 'standalone', epoch: 0, closing: false, sipServing: true, draining: false });
    ops.drain({});
    expect(ops.drainStatus().state).toBe('done'); // no calls: done at once, still refusing
    expect(ops.health().draining).toBe(true);
    ops.cancelDrain();
    expect(ops.health().draining).toBe(false);
    cc.phase = 'draining';
    expect(ops.health()).toMatchObject({ closing: true, sipServing: false });
  });

  it('pair: role, epoch and readiness from the controller, never from HaNode.status() or the call list', () => {
    const cc = fakeCC();
    cc.calls = () => {
      throw new Error('call list walked by a probe');
    };
    const act = new NodeOps({ nodeId: 'A', version: 't', callControl: cc, ha: fakeHa(), processMetrics: false });
    expect(act.health()).toEqual({ mode: 'pair', role: 'active', epoch: 5, closing: false, sipServing: true, draining: false, pairReady: true, pairReasons: [], sipInterfaceUp: true });
    const pas = new NodeOps({ nodeId: 'B', version: 't', callControl: fakeCC(), ha: fakeHa({ role: 'passive', accepting: false, pairReady: false, pairReasons: ['peer a not reachable'] }), processMetrics: false });
    expect(evaluateHealth('ready', pas.health())).toEqual({ status: 'fail', role: 'passive', epoch: 5, reasons: ['peer a not reachable'] });
    const closing = new NodeOps({ nodeId: 'A', version: 't', callControl: fakeCC(), ha: fakeHa({ state: 'closing' }), processMetrics: false });
    expect(closing.health().closing).toBe(true);
  });
});

// ------------------------------------------------------------------ AdminServer

function drainIdle(): DrainStatus {
  return { state: 'idle', code: null, retryAfter: null, redirect: null, startedAt: null, elapsedMs: 0, timeoutMs: 0, callsAtStart: 0, callsLeft: 0, refused: 0 };
}

function statusView(over: Partial<NodeStatusView> = {}): NodeStatusView {
  return {
    nodeId: 'A', version: '0.1.0', uptimeMs: 1000, mode: 'standalone', role: 'standalone', epoch: 0, accepting: true, state: 'running',
    vip: null, calls: { connected: 1, ringing: 0, total: 1 }, sync: null, peer: null, paths: [], pairReady: null, pairReasons: [],
    switchover: { running: false, last: null, lastError: null }, drain: drainIdle(), alarms: [], ...over,
  };
}

function node(health: (() => HealthInput) | undefined, status = statusView()): AdminNode {
  return {
    status: () => status,
    calls: () => [],
    drain: () => drainIdle(),
    drainStatus: () => drainIdle(),
    cancelDrain: () => drainIdle(),
    switchover: () => new Promise(() => {}),
    metrics: new Registry(),
    ...(health ? { health } : {}),
  };
}

const servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(n: AdminNode, opts: { healthProbe?: boolean; logs?: string[] } = {}): Promise<AdminServer> {
  const push = (level: string) => (o: object, m: string) => opts.logs?.push(`${level} ${m} ${JSON.stringify(o)}`);
  const logger = { info: push('info'), warn: push('warn'), error: push('error'), debug: push('debug') };
  const s = new AdminServer({ node: n, address: '127.0.0.1', port: 0, token: TOKEN, logger, ...(opts.healthProbe === undefined ? {} : { healthProbe: opts.healthProbe }) });
  servers.push(s);
  await s.listen();
  return s;
}

async function probe(s: AdminServer, path: string, opts: { method?: string; token?: string } = {}) {
  const res = await fetch(`${s.url}${path}`, { method: opts.method ?? 'GET', headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {} });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

describe('AdminServer /health', () => {
  it('answers without the token: 200 on the active, no 401, no unauthorized event, only a debug line', async () => {
    const logs: string[] = [];
    const s = await start(node(() => active), { logs });
    let unauthorized = 0;
    s.on('unauthorized', () => unauthorized++);
    for (const check of ['live', 'ready', 'active']) {
      const r = await probe(s, `/health/${check}`);
      expect(r.status, check).toBe(200);
      expect(r.json).toEqual({ status: 'ok', role: 'active', epoch: 7, reasons: [] });
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    }
    expect(unauthorized).toBe(0);
    expect(logs.filter((l) => !l.startsWith('debug '))).toEqual([]);
    expect(logs.filter((l) => l.startsWith('debug health probe'))).toHaveLength(3);
    // The rest of the API keeps its token.
    expect((await probe(s, '/v1/status')).status).toBe(401);
    expect((await probe(s, '/metrics')).status).toBe(401);
  });

  it('on the passive: active 503 with the reason, ready 200; a passive that cannot take over is 503 on ready', async () => {
    let h: HealthInput = passive;
    const s = await start(node(() => h));
    const a = await probe(s, '/health/active');
    expect(a.status).toBe(503);
    expect(a.json).toEqual({ status: 'fail', role: 'passive', epoch: 7, reasons: ['role passive'] });
    expect((await probe(s, '/health/ready')).status).toBe(200);
    h = { ...passive, pairReady: false, pairReasons: ['sync path sync down'] };
    const r = await probe(s, '/health/ready');
    expect(r.status).toBe(503);
    expect(r.json.reasons).toEqual(['sync path sync down']);
    expect((await probe(s, '/health/live')).status).toBe(200);
  });

  it('HEAD gives the status and headers without a body', async () => {
    const s = await start(node(() => passive));
    const a = await probe(s, '/health/active', { method: 'HEAD' });
    expect(a.status).toBe(503);
    expect(a.text).toBe('');
    expect(a.headers.get('cache-control')).toBe('no-store');
    expect(Number(a.headers.get('content-length'))).toBeGreaterThan(0);
    expect((await probe(s, '/health/ready', { method: 'HEAD' })).status).toBe(200);
  });

  it('unknown checks are 404 with a JSON error, other methods 405; trailing slash and query are ignored', async () => {
    const s = await start(node(() => active));
    for (const p of ['/health/x', '/health', '/health/live/more']) {
      const r = await probe(s, p);
      expect(r.status, p).toBe(404);
      expect(r.json.error.code, p).toBe('ERR_ADMIN_NOT_FOUND');
      expect(r.json.error.message, p).toMatch(/\/health\/live, \/health\/ready, \/health\/active/);
    }
    const post = await probe(s, '/health/live', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.json.error.code).toBe('ERR_ADMIN_METHOD');
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await probe(s, '/health/active/?x=1')).status).toBe(200);
  });

  it('admin.healthProbe off: the probes need the token like the rest of the API', async () => {
    const logs: string[] = [];
    const s = await start(node(() => active), { healthProbe: false, logs });
    const no = await probe(s, '/health/live');
    expect(no.status).toBe(401);
    expect(no.json.error.code).toBe('ERR_ADMIN_UNAUTHORIZED');
    expect((await probe(s, '/health/active', { token: 'wrong-token-xyz' })).status).toBe(401);
    expect(logs.some((l) => l.startsWith('warn admin API: wrong or missing token'))).toBe(true);
    const ok = await probe(s, '/health/active', { token: TOKEN });
    expect(ok.status).toBe(200);
    expect(ok.json.status).toBe('ok');
    expect((await probe(s, '/health/nope', { token: TOKEN })).status).toBe(404);
  });

  it('while the node shuts down: ready and active 503 closing, live 200, the rest of the API 503', async () => {
    const s = await start(node(() => active));
    s.beginShutdown();
    for (const check of ['ready', 'active']) {
      const r = await probe(s, `/health/${check}`);
      expect(r.status, check).toBe(503);
      expect(r.json).toEqual({ status: 'fail', role: 'active', epoch: 7, reasons: ['closing'] });
    }
    expect((await probe(s, '/health/live')).status).toBe(200);
    const st = await probe(s, '/v1/status', { token: TOKEN });
    expect(st.status).toBe(503);
    expect(st.json.error.code).toBe('ERR_ADMIN_CLOSED');
  });

  it('answers while a slow request (a switchover) is under way on the same server', async () => {
    const s = await start(node(() => active));
    let slowSettled = false;
    const slow = fetch(`${s.url}/v1/switchover`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(30_000) })
      .catch(() => undefined)
      .finally(() => (slowSettled = true));
    expect((await probe(s, '/health/active')).status).toBe(200);
    // The probe was answered while the switchover (which never ends) was still pending.
    expect(slowSettled).toBe(false);
    s.destroy();
    await slow;
  });

  it('a node without health() is judged from its status view; a throwing health() is a 503, not a crash', async () => {
    const s = await start(node(undefined, statusView()));
    expect((await probe(s, '/health/active')).json).toEqual({ status: 'ok', role: 'standalone', epoch: 0, reasons: [] });
    const pas = statusView({ mode: 'pair', role: 'passive', epoch: 3, accepting: false, vip: { name: 'vip', heldHere: false, holder: 'B' }, pairReady: true });
    const s2 = await start(node(undefined, pas));
    expect((await probe(s2, '/health/active')).status).toBe(503);
    expect((await probe(s2, '/health/ready')).status).toBe(200);
    expect(healthFromStatus(statusView({ drain: { ...drainIdle(), state: 'done' }, accepting: false }))).toMatchObject({ sipServing: true, draining: true });
    const logs: string[] = [];
    const s3 = await start(
      node(() => {
        throw new Error('boom');
      }),
      { logs },
    );
    const r = await probe(s3, '/health/ready');
    expect(r.status).toBe(503);
    expect(r.json.reasons).toEqual(['health check failed: boom']);
    expect(logs.some((l) => l.startsWith('warn health probe failed'))).toBe(true);
  });
});
