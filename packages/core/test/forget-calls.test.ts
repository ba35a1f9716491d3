// CallControl.forgetCalls(): a node that lost the active role (stepped down or fenced)
// drops its live call state WITHOUT sending SIP — the new active owns those calls.
import { describe, expect, it } from 'vitest';
import { CallControl } from '../src/call-control.js';
import type { CallRecord } from '../src/records/call-record.js';
import { FakeSrf, flush } from './fake-srf.js';
import { FakeTakeoverSrf, answeredRecord, fromParty } from './takeover/fake-takeover-srf.js';

const SDP_A = 'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n';
const SDP_B = 'v=0\r\no=bob 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n';

async function setup() {
  const t = new FakeTakeoverSrf();
  const s = new FakeSrf();
  const srf = Object.assign(t, { invite: s.invite.bind(s), createUAS: s.createUAS.bind(s), createUAC: s.createUAC.bind(s) });
  const published: CallRecord[] = [];
  const cc = new CallControl({ srf, routing: { rules: [], default: 'sip:127.0.0.1:5080' }, sink: { publish: (r) => void published.push(r) }, drainTimeoutMs: 50 });
  const ended: CallRecord[] = [];
  cc.on('callEnded', (r) => ended.push(r));
  await cc.start();
  return { cc, srf, calls: s, published, ended };
}

describe('CallControl.forgetCalls', () => {
  it('drops answered, ringing and adopted calls without sending SIP, publishing or ending any record', async () => {
    const { cc, srf, calls, published, ended } = await setup();
    // An answered call.
    calls.call({ body: SDP_A });
    await flush();
    calls.uacs[0]!.provisional(180, 'Ringing');
    const bDialog = calls.uacs[0]!.answer(SDP_B);
    await flush();
    const aDialog = calls.uasDialogs[0]!;
    // A ringing call.
    calls.call({ body: SDP_A });
    await flush();
    calls.uacs[1]!.provisional(180, 'Ringing');
    await flush();
    // An adopted call.
    await cc.adoptCalls([answeredRecord('adopted-1')]);
    expect(cc.calls().map((c) => c.state).sort()).toEqual(['answered', 'answered', 'ringing']);
    const publishedBefore = published.length;

    const n = cc.forgetCalls('stepped down');
    await flush();

    expect(n).toBe(3);
    expect(cc.calls()).toEqual([]);
    // No SIP: no BYE on the dialogs, no CANCEL to the ringing callee, no request on adopted legs.
    expect(aDialog.destroyed).toBe(0);
    expect(bDialog.destroyed).toBe(0);
    expect(calls.uacs[1]!.req.canceled).toBe(0);
    expect(srf.sent).toEqual([]);
    // Nothing published or ended: the new active owns the records.
    expect(published.length).toBe(publishedBefore);
    expect(ended).toEqual([]);
  });

  it('late events of a forgotten call change nothing: a BYE, the ringing callee answering, a request on an adopted leg', async () => {
    const { cc, srf, calls, published, ended } = await setup();
    calls.call({ body: SDP_A });
    await flush();
    calls.uacs[0]!.answer(SDP_B);
    await flush();
    const aDialog = calls.uasDialogs[0]!;
    calls.call({ body: SDP_A });
    await flush();
    await cc.adoptCalls([answeredRecord('adopted-1')]);
    cc.forgetCalls('fenced');
    const publishedBefore = published.length;
    aDialog.bye();
    calls.uacs[1]!.answer(SDP_B);
    await flush();
    // A BYE for the adopted call is no longer matched to it (the takeover handlers answer 481).
    const res = srf.deliver('BYE', fromParty(answeredRecord('adopted-1').b, 'BYE', 2));
    await flush();
    expect(res.sent.map((r) => r.status)).toEqual([481]);
    expect(published.length).toBe(publishedBefore);
    expect(ended).toEqual([]);
    expect(cc.calls()).toEqual([]);
  });

  it('a call forgotten on stepping down and adopted again by the same node ends when its BYE reaches the old dialog (chaos seed 20240611)', async () => {
    // B stepped down for a switchover, A's takeover failed, B took over again and adopted
    // its own calls from the mirror. drachtio-srf still delivers their in-dialog requests
    // to the dialogs of the forgotten calls, so the adopted copies never saw the BYEs
    // and stayed answered for good.
    const { cc, srf, calls, ended } = await setup();
    calls.call({ body: SDP_A });
    await flush();
    const bDialog = calls.uacs[0]!.answer(SDP_B);
    await flush();
    const aDialog = calls.uasDialogs[0]!;
    const [rec] = cc.calls();
    expect(rec!.state).toBe('answered');
    cc.forgetCalls('stepped down');
    await cc.adoptCalls([rec!]);
    expect(cc.calls().map((c) => c.id)).toEqual([rec!.id]);

    aDialog.bye(); // the caller hangs up; drachtio-srf answers 200 on the old dialog
    await flush();
    // The adopted call ends the callee leg (its own BYE, CSeq above the mirrored one)...
    const byes = srf.sent.filter((x) => x.method === 'BYE');
    expect(byes).toHaveLength(1);
    expect(byes[0]!.headers['Call-ID']).toBe(rec!.b.callId);
    byes[0]!.respond(200);
    await flush();
    // ...the forgotten call sends nothing, and exactly one end record is written.
    expect(bDialog.destroyed).toBe(0);
    expect(ended.map((e) => [e.id, e.endReason])).toEqual([[rec!.id, 'caller-bye']]);
    expect(cc.calls()).toEqual([]);
  });

  it('INVITEs held by the admission are dropped unanswered', async () => {
    const { cc, calls } = await setup();
    cc.setAdmission(() => ({ action: 'hold' }));
    const { res } = calls.call({ body: SDP_A });
    expect(cc.heldInvites).toBe(1);
    cc.forgetCalls('stepped down');
    expect(cc.heldInvites).toBe(0);
    cc.setAdmission(undefined);
    expect(res.sent).toEqual([]);
  });

  it('close() after forgetCalls() has nothing to drain or release', async () => {
    const { cc, calls } = await setup();
    calls.call({ body: SDP_A });
    await flush();
    const bDialog = calls.uacs[0]!.answer(SDP_B);
    await flush();
    cc.forgetCalls('stepped down');
    const t0 = Date.now();
    await cc.close({ timeoutMs: 30_000 });
    // Nothing left to drain: close does not wait out the 30 s timeout.
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(bDialog.destroyed).toBe(0);
  });
});
