import { afterEach, describe, expect, it } from 'vitest';
import { Registry, Counter } from 'prom-client';
import { AdminServer } from '../../src/admin/server.js';
import type { AdminNode, DrainStatus, NodeStatusView, SwitchoverReport } from '../../src/admin/types.js';

const TOKEN = 'test-token-123';

function drainIdle(): DrainStatus {
  return { state: 'idle', code: null, retryAfter: null, redirect: null, startedAt: null, elapsedMs: 0, timeoutMs: 0, callsAtStart: 0, callsLeft: 0, refused: 0 };
}

function fakeNode(over: Partial<AdminNode> = {}): AdminNode & { seen: unknown[] } {
  const registry = new Registry();
  new Counter({ name: 'dualsip_test_total', help: 'test', registers: [registry] }).inc(3);
  const seen: unknown[] = [];
  const status: NodeStatusView = {
    nodeId: 'A', version: '0.1.0', uptimeMs: 1000, mode: 'standalone', role: 'standalone', epoch: 0, accepting: true, state: 'running',
    vip: null, calls: { connected: 1, ringing: 0, total: 1 }, sync: null, peer: null, paths: [], pairReady: null, pairReasons: [],
    switchover: { running: false, last: null, lastError: null }, drain: drainIdle(), alarms: [],
  };
  return {
    seen,
    status: () => status,
    calls: (f) => (seen.push(f), []),
    drain: (o) => (seen.push(o), { ...drainIdle(), state: 'draining', code: o.code ?? 503 }),
    drainStatus: () => drainIdle(),
    cancelDrain: () => ({ ...drainIdle(), state: 'cancelled' }),
    switchover: async (o) => {
      seen.push(o);
      return { from: 'A', to: 'B', epoch: 2, ms: 42 } as SwitchoverReport;
    },
    metrics: registry,
    ...over,
  };
}

const servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(node: AdminNode, logs?: string[]): Promise<AdminServer> {
  const logger = { info() {}, warn: (o: object, m: string) => logs?.push(`${m} ${JSON.stringify(o)}`), error() {} };
  const s = new AdminServer({ node, address: '127.0.0.1', port: 0, token: TOKEN, logger });
  servers.push(s);
  await s.listen();
  return s;
}

async function call(s: AdminServer, method: string, path: string, opts: { token?: string | null; body?: string } = {}) {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${s.url}${path}`, { method, headers, body: opts.body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

describe('AdminServer', () => {
  it('refuses a wrong token with 401 and logs the client address', async () => {
    const logs: string[] = [];
    const s = await start(fakeNode(), logs);
    let unauthorized = 0;
    s.on('unauthorized', () => unauthorized++);
    const r = await call(s, 'GET', '/v1/status', { token: 'wrong-token-xyz' });
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe('ERR_ADMIN_UNAUTHORIZED');
    expect(r.headers.get('www-authenticate')).toMatch(/Bearer/);
    expect(logs.join('\n')).toMatch(/wrong or missing token.*127\.0\.0\.1/);
    expect(unauthorized).toBe(1);
  });

  it('refuses a missing token with 401, also on /metrics and unknown paths', async () => {
    const s = await start(fakeNode());
    for (const p of ['/v1/status', '/metrics', '/nope']) {
      const r = await call(s, 'GET', p, { token: null });
      expect(r.status, p).toBe(401);
    }
  });

  it('serves status, calls (filters parsed), drain and cancel with the right token', async () => {
    const node = fakeNode();
    const s = await start(node);
    const st = await call(s, 'GET', '/v1/status');
    expect(st.status).toBe(200);
    expect(st.json.nodeId).toBe('A');
    const c = await call(s, 'GET', '/v1/calls?state=connected&minAgeMs=1000&limit=5&match=abc');
    expect(c.status).toBe(200);
    expect(node.seen.at(-1)).toEqual({ state: 'connected', minAgeMs: 1000, limit: 5, match: 'abc' });
    const d = await call(s, 'POST', '/v1/drain', { body: JSON.stringify({ code: 480, retryAfter: 10, timeoutMs: 5000 }) });
    expect(d.status).toBe(202);
    expect(node.seen.at(-1)).toEqual({ code: 480, retryAfter: 10, timeoutMs: 5000 });
    const x = await call(s, 'DELETE', '/v1/drain');
    expect(x.json.state).toBe('cancelled');
    const so = await call(s, 'POST', '/v1/switchover', { body: '{"force":true}' });
    expect(so.status).toBe(200);
    expect(so.json.to).toBe('B');
    expect(node.seen.at(-1)).toEqual({ force: true });
  });

  it('answers bad input 400 with a message naming the field', async () => {
    const s = await start(fakeNode());
    const cases: Array<[string, string, string | undefined, RegExp]> = [
      ['GET', '/v1/calls?limit=-1', undefined, /limit/],
      ['GET', '/v1/calls?bogus=1', undefined, /bogus/],
      ['POST', '/v1/drain', '{"code":200}', /code/],
      ['POST', '/v1/drain', '{"redirect":"http://x"}', /redirect/],
      ['POST', '/v1/drain', 'not json', /JSON/],
      ['POST', '/v1/switchover', '{"force":"yes"}', /force/],
      ['POST', '/v1/switchover', '{"forse":true}', /forse/],
    ];
    for (const [m, p, body, re] of cases) {
      const r = await call(s, m, p, body === undefined ? {} : { body });
      expect(r.status, `${m} ${p} ${body}`).toBe(400);
      expect(r.json.error.code).toBe('ERR_ADMIN_BAD_REQUEST');
      expect(r.json.error.message).toMatch(re);
    }
  });

  it('maps node errors to HTTP: not ready 409, running 409, timeout 504, unknown 500; 404 and 405', async () => {
    const errs = [
      ['ERR_HA_PAIR_NOT_READY', 409],
      ['ERR_HA_SWITCHOVER_IN_PROGRESS', 409],
      ['ERR_HA_SWITCHOVER_TIMEOUT', 504],
      [undefined, 500],
    ] as const;
    for (const [code, status] of errs) {
      const s = await start(
        fakeNode({
          switchover: async () => {
            throw Object.assign(new Error(`boom ${code}`), code ? { code } : {});
          },
        }),
      );
      const r = await call(s, 'POST', '/v1/switchover');
      expect(r.status, String(code)).toBe(status);
      expect(r.json.error.message).toBe(`boom ${code}`);
    }
    const s = await start(fakeNode());
    expect((await call(s, 'GET', '/v2/x')).status).toBe(404);
    expect((await call(s, 'PUT', '/v1/status')).status).toBe(405);
  });

  it('serves Prometheus text on /metrics', async () => {
    const s = await start(fakeNode());
    const r = await call(s, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/plain/);
    expect(r.text).toMatch(/^dualsip_test_total 3$/m);
  });

  it('rejects a short token and a bad port at construction; close() is idempotent', async () => {
    expect(() => new AdminServer({ node: fakeNode(), address: '127.0.0.1', port: 0, token: 'short' })).toThrow(/8 characters/);
    expect(() => new AdminServer({ node: fakeNode(), address: '127.0.0.1', port: 70000, token: TOKEN })).toThrow(/port/);
    const s = await start(fakeNode());
    await Promise.all([s.close(), s.close()]);
    await s.close();
  });

  it('listen() reports an address in use', async () => {
    const a = await start(fakeNode());
    const b = new AdminServer({ node: fakeNode(), address: '127.0.0.1', port: a.port, token: TOKEN });
    await expect(b.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
