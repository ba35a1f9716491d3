/**
 * The node's part of failover drills: what became of a call (lookup), the drill record
 * a node that took over keeps (status, /metrics), and the two admin endpoints.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer } from '../../src/admin/server.js';
import { NodeOps, type OpsCallControl } from '../../src/admin/node-ops.js';
import { callOutcome, isAbnormalEnd, parseDrillRecord } from '../../src/admin/drill.js';
import { emptyLeg, type CallRecord } from '../../src/records/call-record.js';

const TOKEN = 'drill-test-token';

function rec(id: string, state: CallRecord['state'], endReason?: string): CallRecord {
  const ended = state === 'ended' || state === 'failed';
  return {
    schemaVersion: 1, id, version: 3, epoch: 1, state, createdAt: 1_000, route: { target: 'sip:x', rule: 'default' },
    a: { ...emptyLeg('uas'), callId: `a-${id}` }, b: { ...emptyLeg('uac'), callId: `b-${id}` },
    ...(ended ? { ended: true, endedAt: 2_000, endReason, ...(state === 'failed' ? { endStatus: 486 } : {}) } : {}),
  };
}

class FakeCC implements OpsCallControl {
  phase = 'running';
  heldInvites = 0;
  constructor(public records: CallRecord[]) {}
  calls() {
    return this.records.filter((r) => !r.ended);
  }
  call(id: string) {
    return this.records.find((r) => r.id === id);
  }
  setAdmission() {}
  on() {
    return this;
  }
}

const body = (over: Record<string, unknown> = {}) => ({
  kind: 'switchover', from: 'a', to: 'b', epoch: 3, startedAt: '2024-05-01T10:00:00.000Z',
  takeoverMs: 12, switchoverMs: 140, servingMs: 180,
  calls: { connected: { before: 10, kept: 8, endedNormally: 2, lost: 0 }, ringing: { before: 1, kept: 1, endedNormally: 0, lost: 0 } },
  ok: true, problems: [], ...over,
});

describe('what became of a call', () => {
  it('a party or an application ending the call is a normal end; a failed adoption, an error or a forced release is not', () => {
    for (const r of ['caller-bye', 'callee-bye', 'canceled', 'rejected', 'no-route', 'app-rejected', 'app-hangup', 'my-app-reason', 'takeover-ending']) expect(isAbnormalEnd(r), r).toBe(false);
    for (const r of ['takeover-reinvite-failed', 'takeover-unanswered', 'takeover-something-new', 'error', 'answer-failed', 'drain-timeout', 'shutdown', undefined, '']) expect(isAbnormalEnd(r), String(r)).toBe(true);
  });

  it('live, ended (with reason, status, time and the verdict), or unknown', () => {
    expect(callOutcome('1', rec('1', 'answered'))).toEqual({ id: '1', found: 'live', state: 'answered', endReason: null, endStatus: null, endedAt: null, endedNormally: null });
    expect(callOutcome('2', rec('2', 'ended', 'caller-bye'))).toMatchObject({ found: 'ended', state: 'ended', endReason: 'caller-bye', endedAt: new Date(2_000).toISOString(), endedNormally: true });
    expect(callOutcome('3', rec('3', 'failed', 'takeover-unanswered'))).toMatchObject({ found: 'ended', endStatus: 486, endedNormally: false });
    expect(callOutcome('4', undefined)).toMatchObject({ found: 'none', endedNormally: null });
  });

  it('NodeOps.lookupCalls answers from the call control, ended history included', () => {
    const ops = new NodeOps({ nodeId: 'b', version: 't', callControl: new FakeCC([rec('1', 'answered'), rec('2', 'ended', 'callee-bye')]), processMetrics: false });
    expect(ops.lookupCalls(['1', '2', '9']).map((x) => `${x.id}:${x.found}:${x.endedNormally}`)).toEqual(['1:live:null', '2:ended:true', '9:none:null']);
  });
});

describe('drill record', () => {
  it('validates the figures: unknown fields, kinds, counts that do not add up are refused', () => {
    expect(parseDrillRecord(body())).toMatchObject({ kind: 'switchover', takeoverMs: 12, calls: { connected: { kept: 8 } } });
    expect(parseDrillRecord(body({ kind: 'kill', takeoverMs: null, switchoverMs: null })).kind).toBe('kill');
    expect(() => parseDrillRecord(body({ extra: 1 }))).toThrow(/unknown field extra/);
    expect(() => parseDrillRecord(body({ kind: 'reboot' }))).toThrow(/kind must be one of switchover, kill/);
    expect(() => parseDrillRecord(body({ calls: { connected: { before: 10, kept: 9, endedNormally: 0, lost: 0 }, ringing: { before: 0, kept: 0, endedNormally: 0, lost: 0 } } }))).toThrow(/must equal before/);
    expect(() => parseDrillRecord(body({ takeoverMs: -1 }))).toThrow(/takeoverMs must be ms/);
    expect(() => parseDrillRecord(body({ startedAt: 'yesterday' }))).toThrow(/ISO date/);
  });

  it('NodeOps keeps the last drill per kind in its status and its metrics', async () => {
    const ops = new NodeOps({ nodeId: 'b', version: 't', callControl: new FakeCC([]), processMetrics: false, clock: { now: () => 1_714_557_600_000 } as never });
    const text0 = await ops.metrics.metrics();
    expect(text0).not.toMatch(/^dualsip_drill_last_takeover_ms\{/m); // no drill yet: no sample
    ops.recordDrill(parseDrillRecord(body({ calls: { connected: { before: 10, kept: 7, endedNormally: 2, lost: 1 }, ringing: { before: 1, kept: 1, endedNormally: 0, lost: 0 } }, ok: false, problems: ['1 connected call lost'] })));
    const st = ops.status();
    expect(st.drills?.switchover).toMatchObject({ from: 'a', to: 'b', ok: false, recordedAt: '2024-05-01T10:00:00.000Z', problems: ['1 connected call lost'] });
    expect(st.drills?.kill).toBeUndefined();
    const text = await ops.metrics.metrics();
    expect(text).toMatch(/^dualsip_drill_last_takeover_ms\{kind="switchover"\} 12$/m);
    expect(text).toMatch(/^dualsip_drill_last_serving_ms\{kind="switchover"\} 180$/m);
    expect(text).toMatch(/^dualsip_drill_last_calls_kept\{kind="switchover"\} 8$/m);
    expect(text).toMatch(/^dualsip_drill_last_calls_ended_normally\{kind="switchover"\} 2$/m);
    expect(text).toMatch(/^dualsip_drill_last_calls_lost\{kind="switchover"\} 1$/m);
    expect(text).toMatch(/^dualsip_drill_last_ok\{kind="switchover"\} 0$/m);
    expect(text).toMatch(/^dualsip_drill_last_timestamp_seconds\{kind="switchover"\} 1714557600$/m);
    expect(text).toMatch(/^dualsip_drills_total\{kind="switchover",result="failed"\} 1$/m);
    // A later drill replaces the figures; a takeover it could not measure removes the sample.
    ops.recordDrill(parseDrillRecord(body({ takeoverMs: null })));
    const text2 = await ops.metrics.metrics();
    expect(text2).not.toMatch(/^dualsip_drill_last_takeover_ms\{/m);
    expect(text2).toMatch(/^dualsip_drill_last_calls_lost\{kind="switchover"\} 0$/m);
    expect(text2).toMatch(/^dualsip_drill_last_ok\{kind="switchover"\} 1$/m);
  });
});

describe('admin endpoints', () => {
  const servers: AdminServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  async function start(ops: NodeOps): Promise<string> {
    const s = new AdminServer({ node: ops, address: '127.0.0.1', port: 0, token: TOKEN });
    servers.push(s);
    await s.listen();
    return s.url;
  }
  const post = (url: string, path: string, b: unknown) => fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(b) });

  it('POST /v1/calls/lookup and POST /v1/drill (201, then in /v1/status); a bad body is 400', async () => {
    const ops = new NodeOps({ nodeId: 'b', version: 't', callControl: new FakeCC([rec('1', 'answered')]), processMetrics: false });
    const url = await start(ops);
    const l = await post(url, '/v1/calls/lookup', { ids: ['1', '2'] });
    expect(l.status).toBe(200);
    expect(((await l.json()) as Array<{ found: string }>).map((x) => x.found)).toEqual(['live', 'none']);
    const d = await post(url, '/v1/drill', body());
    expect(d.status).toBe(201);
    const st = (await (await fetch(`${url}/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { drills: { switchover: { takeoverMs: number } } };
    expect(st.drills.switchover.takeoverMs).toBe(12);
    const bad = await post(url, '/v1/drill', body({ kind: 'x' }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('ERR_ADMIN_BAD_REQUEST');
    expect((await post(url, '/v1/calls/lookup', { ids: 'nope' })).status).toBe(400);
    const get = await fetch(`${url}/v1/drill`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(get.status).toBe(405);
  });
});
