import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock, flushMicrotasks as flush } from '../../src/ha/clock.js';
import { CallRecordStore } from '../../src/records/call-record-store.js';
import type { CallRecord } from '../../src/records/call-record.js';
import { AdoptedCallState, transitionAdopted } from '../../src/takeover/adopted-call-state.js';
import { TakeoverManager, type TakeoverOptions, type TakeoverProgress } from '../../src/takeover/takeover-manager.js';
import { FakeMsg } from '../fake-srf.js';
import { FakeTakeoverSrf, SDP_A, SDP_B, answeredRecord, fakeDialogClass, fromParty } from './fake-takeover-srf.js';

function setup(opts: TakeoverOptions = {}) {
  const srf = new FakeTakeoverSrf();
  const clock = new ManualClock({ start: 50_000 });
  const published: CallRecord[] = [];
  const store = new CallRecordStore({ clock, epoch: () => 2, sink: { publish: (r) => void published.push(r) } });
  const mgr = new TakeoverManager({ ...opts, srf: () => srf, store, logger: pino({ level: 'silent' }), clock });
  const ended: CallRecord[] = [];
  const progress: TakeoverProgress[] = [];
  mgr.on('callEnded', (r) => ended.push(r));
  mgr.on('progress', (p) => progress.push(p));
  return { srf, clock, store, mgr, ended, progress, published };
}

describe('adopted call state machine', () => {
  it('transition() rejects illegal moves (ended is final, a ringing call is answered or fails but never ends before it was answered)', () => {
    expect(transitionAdopted(AdoptedCallState.Answered, AdoptedCallState.Ending)).toBe('ending');
    expect(transitionAdopted(AdoptedCallState.Ringing, AdoptedCallState.Answered)).toBe('answered');
    expect(() => transitionAdopted(AdoptedCallState.Ended, AdoptedCallState.Ending)).toThrow(expect.objectContaining({ code: 'ERR_ILLEGAL_TRANSITION' }));
    expect(() => transitionAdopted(AdoptedCallState.Ringing, AdoptedCallState.Ending)).toThrow(expect.objectContaining({ code: 'ERR_ILLEGAL_TRANSITION' }));
  });
});

describe("takeover, adoptionMode 'app' (engine hands unknown-dialog requests to the app)", () => {
  it('adopts answered calls without sending anything; skips ended, invalid and duplicate records', async () => {
    const { srf, mgr, store } = setup();
    const bad = { ...answeredRecord('bad'), schemaVersion: 99 } as CallRecord;
    const over = answeredRecord('over', { state: 'ended', ended: true });
    const p = await mgr.adoptCalls([answeredRecord('c1'), answeredRecord('c2'), bad, over]);
    expect(p).toMatchObject({ mode: 'app', total: 4, adopted: 2, failed: 0, skipped: 2 });
    expect(srf.sent).toHaveLength(0);
    expect(store.live().map((r) => r.id).sort()).toEqual(['c1', 'c2']);
    expect((await mgr.adoptCalls([answeredRecord('c1')])).skipped).toBe(1);
    expect(Object.keys(srf.handlers).sort()).toEqual(['ack', 'bye', 'info', 'options', 'update']);
  });

  it('BYE from the caller: the UAS core MUST generate a 2xx response to the BYE; BYE to the callee with the mirrored Call-ID, tags, remote target, route set and CSeq incremented by one', async () => {
    const { srf, mgr, ended, store, published } = setup();
    const rec = answeredRecord();
    await mgr.adoptCalls([rec]);
    const res = srf.deliver('BYE', fromParty(rec.a, 'BYE', 2));
    expect(res.status).toBe(200);
    expect(srf.sent).toHaveLength(1);
    const bye = srf.sent[0]!;
    expect(bye.method).toBe('BYE');
    expect(bye.uri).toBe('sip:bob@198.18.0.20:5080');
    expect(bye.headers).toEqual({
      'Call-ID': 'call-1-b',
      From: '<sip:alice@198.18.0.10>;tag=call-1-b-ours',
      To: '<sip:bob@198.18.0.20:5080>;tag=call-1-b-callee',
      CSeq: '4 BYE',
      Contact: '<sip:198.18.0.1:5060>',
      Route: '<sip:198.18.0.30;lr>',
    });
    expect(ended).toHaveLength(0);
    bye.respond(200);
    await flush();
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ state: 'ended', endReason: 'caller-bye', ended: true, epoch: 2 });
    expect(ended[0]!.version).toBeGreaterThan(rec.version);
    expect(ended[0]!.b.localCseq).toBe(4);
    expect(ended[0]!.a.remoteCseq).toBe(2);
    expect(published.at(-1)).toBe(ended[0]); // the sync sink sees the end record
    expect(store.live()).toHaveLength(0);
    // a retransmitted BYE is answered 200 again, and ends nothing twice
    expect(srf.deliver('BYE', fromParty(rec.a, 'BYE', 2)).status).toBe(200);
    await flush();
    expect(srf.sent).toHaveLength(1);
    expect(ended).toHaveLength(1);
  });

  it('BYE from the callee is matched on the other leg; the caller leg had an empty local sequence number, so CSeq starts at 1', async () => {
    const { srf, mgr, ended } = setup();
    const rec = answeredRecord();
    await mgr.adoptCalls([rec]);
    expect(srf.deliver('BYE', fromParty(rec.b, 'BYE', 2)).status).toBe(200);
    const bye = srf.sent[0]!;
    expect(bye.uri).toBe('sip:alice@198.18.0.10:5070');
    expect(bye.headers).toMatchObject({ 'Call-ID': 'call-1-a', From: '<sip:bob@198.18.0.1>;tag=call-1-a-ours', To: '<sip:alice@198.18.0.10>;tag=call-1-a-caller', CSeq: '1 BYE' });
    expect(bye.headers['Route']).toBeUndefined();
    bye.respond(481); // the far end forgot the dialog: the call still ends, once
    await flush();
    expect(ended.map((e) => e.endReason)).toEqual(['callee-bye']);
  });

  it('cseqSkip leaves a margin above the mirrored CSeq once, then CSeq is incremented by one', async () => {
    const { srf, mgr } = setup({ cseqSkip: 100 });
    const rec = answeredRecord();
    await mgr.adoptCalls([rec]);
    srf.deliver('INFO', fromParty(rec.a, 'INFO', 2, { 'Content-Type': 'application/dtmf-relay' }), 'Signal=1');
    expect(srf.sent[0]!.headers['CSeq']).toBe('104 INFO');
    srf.sent[0]!.respond(200);
    await flush();
    srf.deliver('INFO', fromParty(rec.a, 'INFO', 3, { 'Content-Type': 'application/dtmf-relay' }), 'Signal=2');
    expect(srf.sent[1]!.headers['CSeq']).toBe('105 INFO');
    expect(srf.sent[1]!.headers['Content-Type']).toBe('application/dtmf-relay');
    expect(srf.sent[1]!.body).toBe('Signal=2');
  });

  it('re-INVITE offered by CallControl (offerInvite): relayed to the other leg with CSeq above the mirrored one, 2xx ACKed, answer back, versions bump', async () => {
    const { srf, mgr, store } = setup();
    const rec = answeredRecord();
    await mgr.adoptCalls([rec]);
    const newB = SDP_B.replace('20000', '20002');
    const newA = SDP_A.replace('10000', '10002');
    const before = store.get(rec.id)!.version;
    const { req, res } = srf.incoming('INVITE', fromParty(rec.b, 'INVITE', 2, { 'Content-Type': 'application/sdp' }), newB);
    expect(mgr.offerInvite(req, res)).toBe(true);
    const inv = srf.sent[0]!;
    expect(inv).toMatchObject({ method: 'INVITE', uri: 'sip:alice@198.18.0.10:5070', body: newB });
    expect(inv.headers).toMatchObject({ 'Call-ID': 'call-1-a', CSeq: '1 INVITE', 'Content-Type': 'application/sdp', Contact: '<sip:198.18.0.1:5060>' });
    inv.respond(200, 'OK', { body: newA, headers: { 'Content-Type': 'application/sdp' } });
    await flush();
    expect(inv.acks).toHaveLength(1);
    expect(res.sent[0]).toMatchObject({ status: 200, body: newA, headers: { 'Content-Type': 'application/sdp' } });
    const r = store.get(rec.id)!;
    expect(r.version).toBeGreaterThan(before);
    expect(r).toMatchObject({ state: 'answered', a: { localSdp: newB, remoteSdp: newA, localCseq: 1 }, b: { remoteSdp: newB, localSdp: newA, remoteCseq: 2 } });
  });

  it('a re-INVITE without SDP (delayed offer): the offer in the other 2xx goes back, the answer in the ACK is relayed', async () => {
    const { srf, mgr, store } = setup();
    const rec = answeredRecord();
    await mgr.adoptCalls([rec]);
    const { req, res } = srf.incoming('INVITE', fromParty(rec.a, 'INVITE', 2));
    mgr.offerInvite(req, res);
    const inv = srf.sent[0]!;
    expect(inv.body).toBeUndefined();
    inv.respond(200, 'OK', { body: SDP_B, headers: { 'Content-Type': 'application/sdp' } });
    await flush();
    expect(inv.acks).toHaveLength(0); // held until the caller's ACK brings the answer
    expect(res.fnAck).toBeTypeOf('function');
    res.fnAck!(new FakeMsg({ CSeq: '2 ACK' }, SDP_A));
    expect(inv.acks).toEqual([{ body: SDP_A }]);
    expect(store.get(rec.id)!.b.localSdp).toBe(SDP_A);
  });

  it('the sequence number of the request is lower than the remote sequence number: the request is out of order and MUST be rejected with a 500', async () => {
    const { srf, mgr } = setup();
    const rec = answeredRecord('c', { b: { ...answeredRecord('c').b, remoteCseq: 5 } });
    await mgr.adoptCalls([rec]);
    expect(srf.deliver('UPDATE', fromParty(rec.b, 'UPDATE', 4)).status).toBe(500);
    expect(srf.sent).toHaveLength(0);
  });

  it('A UAS that receives an INVITE on a dialog while an INVITE it had sent on that dialog is in progress MUST return a 491', async () => {
    const { srf, mgr } = setup();
    const rec = answeredRecord();
    await mgr.adoptCalls([rec]);
    const first = srf.incoming('INVITE', fromParty(rec.a, 'INVITE', 2, { 'Content-Type': 'application/sdp' }), SDP_A);
    mgr.offerInvite(first.req, first.res);
    const second = srf.incoming('INVITE', fromParty(rec.b, 'INVITE', 2, { 'Content-Type': 'application/sdp' }), SDP_B);
    mgr.offerInvite(second.req, second.res);
    expect(second.res.status).toBe(491);
    expect(srf.sent).toHaveLength(1);
  });

  it('a request whose dialog matches no adopted call: respond with a 481 (does not wish to recreate the dialog); OPTIONS outside a dialog gets 200; a new INVITE is left to call control', async () => {
    const { srf, mgr } = setup();
    await mgr.adoptCalls([answeredRecord()]);
    expect(srf.deliver('BYE', { 'Call-ID': 'x', From: '<sip:a@h>;tag=1', To: '<sip:b@h>;tag=2', CSeq: '2 BYE' }).status).toBe(481);
    expect(srf.deliver('OPTIONS', { 'Call-ID': 'y', From: '<sip:a@h>;tag=1', To: '<sip:b@h>', CSeq: '1 OPTIONS' }).status).toBe(200);
    const fresh = srf.incoming('INVITE', { 'Call-ID': 'z', From: '<sip:a@h>;tag=1', To: '<sip:b@h>', CSeq: '1 INVITE' });
    expect(mgr.offerInvite(fresh.req, fresh.res)).toBe(false);
    const stray = srf.incoming('INVITE', { 'Call-ID': 'z', From: '<sip:a@h>;tag=1', To: '<sip:b@h>;tag=9', CSeq: '2 INVITE' });
    expect(mgr.offerInvite(stray.req, stray.res)).toBe(true);
    expect(stray.res.status).toBe(481);
  });

  it('hangupAll (drain, call limits) sends BYE on both legs through the same path; one end record', async () => {
    const { srf, mgr, ended } = setup();
    await mgr.adoptCalls([answeredRecord()]);
    const done = mgr.hangupAll('drain-timeout');
    expect(srf.sent.map((s) => `${s.headers['Call-ID']} ${s.headers['CSeq']}`).sort()).toEqual(['call-1-a 1 BYE', 'call-1-b 4 BYE']);
    for (const s of srf.sent) s.respond(200);
    await done;
    expect(ended).toHaveLength(1);
    expect(ended[0]!.endReason).toBe('drain-timeout');
    await mgr.hangupAll('again');
    expect(ended).toHaveLength(1);
  });

  it("a record left 'ending' by the old active: the leg not yet terminated gets its BYE", async () => {
    const { srf, mgr, ended } = setup();
    const base = answeredRecord();
    await mgr.adoptCalls([{ ...base, state: 'ending', endReason: 'caller-bye', a: { ...base.a, state: 'terminated' } }]);
    expect(srf.sent.map((s) => s.headers['Call-ID'])).toEqual(['call-1-b']);
    srf.sent[0]!.respond(200);
    await flush();
    expect(ended.map((e) => [e.state, e.endReason])).toEqual([['ended', 'caller-bye']]);
  });

  it('The caller\'s UA MAY send a BYE for either confirmed or early dialogs: a ringing call releases the callee early dialog and fails once', async () => {
    const { srf, mgr, ended } = setup();
    const base = answeredRecord('r1');
    const ringing: CallRecord = { ...base, state: 'ringing', answeredAt: undefined, a: { ...base.a, localTag: undefined, state: 'initial' }, b: { ...base.b, localCseq: 1, state: 'early' } };
    const noTag: CallRecord = { ...answeredRecord('r2'), state: 'calling', b: { ...answeredRecord('r2').b, remoteTag: undefined, localCseq: 1, state: 'initial' } };
    const p = mgr.adoptCalls([ringing, noTag]);
    await flush();
    expect(srf.sent.map((s) => `${s.method} ${s.headers['Call-ID']} ${s.headers['CSeq']} ${s.headers['To']}`)).toEqual(['BYE r1-b 2 BYE <sip:bob@198.18.0.20:5080>;tag=r1-b-callee']);
    srf.sent[0]!.respond(200);
    expect(await p).toMatchObject({ adopted: 0, failed: 2 });
    expect(ended.map((e) => [e.id, e.state, e.endReason]).sort()).toEqual([
      ['r1', 'failed', 'takeover-unanswered'],
      ['r2', 'failed', 'takeover-unanswered'],
    ]);
    // the callee's BYE after its unacknowledged 2xx still gets its 200
    expect(srf.deliver('BYE', fromParty(ringing.b, 'BYE', 2)).status).toBe(200);
    expect(ended).toHaveLength(2);
  });

  it("a listener's exception never corrupts state: the call still ends once", async () => {
    const { srf, mgr, store } = setup();
    mgr.on('callEnded', () => {
      throw new Error('listener bug');
    });
    const rec = answeredRecord();
    await mgr.adoptCalls([rec]);
    srf.deliver('BYE', fromParty(rec.a, 'BYE', 2));
    srf.sent[0]!.respond(200);
    await flush();
    expect(store.get(rec.id)!.state).toBe('ended');
    expect(mgr.size).toBe(0);
  });

  it('a request the SIP server refuses to send: the relayed request is answered 500, the call stays up', async () => {
    const { srf, mgr, store } = setup();
    const rec = answeredRecord();
    await mgr.adoptCalls([rec]);
    srf.requestError = new Error('NOK');
    const res = srf.deliver('UPDATE', fromParty(rec.a, 'UPDATE', 2));
    await flush();
    expect(res.status).toBe(500);
    expect(store.get(rec.id)!.state).toBe('answered');
  });
});

describe("takeover, adoptionMode 'reinvite' (stock drachtio-server answers 481 in unknown dialogs)", () => {
  it('re-INVITEs each leg with Call-ID, From/To tags, CSeq above the mirrored one, Contact and the leg\'s current SDP; 200 is ACKed and wrapped as an srf Dialog', async () => {
    const { Dialog, built } = fakeDialogClass();
    const { srf, mgr, store, progress } = setup({ adoptionMode: 'reinvite', Dialog });
    const rec = answeredRecord();
    const p = mgr.adoptCalls([rec]);
    await flush();
    expect(srf.sent).toHaveLength(2);
    const [a, b] = [srf.sent.find((s) => s.headers['Call-ID'] === 'call-1-a')!, srf.sent.find((s) => s.headers['Call-ID'] === 'call-1-b')!];
    expect(a).toMatchObject({ method: 'INVITE', uri: 'sip:alice@198.18.0.10:5070', body: SDP_B });
    expect(a.headers).toEqual({
      'Call-ID': 'call-1-a',
      From: '<sip:bob@198.18.0.1>;tag=call-1-a-ours',
      To: '<sip:alice@198.18.0.10>;tag=call-1-a-caller',
      CSeq: '1 INVITE',
      Contact: '<sip:198.18.0.1:5060>',
      'Content-Type': 'application/sdp',
    });
    expect(b).toMatchObject({ method: 'INVITE', uri: 'sip:bob@198.18.0.20:5080', body: SDP_A });
    expect(b.headers).toMatchObject({ From: '<sip:alice@198.18.0.10>;tag=call-1-b-ours', To: '<sip:bob@198.18.0.20:5080>;tag=call-1-b-callee', CSeq: '4 INVITE', Route: '<sip:198.18.0.30;lr>' });
    expect(progress.at(-1)).toMatchObject({ total: 1, pending: 1, adopted: 0 });
    a.respond(200, 'OK', { body: SDP_A, headers: { 'Content-Type': 'application/sdp', Contact: '<sip:alice@198.18.0.10:5070>' } });
    b.respond(200, 'OK', { body: SDP_B, headers: { 'Content-Type': 'application/sdp', Contact: '<sip:bob@198.18.0.20:5080>' } });
    expect(await p).toMatchObject({ mode: 'reinvite', adopted: 1, pending: 0, failed: 0 });
    expect(a.acks).toHaveLength(1);
    expect(b.acks).toHaveLength(1);
    expect(built.map((x) => x.type)).toEqual(['uac', 'uac']);
    expect(built.map((x) => x.req)).toEqual(expect.arrayContaining([a.msg, b.msg]));
    expect(built.every((x) => x.srf === srf)).toBe(true);
    expect(srf.added).toEqual(built.map((x) => x.dialog));
    expect(store.get(rec.id)).toMatchObject({ state: 'answered', a: { localCseq: 1 }, b: { localCseq: 4 } });
  });

  it('after wrapping, the far end BYE arrives on the Dialog and the other leg is released through its Dialog; one end record', async () => {
    const { Dialog, built } = fakeDialogClass();
    const { srf, mgr, ended } = setup({ adoptionMode: 'reinvite', Dialog });
    const p = mgr.adoptCalls([answeredRecord()]);
    await flush();
    for (const s of srf.sent) s.respond(200, 'OK', { headers: { Contact: '<sip:x@198.18.0.99>' } });
    await p;
    const da = built.find((x) => x.req.get('Call-ID') === 'call-1-a')!.dialog;
    const db = built.find((x) => x.req.get('Call-ID') === 'call-1-b')!.dialog;
    da.bye(2);
    await flush();
    expect(db.destroyed).toBe(1);
    expect(ended.map((e) => e.endReason)).toEqual(['caller-bye']);
  });

  it('a re-INVITE on a wrapped Dialog is relayed to the other Dialog', async () => {
    const { Dialog, built } = fakeDialogClass();
    const { srf, mgr } = setup({ adoptionMode: 'reinvite', Dialog });
    const p = mgr.adoptCalls([answeredRecord()]);
    await flush();
    for (const s of srf.sent) s.respond(200, 'OK', { headers: { Contact: '<sip:x@198.18.0.99>' } });
    await p;
    const da = built.find((x) => x.req.get('Call-ID') === 'call-1-a')!.dialog;
    const db = built.find((x) => x.req.get('Call-ID') === 'call-1-b')!.dialog;
    const res = db.incoming('modify', 'INVITE', SDP_B.replace('20000', '20004'));
    expect(da.sent.map((s) => [s.method, s.body])).toEqual([['INVITE', SDP_B.replace('20000', '20004')]]);
    da.sent[0]!.respond(200, 'OK', { body: SDP_A, headers: { 'Content-Type': 'application/sdp' } });
    await flush();
    expect(res.sent[0]).toMatchObject({ status: 200, body: SDP_A });
  });

  it('a refused re-INVITE (481: the far end forgot the dialog) releases the other leg and ends the call once', async () => {
    const { Dialog, built } = fakeDialogClass();
    const { srf, mgr, ended } = setup({ adoptionMode: 'reinvite', Dialog });
    const p = mgr.adoptCalls([answeredRecord()]);
    await flush();
    srf.sent.find((s) => s.headers['Call-ID'] === 'call-1-a')!.respond(481, 'Call/Transaction Does Not Exist');
    srf.sent.find((s) => s.headers['Call-ID'] === 'call-1-b')!.respond(200, 'OK', { headers: { Contact: '<sip:x@198.18.0.99>' } });
    expect(await p).toMatchObject({ adopted: 0, failed: 1 });
    expect(built).toHaveLength(1);
    expect(built[0]!.dialog.destroyed).toBe(1);
    expect(ended.map((e) => [e.state, e.endReason])).toEqual([['ended', 'takeover-reinvite-failed']]);
  });

  it('re-INVITEs are rate-limited (reinviteRate calls/s) and progress is reported', async () => {
    const { Dialog } = fakeDialogClass();
    const { srf, clock, mgr, progress } = setup({ adoptionMode: 'reinvite', Dialog, reinviteRate: 2 });
    const p = mgr.adoptCalls([answeredRecord('c1'), answeredRecord('c2'), answeredRecord('c3')]);
    await flush();
    expect(srf.sent).toHaveLength(2); // call 1, both legs
    clock.advance(499);
    await flush();
    expect(srf.sent).toHaveLength(2);
    clock.advance(1);
    await flush();
    expect(srf.sent).toHaveLength(4);
    clock.advance(500);
    await flush();
    expect(srf.sent).toHaveLength(6);
    for (const s of srf.sent) s.respond(200, 'OK', { headers: { Contact: '<sip:x@198.18.0.99>' } });
    expect(await p).toMatchObject({ total: 3, adopted: 3, pending: 0 });
    expect(progress.map((x) => x.adopted)).toEqual([0, 1, 2, 3]);
  });
});
