/**
 * Ringing calls at takeover (resume.ts, AdoptedCall#resumeRinging) against the fake drachtio-srf.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock, flushMicrotasks as flush } from '../../src/ha/clock.js';
import { CallRecordStore } from '../../src/records/call-record-store.js';
import type { CallRecord } from '../../src/records/call-record.js';
import { TakeoverManager } from '../../src/takeover/takeover-manager.js';
import { FakeTakeoverSrf, SDP_A, SDP_B, answeredRecord, fromParty } from './fake-takeover-srf.js';

function setup() {
  const srf = new FakeTakeoverSrf();
  const clock = new ManualClock({ start: 50_000 });
  const store = new CallRecordStore({ clock, epoch: () => 2, sink: { publish: () => {} } });
  const mgr = new TakeoverManager({ srf: () => srf, store, logger: pino({ level: 'silent' }), clock });
  const ended: CallRecord[] = [];
  mgr.on('callEnded', (r) => ended.push(r));
  return { srf, clock, store, mgr, ended };
}

function ringingRecord(id = 'r1'): CallRecord {
  const base = answeredRecord(id);
  return {
    ...base,
    state: 'ringing',
    answeredAt: undefined,
    a: {
      ...base.a,
      state: 'early',
      localAddress: '198.18.0.1:5060',
      invite: {
        vias: ['SIP/2.0/UDP 198.18.0.10:5070;branch=z9hG4bKcaller;rport=5070'],
        from: `<${base.a.remoteUri}>;tag=${base.a.remoteTag}`,
        to: `<${base.a.localUri}>`,
        cseq: 1,
        source: { transport: 'udp', address: '198.18.0.10', port: 5070 },
      },
    },
    b: { ...base.b, localCseq: 1, state: 'early', inviteBranch: 'z9hG4bKdead', remoteTarget: undefined },
  };
}

/** What our engine does with the control request: confirm it and hand back the caller's INVITE. */
function engineResumes(srf: FakeTakeoverSrf, mgr: TakeoverManager, rec: CallRecord) {
  const ctl = srf.sent[0]!;
  const incoming = srf.incoming('INVITE', { 'Call-ID': rec.a.callId, From: rec.a.invite!.from, To: rec.a.invite!.to, CSeq: '1 INVITE', 'X-Dualsip-Resumed': rec.a.callId }, SDP_A);
  expect(mgr.offerInvite(incoming.req, incoming.res)).toBe(true);
  ctl.respond(200, 'OK', { headers: { 'X-Dualsip-Resume': 'ok' } });
  return { ctl, ...incoming };
}

describe('takeover of a ringing call (resume)', () => {
  it('on a stock drachtio-server (control request answered without X-Dualsip-Resume: ok) nothing is resumed: no INVITE to the callee, the early dialog is released with BYE', async () => {
    const { srf, mgr, ended } = setup();
    const rec = ringingRecord();
    const p = mgr.adoptCalls([rec]);
    await flush();
    expect(srf.sent.map((s) => s.method)).toEqual(['OPTIONS']);
    expect(srf.sent[0]!.uri).toBe('sip:198.18.0.1:5060');
    expect(srf.sent[0]!.headers['X-Dualsip-Resume-Uas']).toBeTruthy();
    expect(await p).toMatchObject({ resuming: 1, failed: 0 });
    srf.sent[0]!.respond(200);
    await flush();
    expect(srf.sent.map((s) => s.method)).toEqual(['OPTIONS', 'BYE']);
    srf.sent[1]!.respond(200);
    await flush();
    expect(ended.map((e) => [e.state, e.endReason])).toEqual([['failed', 'takeover-unanswered']]);
  });

  it('the callee\'s 200 reaches the caller: the callee INVITE is resumed on the original branch and CSeq, ACKed, and the caller answered 200 with its SDP; in-dialog requests then match the call', async () => {
    const { srf, mgr, ended, store } = setup();
    const rec = ringingRecord();
    await mgr.adoptCalls([rec]);
    await flush();
    const { res } = engineResumes(srf, mgr, rec);
    await flush();
    const inv = srf.sent[1]!;
    expect(inv.method).toBe('INVITE');
    expect(inv.headers).toMatchObject({ 'X-Dualsip-Resume': 'z9hG4bKdead', CSeq: '1 INVITE', 'Call-ID': rec.b.callId });
    expect(inv.headers['From']).toContain(`tag=${rec.b.localTag}`);
    expect(inv.headers['To']).not.toContain('tag=');
    inv.respond(180, 'Ringing', { headers: { To: `<${rec.b.remoteUri}>;tag=${rec.b.remoteTag}` } });
    inv.respond(200, 'OK', { body: SDP_B, headers: { To: `<${rec.b.remoteUri}>;tag=${rec.b.remoteTag}`, Contact: '<sip:bob@198.18.0.20:5080>', 'Content-Type': 'application/sdp' } });
    await flush();
    expect(inv.acks).toHaveLength(1);
    expect(res.sent.map((s) => s.status)).toEqual([180, 200]);
    expect(res.sent[1]!.body).toBe(SDP_B);
    expect(store.get(rec.id)).toMatchObject({ state: 'answered', a: { state: 'confirmed' }, b: { state: 'confirmed', remoteTarget: 'sip:bob@198.18.0.20:5080' } });
    // the caller hangs up: BYE answered, carried to the callee
    expect(srf.deliver('BYE', fromParty(rec.a, 'BYE', 2)).status).toBe(200);
    await flush();
    const bye = srf.sent[2]!;
    expect(bye.method).toBe('BYE');
    bye.respond(200);
    await flush();
    expect(ended.map((e) => [e.state, e.endReason])).toEqual([['ended', 'caller-bye']]);
  });

  it('a callee failure reaches the caller with the same status (486)', async () => {
    const { srf, mgr, ended } = setup();
    const rec = ringingRecord();
    await mgr.adoptCalls([rec]);
    await flush();
    const { res } = engineResumes(srf, mgr, rec);
    await flush();
    srf.sent[1]!.respond(486, 'Busy Here');
    await flush();
    expect(res.sent.map((s) => [s.status, s.reason])).toEqual([[486, 'Busy Here']]);
    expect(ended.map((e) => [e.state, e.endStatus, e.endReason])).toEqual([['failed', 486, 'rejected']]);
  });

  it('the caller\'s CANCEL (matching the resumed INVITE) is carried to the callee; its 487 ends the call as canceled', async () => {
    const { srf, mgr, ended } = setup();
    const rec = ringingRecord();
    await mgr.adoptCalls([rec]);
    await flush();
    const { req, res } = engineResumes(srf, mgr, rec);
    await flush();
    const inv = srf.sent[1]!;
    let canceled = 0;
    (inv.msg as unknown as { cancel: () => void }).cancel = () => void canceled++;
    req.emit('cancel', {});
    expect(canceled).toBe(1);
    inv.respond(487, 'Request Terminated');
    await flush();
    expect(res.sent).toHaveLength(0); // the engine answered the INVITE 487 itself
    expect(ended.map((e) => [e.state, e.endStatus, e.endReason])).toEqual([['failed', 487, 'canceled']]);
  });

  it('§13.3.1.4: no ACK from the caller for the 200 within 64*T1: the callee is released with BYE (the SIP server BYEs the caller); an ACK in time keeps the call', async () => {
    for (const acked of [false, true]) {
      const { srf, mgr, ended, clock } = setup();
      const rec = ringingRecord(acked ? 'r-acked' : 'r-lost');
      await mgr.adoptCalls([rec]);
      await flush();
      const { res } = engineResumes(srf, mgr, rec);
      await flush();
      srf.sent[1]!.respond(200, 'OK', { body: SDP_B, headers: { To: `<${rec.b.remoteUri}>;tag=${rec.b.remoteTag}`, Contact: '<sip:bob@198.18.0.20:5080>', 'Content-Type': 'application/sdp' } });
      await flush();
      expect(res.sent.map((x) => x.status)).toEqual([200]);
      if (acked) res.fnAck!(srf.incoming('ACK', fromParty(rec.a, 'ACK', 1)).req);
      clock.advance(32_000);
      await flush();
      if (acked) {
        expect(srf.sent.map((x) => x.method)).toEqual(['OPTIONS', 'INVITE']);
        expect(mgr.size).toBe(1);
        continue;
      }
      expect(srf.sent.map((x) => x.method)).toEqual(['OPTIONS', 'INVITE', 'BYE']);
      expect(srf.sent[2]!.headers['Call-ID']).toBe(rec.b.callId);
      srf.sent[2]!.respond(200);
      await flush();
      expect(ended.map((e) => [e.state, e.endReason])).toEqual([['ended', 'ack-timeout']]);
    }
  });

  it('§9.1: the caller CANCELs and the callee never answers the INVITE: after 64*T1 the call ends as canceled (487), one record', async () => {
    const { srf, mgr, ended, clock } = setup();
    const rec = ringingRecord();
    await mgr.adoptCalls([rec]);
    await flush();
    const { req } = engineResumes(srf, mgr, rec);
    await flush();
    (srf.sent[1]!.msg as unknown as { cancel: () => void }).cancel = () => {};
    req.emit('cancel', {});
    clock.advance(31_000);
    await flush();
    expect(ended).toHaveLength(0);
    clock.advance(1_000);
    await flush();
    expect(ended.map((e) => [e.state, e.endStatus, e.endReason])).toEqual([['failed', 487, 'canceled']]);
    srf.sent[1]!.respond(487, 'Request Terminated'); // a late 487 changes nothing
    await flush();
    expect(ended).toHaveLength(1);
  });
});
