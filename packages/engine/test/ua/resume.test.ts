/**
 * Takeover extension: resuming the INVITE transactions of a ringing call that another node started
 * (unknownDialogPolicy 'app' only), with the real transaction layer and a manual clock.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createResponse, getHeader, parseMessage, serializeMessage, type SipMessage, type SipRequest, type SipResponse } from '../../src/messages/index.js';
import { TransactionLayer } from '../../src/transactions/index.js';
import { encodeResumeUas, UserAgent, type ResumeUas } from '../../src/ua/agent.js';
import type { Dest } from '../../src/ua/types.js';
import type { AppConnection } from '../../src/wire/connection.js';

function setup(policy: 'reject' | 'app' = 'app') {
  const clock = new ManualClock();
  const wire: Array<{ msg: SipMessage; dest: Dest }> = [];
  const raw: Buffer[] = [];
  const sent: string[] = [];
  const replies: string[] = [];
  const conn = { closed: false, send: (p: string, sip?: Buffer) => { sent.push(sip ? `${p}\r\n${sip.toString('utf8')}` : p); return 'id'; }, respond: (id: string, rest: string, sip?: Buffer) => replies.push(`${id}|${rest}${sip ? `\r\n${sip.toString('utf8')}` : ''}`) } as unknown as AppConnection;
  let ua!: UserAgent;
  const layer = new TransactionLayer({
    clock,
    send: (msg, dest) => wire.push({ msg: parseMessage(serializeMessage(msg)), dest: dest as Dest }),
    user: { onRequest: (r, st, i) => ua.onRequest(r, st as never, i as never), onStrayResponse: (r, i) => ua.onStrayResponse(r, i as never) },
  });
  ua = new UserAgent({
    clock,
    timers: { t1: 500, t2: 4000 },
    router: { select: (m: string) => (m.startsWith('cdr:') ? undefined : conn) },
    transactions: layer,
    sendRaw: (buf) => raw.push(buf),
    local: () => ({ host: '198.18.0.10', port: 5060 }),
    isLocal: (h, p) => h === '198.18.0.10' && p === 5060,
    unknownDialogPolicy: policy,
  });
  const flush = () => new Promise((r) => setTimeout(r, 5));
  return { clock, wire, raw, sent, replies, conn, layer, ua, flush };
}

const payloadMsg = (p: string) => parseMessage(Buffer.from(p.slice(p.indexOf('\r\n') + 2)));
const head = (p: string) => p.split('\r\n')[0]!.split('|');

const ORIG_BRANCH = 'z9hG4bKdead-node-1';
const B_INVITE = [
  'INVITE sip:bob@198.18.0.3:5080 SIP/2.0',
  'Call-ID: b-call-1',
  'From: <sip:alice@198.18.0.1>;tag=btag',
  'To: <sip:bob@198.18.0.3:5080>',
  'CSeq: 1 INVITE',
  'Contact: <sip:198.18.0.10:5060>',
  `X-Dualsip-Resume: ${ORIG_BRANCH}`,
  'Content-Type: application/sdp',
  '',
  'v=0\r\n',
].join('\r\n');

/** The callee's answer to the INVITE the dead node sent (its Via carried ORIG_BRANCH). */
function calleeResponse(status: number): SipResponse {
  const inv = parseMessage(Buffer.from(
    B_INVITE.replace(`X-Dualsip-Resume: ${ORIG_BRANCH}`, `Via: SIP/2.0/UDP 198.18.0.10:5060;rport;branch=${ORIG_BRANCH}`),
  )) as SipRequest;
  const res = createResponse(inv, status, undefined, { toTag: 'calleetag' });
  if (status === 200) res.headers.push({ name: 'Contact', value: '<sip:bob@198.18.0.3:5080>' });
  return res;
}
const calleeInfo = { transport: 'udp' as const, remote: { address: '198.18.0.3', port: 5080 }, local: { address: '198.18.0.10', port: 5060 } };

const CALLER: ResumeUas = {
  uri: 'sip:bob@198.18.0.10:5060',
  vias: ['SIP/2.0/UDP 198.18.0.1:5070;branch=z9hG4bKcaller1;rport=5070;received=198.18.0.1'],
  from: '<sip:alice@198.18.0.1>;tag=callertag',
  to: '<sip:bob@198.18.0.10>',
  toTag: 'ourtag',
  callId: 'a-call-1',
  cseq: 1,
  contact: '<sip:alice@198.18.0.1:5070>',
  transport: 'udp',
  address: '198.18.0.1',
  port: 5070,
};
const callerInfo = { transport: 'udp' as const, remote: { address: '198.18.0.1', port: 5070 }, local: { address: '198.18.0.10', port: 5060 } };
const ctl = (r: ResumeUas) =>
  ['OPTIONS sip:198.18.0.10:5060 SIP/2.0', `X-Dualsip-Resume-Uas: ${encodeResumeUas(r)}`, 'Content-Type: application/sdp', '', 'v=0\r\n'].join('\r\n');
function callerMsg(method: 'INVITE' | 'CANCEL'): SipRequest {
  return parseMessage(Buffer.from([
    `${method} sip:bob@198.18.0.10:5060 SIP/2.0`,
    'Via: SIP/2.0/UDP 198.18.0.1:5070;branch=z9hG4bKcaller1;rport',
    'From: <sip:alice@198.18.0.1>;tag=callertag',
    'To: <sip:bob@198.18.0.10>',
    'Call-ID: a-call-1',
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'))) as SipRequest;
}

describe('takeover: resumed INVITE client transaction (X-Dualsip-Resume)', () => {
  it('sends nothing on the wire; the callee\'s late 180 and 200 match the resumed transaction and reach the app; a retransmitted 200 gets the ACK again', async () => {
    const t = setup('app');
    t.ua.onAppSip(t.conn, 'm1', '', '', '', B_INVITE);
    await t.flush();
    expect(t.replies[0]).toMatch(/^m1\|OK\|/);
    expect(t.wire).toHaveLength(0);
    const echoed = payloadMsg(t.replies[0]!) as SipRequest;
    expect(getHeader(echoed, 'Via')).toContain(`branch=${ORIG_BRANCH}`);
    expect(getHeader(echoed, 'X-Dualsip-Resume')).toBeUndefined();
    const txnId = head(t.replies[0]!)[8]!;
    t.layer.receive(calleeResponse(180), calleeInfo);
    expect(t.sent).toHaveLength(1);
    expect(head(t.sent[0]!)[7]).toBe(txnId);
    expect((payloadMsg(t.sent[0]!) as SipResponse).status).toBe(180);
    t.layer.receive(calleeResponse(200), calleeInfo);
    expect(t.sent).toHaveLength(2);
    const dialogId = head(t.sent[1]!)[8]!;
    expect(dialogId).not.toBe('');
    expect(t.ua.stats().dialogs).toBe(1);
    // the app ACKs the 200 in the dialog the engine learned
    t.ua.onAppSip(t.conn, 'm2', '', dialogId, '', 'ACK sip:bob@198.18.0.3:5080 SIP/2.0\r\n\r\n');
    await t.flush();
    expect(t.raw).toHaveLength(1);
    // RFC 6026 §8.4: "any 2xx responses that match this client transaction and that are received while in the "Accepted" state MUST be passed up to the TU."
    t.layer.receive(calleeResponse(200), calleeInfo);
    expect(t.raw).toHaveLength(2);
    expect(t.wire).toHaveLength(0);
  });

  it('a callee failure (486) completes the resumed transaction: ACKed by the transaction layer to the original destination, relayed to the app', async () => {
    const t = setup('app');
    t.ua.onAppSip(t.conn, 'm1', '', '', '', B_INVITE);
    await t.flush();
    t.layer.receive(calleeResponse(486), calleeInfo);
    expect((payloadMsg(t.sent[0]!) as SipResponse).status).toBe(486);
    expect(t.wire.map((w) => (w.msg as SipRequest).method)).toEqual(['ACK']);
    expect(getHeader(t.wire[0]!.msg, 'Via')).toContain(`branch=${ORIG_BRANCH}`);
    expect(t.wire[0]!.dest).toMatchObject({ address: '198.18.0.3', port: 5080 });
  });

  it('the app can CANCEL the resumed transaction: the CANCEL carries the original top Via (§9.1)', async () => {
    const t = setup('app');
    t.ua.onAppSip(t.conn, 'm1', '', '', '', B_INVITE);
    await t.flush();
    const txnId = head(t.replies[0]!)[8]!;
    t.ua.onAppSip(t.conn, 'm2', txnId, '', '', 'CANCEL sip:bob@198.18.0.3:5080 SIP/2.0\r\n\r\n');
    expect(t.wire.map((w) => (w.msg as SipRequest).method)).toEqual(['CANCEL']);
    expect(getHeader(t.wire[0]!.msg, 'Via')).toContain(`branch=${ORIG_BRANCH}`);
  });

  it('without unknownDialogPolicy \'app\' the header is not honoured: the INVITE goes out with a fresh branch and the header', async () => {
    const t = setup('reject');
    t.ua.onAppSip(t.conn, 'm1', '', '', '', B_INVITE);
    await t.flush();
    expect(t.wire).toHaveLength(1);
    expect(getHeader(t.wire[0]!.msg, 'Via')).not.toContain(ORIG_BRANCH);
    expect(getHeader(t.wire[0]!.msg, 'X-Dualsip-Resume')).toBe(ORIG_BRANCH);
  });
});

describe('takeover: resumed INVITE server transaction (X-Dualsip-Resume-Uas)', () => {
  it('the caller\'s INVITE reaches the app marked X-Dualsip-Resumed, the control request gets 200 with X-Dualsip-Resume: ok, and nothing (not even a 100 after 200 ms) goes to the caller', () => {
    const t = setup('app');
    t.ua.onAppSip(t.conn, 'm1', '', '', '', ctl(CALLER));
    expect(t.replies[0]).toMatch(/^m1\|OK\|/);
    const ctlTxn = head(t.replies[0]!)[8]!;
    expect(t.sent).toHaveLength(2);
    const inv = payloadMsg(t.sent[0]!) as SipRequest;
    expect(inv.method).toBe('INVITE');
    expect(getHeader(inv, 'X-Dualsip-Resumed')).toBe('a-call-1');
    expect(getHeader(inv, 'Via')).toBe(CALLER.vias[0]);
    expect(inv.body.toString()).toBe('v=0\r\n');
    expect(head(t.sent[0]!).slice(3, 6)).toEqual(['udp', '198.18.0.1', '5070']);
    const ok = payloadMsg(t.sent[1]!) as SipResponse;
    expect(head(t.sent[1]!)[7]).toBe(ctlTxn);
    expect(ok.status).toBe(200);
    expect(getHeader(ok, 'X-Dualsip-Resume')).toBe('ok');
    t.clock.advance(1000);
    expect(t.wire).toHaveLength(0);
  });

  it('the app answers the resumed INVITE: 180 and 200 go to the caller\'s source with the To tag of the provisional responses the caller already has', () => {
    const t = setup('app');
    t.ua.onAppSip(t.conn, 'm1', '', '', '', ctl(CALLER));
    const txnId = head(t.sent[0]!)[7]!;
    t.ua.onAppSip(t.conn, 'm2', txnId, '', '', 'SIP/2.0 180 Ringing\r\n\r\n');
    t.ua.onAppSip(t.conn, 'm3', txnId, '', '', 'SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n');
    expect(t.wire.map((w) => (w.msg as SipResponse).status)).toEqual([180, 200]);
    for (const w of t.wire) {
      expect(getHeader(w.msg, 'To')).toBe('<sip:bob@198.18.0.10>;tag=ourtag');
      expect(w.dest).toMatchObject({ address: '198.18.0.1', port: 5070 });
    }
    expect(t.ua.stats().dialogs).toBe(1);
  });

  it('"If a request retransmission is received while in the Proceeding state" it matches the resumed transaction; the caller\'s CANCEL matches it too: 200 to the CANCEL, 487 to the INVITE, CANCEL to the app', () => {
    const t = setup('app');
    t.ua.onAppSip(t.conn, 'm1', '', '', '', ctl(CALLER));
    const txnId = head(t.sent[0]!)[7]!;
    t.ua.onAppSip(t.conn, 'm2', txnId, '', '', 'SIP/2.0 180 Ringing\r\n\r\n');
    t.layer.receive(callerMsg('INVITE'), callerInfo);
    expect(t.wire.map((w) => (w.msg as SipResponse).status)).toEqual([180, 180]);
    expect(t.sent).toHaveLength(2); // not a new INVITE for the app
    t.layer.receive(callerMsg('CANCEL'), callerInfo);
    expect(t.wire.map((w) => (w.msg as SipResponse).status)).toEqual([180, 180, 200, 487]);
    expect(getHeader(t.wire[3]!.msg, 'To')).toBe('<sip:bob@198.18.0.10>;tag=ourtag');
    expect((payloadMsg(t.sent[2]!) as SipRequest).method).toBe('CANCEL');
    expect(head(t.sent[2]!)[7]).toBe(txnId);
  });

  it('bad essentials get a NOK; without \'app\' policy the control request is not intercepted', async () => {
    const t = setup('app');
    t.ua.onAppSip(t.conn, 'm1', '', '', '', 'OPTIONS sip:198.18.0.10 SIP/2.0\r\nX-Dualsip-Resume-Uas: bm9wZQ\r\n\r\n');
    expect(t.replies[0]).toMatch(/^m1\|NOK\|/);
    const r = setup('reject');
    r.ua.onAppSip(r.conn, 'm1', '', '', '', ctl(CALLER));
    await r.flush();
    expect(r.sent).toHaveLength(0);
    expect(r.replies[0]).toMatch(/^m1\|NOK\|can not send request to myself/);
  });
});

describe('§17.2.1 100 Trying through the UA core and the real INVITE server transaction', () => {
  it('the server transaction MUST generate a 100 (Trying) response unless it knows that the TU will generate a provisional or final response within 200 ms: none when the app answered in time', () => {
    const t = setup('app');
    t.layer.receive(callerMsg('INVITE'), callerInfo);
    const txnId = head(t.sent[0]!)[7]!;
    t.clock.advance(150);
    t.ua.onAppSip(t.conn, 'm1', txnId, '', '', 'SIP/2.0 180 Ringing\r\n\r\n');
    t.clock.advance(1000);
    expect(t.wire.map((w) => (w.msg as SipResponse).status)).toEqual([180]);
  });

  it('a 100 Trying after 200 ms when the app has not answered', () => {
    const t = setup('app');
    t.layer.receive(callerMsg('INVITE'), callerInfo);
    t.clock.advance(199);
    expect(t.wire).toHaveLength(0);
    t.clock.advance(1);
    expect(t.wire.map((w) => (w.msg as SipResponse).status)).toEqual([100]);
  });
});
