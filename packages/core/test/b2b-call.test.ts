import { describe, expect, it } from 'vitest';
import { CallControl } from '../src/call-control.js';
import type { CallRecord } from '../src/records/call-record.js';
import { FakeSrf, flush } from './fake-srf.js';

const SDP_A = 'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n';
const SDP_B = 'v=0\r\no=bob 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n';

async function setup(opts: { default?: string; drainTimeoutMs?: number } = {}) {
  const srf = new FakeSrf();
  const published: CallRecord[] = [];
  const cc = new CallControl({
    srf,
    routing: { rules: [{ prefix: '9', target: 'sip:127.0.0.1:5090' }], default: 'default' in opts ? opts.default : 'sip:127.0.0.1:5080' },
    sink: { publish: (r) => void published.push(r) },
    drainTimeoutMs: opts.drainTimeoutMs,
  });
  const ended: CallRecord[] = [];
  cc.on('callEnded', (r) => ended.push(r));
  await cc.start();
  return { srf, cc, published, ended, states: () => published.map((r) => r.state) };
}

async function answeredCall() {
  const t = await setup();
  const a = t.srf.call({ body: SDP_A });
  await flush();
  const uac = t.srf.uacs[0]!;
  uac.provisional(180, 'Ringing');
  const bDialog = uac.answer(SDP_B);
  await flush();
  const aDialog = t.srf.uasDialogs[0]!;
  return { ...t, a, uac, aDialog, bDialog };
}

describe('B2BUA call flows (fake srf)', () => {
  it('routes the INVITE, relays 180 and 200 with SDP unchanged, and records every step', async () => {
    const { a, uac, published, states, cc } = await answeredCall();
    expect(uac.uri).toBe('sip:1000@127.0.0.1:5080');
    expect(uac.opts.localSdp).toBe(SDP_A);
    expect(uac.opts.headers?.From).toBe('"Alice" <sip:alice@127.0.0.1:5070>');
    expect(a.res.statuses()).toEqual([180, 200]);
    expect(a.res.sent[1]!.body).toBe(SDP_B);
    expect(states()).toContain('ringing');
    expect([...new Set(states())]).toEqual(['routing', 'calling', 'ringing', 'answered']);
    expect(published.map((r) => r.version)).toEqual(published.map((_, i) => i + 1));
    const rec = cc.calls()[0]!;
    expect(rec).toMatchObject({
      state: 'answered',
      route: { target: 'sip:127.0.0.1:5080', rule: 'default' },
      a: { role: 'uas', callId: 'call-a-1', remoteTag: 'a1', localTag: 'uas1', remoteCseq: 1, remoteSdp: SDP_A, localSdp: SDP_B, state: 'confirmed', routeSet: ['<sip:p1.example;lr>', '<sip:p2.example;lr>'], inviteBranch: 'z9hG4bK-a1', remoteAddress: '127.0.0.1:5070' },
      b: { role: 'uac', callId: 'call-b-1', localTag: 'b1', remoteTag: 'callee1', localCseq: 1, localSdp: SDP_A, remoteSdp: SDP_B, state: 'confirmed', routeSet: ['<sip:r2;lr>', '<sip:r1;lr>'], remoteTarget: 'sip:bob@127.0.0.1:5080' },
    });
    expect(typeof rec.answeredAt).toBe('number');
  });

  it('BYE from the caller is carried to the callee and the call ends with one final record', async () => {
    const { aDialog, bDialog, ended, cc } = await answeredCall();
    aDialog.bye(2);
    await flush();
    expect(bDialog.destroyed).toBe(1);
    expect(aDialog.destroyed).toBe(0);
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ state: 'ended', endReason: 'caller-bye', ended: true, a: { remoteCseq: 2, state: 'terminated' } });
    expect(cc.calls()).toEqual([]);
  });

  it('a caller BYE handled in the same read that answered the caller still ends the callee leg', async () => {
    const t = await setup();
    t.srf.byeWithAnswer = true;
    t.srf.call({ body: SDP_A });
    await flush();
    const bDialog = t.srf.uacs[0]!.answer(SDP_B);
    await flush();
    expect(bDialog.destroyed).toBe(1);
    expect(t.ended).toHaveLength(1);
    expect(t.ended[0]).toMatchObject({ state: 'ended', endReason: 'caller-bye' });
    expect(t.cc.calls()).toEqual([]);
  });

  it('a callee BYE handled in the same read as its 200 ends the call without answering the caller', async () => {
    const t = await setup();
    const a = t.srf.call({ body: SDP_A });
    await flush();
    const bDialog = t.srf.uacs[0]!.answer(SDP_B);
    bDialog.bye();
    await flush();
    expect(t.ended).toHaveLength(1);
    expect(t.ended[0]!.endReason).toBe('callee-bye');
    expect(a.res.statuses().at(-1)).not.toBe(200);
    expect(t.cc.calls()).toEqual([]);
  });

  it('BYE from the callee is carried to the caller', async () => {
    const { aDialog, bDialog, ended } = await answeredCall();
    bDialog.bye();
    await flush();
    expect(aDialog.destroyed).toBe(1);
    expect(ended[0]).toMatchObject({ state: 'ended', endReason: 'callee-bye' });
  });

  it('re-INVITE from the callee reaches the caller with SDP unchanged, and the answer comes back', async () => {
    const { aDialog, bDialog, cc } = await answeredCall();
    const newSdp = SDP_B.replace('7000', '7002');
    const res = bDialog.incoming('modify', 'INVITE', newSdp, 5);
    expect(aDialog.sent).toHaveLength(1);
    expect(aDialog.sent[0]).toMatchObject({ method: 'INVITE', body: newSdp });
    const answer = SDP_A.replace('6000', '6002');
    aDialog.sent[0]!.respond(200, 'OK', { body: answer, headers: { 'Content-Type': 'application/sdp' } });
    expect(res.sent).toEqual([{ status: 200, reason: 'OK', body: answer, headers: { 'Content-Type': 'application/sdp' } }]);
    const rec = cc.calls()[0]!;
    expect(rec.b).toMatchObject({ remoteSdp: newSdp, localSdp: answer, remoteCseq: 5 });
    expect(rec.a).toMatchObject({ localSdp: newSdp, remoteSdp: answer, localCseq: 2 });
  });

  it('a failed re-INVITE passes its status back', async () => {
    const { aDialog, bDialog } = await answeredCall();
    const res = aDialog.incoming('modify', 'INVITE', SDP_A);
    bDialog.sent[0]!.respond(488, 'Not Acceptable Here');
    expect(res.sent[0]).toMatchObject({ status: 488, reason: 'Not Acceptable Here' });
  });

  it('a second re-INVITE while one is relayed gets 491 (RFC 3261 §14.2)', async () => {
    const { aDialog, bDialog } = await answeredCall();
    aDialog.incoming('modify', 'INVITE', SDP_A);
    const second = bDialog.incoming('modify', 'INVITE', SDP_B);
    expect(second.sent[0]!.status).toBe(491);
  });

  it('UPDATE and INFO are carried both ways', async () => {
    const { aDialog, bDialog } = await answeredCall();
    const upd = aDialog.incoming('update', 'UPDATE', SDP_A);
    expect(bDialog.sent[0]).toMatchObject({ method: 'UPDATE', body: SDP_A });
    bDialog.sent[0]!.respond(200, 'OK', { body: SDP_B });
    expect(upd.sent[0]).toMatchObject({ status: 200, body: SDP_B });

    const info = bDialog.incoming('info', 'INFO', 'Signal=5');
    expect(aDialog.sent[0]).toMatchObject({ method: 'INFO', body: 'Signal=5' });
    aDialog.sent[0]!.respond(200, 'OK');
    expect(info.sent[0]!.status).toBe(200);
  });

  it('the callee answering 486 gives the caller 486', async () => {
    const t = await setup();
    const a = t.srf.call({ body: SDP_A });
    await flush();
    t.srf.uacs[0]!.reject(486, 'Busy Here');
    await flush();
    expect(a.res.sent).toEqual([{ status: 486, reason: 'Busy Here', headers: {}, body: undefined }]);
    expect(t.ended).toHaveLength(1);
    expect(t.ended[0]).toMatchObject({ state: 'failed', endStatus: 486, endReason: 'rejected' });
  });

  it('"the UAS SHOULD then respond to the INVITE with a 487" and the CANCEL reaches the callee (RFC 3261 §9.2)', async () => {
    const t = await setup();
    const a = t.srf.call({ body: SDP_A });
    await flush();
    const uac = t.srf.uacs[0]!;
    uac.provisional(180, 'Ringing');
    a.req.emit('cancel', { get: () => '1 CANCEL', has: () => true });
    expect(a.res.statuses()).toEqual([180, 487]);
    expect(uac.req.canceled).toBe(1);
    expect(t.ended).toHaveLength(0);
    uac.reject(487, 'Request Terminated');
    await flush();
    expect(t.ended).toHaveLength(1);
    expect(t.ended[0]).toMatchObject({ state: 'failed', endStatus: 487, endReason: 'canceled' });
    expect(a.res.statuses()).toEqual([180, 487]);
  });

  it('"If no provisional response has been received, the CANCEL request MUST NOT be sent" (RFC 3261 §9.1)', async () => {
    const t = await setup();
    const a = t.srf.call({ body: SDP_A });
    await flush();
    const uac = t.srf.uacs[0]!;
    a.req.emit('cancel', { get: () => '1 CANCEL', has: () => true });
    expect(uac.req.canceled).toBe(0);
    expect(a.res.statuses()).toEqual([487]);
    uac.provisional(100, 'Trying');
    expect(uac.req.canceled).toBe(1);
  });

  it('the callee answering after the caller canceled is released with BYE', async () => {
    const t = await setup();
    const a = t.srf.call({ body: SDP_A });
    await flush();
    const uac = t.srf.uacs[0]!;
    uac.provisional(180, 'Ringing');
    a.req.emit('cancel', { get: () => '1 CANCEL', has: () => true });
    const b = uac.answer(SDP_B);
    await flush();
    expect(b.destroyed).toBe(1);
    expect(t.srf.uasDialogs).toHaveLength(0);
    expect(t.ended).toHaveLength(1);
    expect(t.ended[0]).toMatchObject({ state: 'failed', endStatus: 487 });
  });

  it('no route and no default: "404 ... the domain in the Request-URI does not match" (RFC 3261 §21.4.5)', async () => {
    const t = await setup({ default: undefined });
    const a = t.srf.call({ user: '1000', body: SDP_A });
    await flush();
    expect(a.res.statuses()).toEqual([404]);
    expect(t.srf.uacs).toHaveLength(0);
    expect(t.ended[0]).toMatchObject({ state: 'failed', endStatus: 404, endReason: 'no-route' });
    const routed = t.srf.call({ user: '9123', body: SDP_A });
    await flush();
    expect(routed.res.statuses()).toEqual([]);
    expect(t.srf.uacs[0]!.uri).toBe('sip:9123@127.0.0.1:5090');
  });

  it('an INVITE without SDP asks for a delayed-offer B leg (noAck, no SDP)', async () => {
    const t = await setup();
    const a = t.srf.call({});
    await flush();
    const uac = t.srf.uacs[0]!;
    expect(uac.opts.noAck).toBe(true);
    expect(uac.opts.localSdp).toBeUndefined();
  });

  it('close() refuses new calls with 503, waits for calls, and releases them at the timeout', async () => {
    const { srf, cc, aDialog, bDialog, ended } = await answeredCall();
    const closing = cc.close({ timeoutMs: 50 });
    const late = srf.call({ body: SDP_A });
    expect(late.res.statuses()).toEqual([503]);
    await closing;
    expect(aDialog.destroyed).toBe(1);
    expect(bDialog.destroyed).toBe(1);
    expect(ended[0]).toMatchObject({ state: 'ended', endReason: 'drain-timeout' });
    expect(cc.phase).toBe('closed');
    await cc.close(); // idempotent
    cc.destroy();
  });

  it('a listener that throws does not break the call', async () => {
    const srf = new FakeSrf();
    const cc = new CallControl({ srf, routing: { rules: [], default: 'sip:127.0.0.1:5080' } });
    cc.on('record', () => {
      throw new Error('listener bug');
    });
    await cc.start();
    const a = srf.call({ body: SDP_A });
    await flush();
    srf.uacs[0]!.answer(SDP_B);
    await flush();
    expect(a.res.statuses()).toEqual([200]);
    expect(cc.calls()[0]!.state).toBe('answered');
  });
});
