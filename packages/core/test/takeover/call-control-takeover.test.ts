import { describe, expect, it } from 'vitest';
import { CallControl } from '../../src/call-control.js';
import type { CallRecord } from '../../src/records/call-record.js';
import { FakeSrf, flush } from '../fake-srf.js';
import { FakeTakeoverResponse, FakeTakeoverSrf, SDP_A, answeredRecord, fromParty } from './fake-takeover-srf.js';
import { FakeIncomingRequest } from '../fake-srf.js';

/** drachtio-srf's surface for both: INVITE handling (FakeSrf) and requests in unknown dialogs (FakeTakeoverSrf). */
function combinedSrf() {
  const t = new FakeTakeoverSrf();
  const s = new FakeSrf();
  const srf = Object.assign(t, { invite: s.invite.bind(s), createUAS: s.createUAS.bind(s), createUAC: s.createUAC.bind(s) });
  return { srf, calls: s };
}

async function started() {
  const { srf, calls } = combinedSrf();
  const cc = new CallControl({ srf, routing: { rules: [], default: 'sip:198.18.0.20:5080' }, drainTimeoutMs: 1000 });
  await cc.start();
  const ended: CallRecord[] = [];
  cc.on('callEnded', (r) => ended.push(r));
  return { cc, srf, calls, ended };
}

describe('CallControl.adoptCalls', () => {
  it('refuses before start()', async () => {
    const { srf } = combinedSrf();
    const cc = new CallControl({ srf, routing: { rules: [], default: 'sip:198.18.0.20:5080' } });
    await expect(cc.adoptCalls([answeredRecord()])).rejects.toMatchObject({ code: 'ERR_NOT_STARTED' });
  });

  it('adopted calls are listed by calls(); a re-INVITE reaching the invite handler goes to the adopted call, not to a new call', async () => {
    const { cc, srf, calls } = await started();
    const rec = answeredRecord();
    await cc.adoptCalls([rec]);
    expect(cc.calls().map((c) => c.id)).toEqual(['call-1']);
    const req = new FakeIncomingRequest({ uri: 'sip:198.18.0.1', headers: fromParty(rec.a, 'INVITE', 2, { 'Content-Type': 'application/sdp' }), body: SDP_A });
    const res = new FakeTakeoverResponse();
    calls.handler!(req, res as never);
    expect(srf.sent.map((s) => [s.method, s.headers['Call-ID'], s.headers['CSeq']])).toEqual([['INVITE', 'call-1-b', '4 INVITE']]);
    expect(calls.uacs).toHaveLength(0);
    expect(cc.calls()).toHaveLength(1);
  });

  it('callEnded is emitted exactly once per adopted call; close() releases adopted calls with BYE on both legs', async () => {
    const { cc, srf, ended } = await started();
    await cc.adoptCalls([answeredRecord('c1'), answeredRecord('c2')]);
    srf.deliver('BYE', fromParty(answeredRecord('c1').b, 'BYE', 2));
    srf.sent[0]!.respond(200);
    await flush();
    expect(ended.map((e) => e.id)).toEqual(['c1']);
    const closing = cc.close({ timeoutMs: 10 });
    await new Promise((r) => setTimeout(r, 30));
    await flush();
    const byes = srf.sent.slice(1);
    expect(byes.map((s) => `${s.headers['Call-ID']} ${s.headers['CSeq']}`).sort()).toEqual(['c2-a 1 BYE', 'c2-b 4 BYE']);
    for (const b of byes) b.respond(200);
    await closing;
    expect(ended.map((e) => [e.id, e.endReason])).toEqual([['c1', 'callee-bye'], ['c2', 'drain-timeout']]);
  });
});
