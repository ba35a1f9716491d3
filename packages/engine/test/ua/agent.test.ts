import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { parseMessage, type SipRequest, type SipResponse } from '../../src/messages/index.js';
import { UserAgent } from '../../src/ua/agent.js';
import type { ClientTxnUser, Dest, ServerTxn } from '../../src/ua/types.js';
import type { AppConnection } from '../../src/wire/connection.js';

function fakeConn() {
  const sent: string[] = [];
  const replies: string[] = [];
  const conn = { closed: false, send: (p: string, sip?: Buffer) => { sent.push(sip ? `${p}\r\n${sip.toString('utf8')}` : p); return 'id'; }, respond: (id: string, rest: string, sip?: Buffer) => replies.push(`${id}|${rest}${sip ? `\r\n${sip.toString('utf8')}` : ''}`) };
  return { conn: conn as unknown as AppConnection, sent, replies };
}

const INVITE = [
  'INVITE sip:b@127.0.0.1:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport',
  'From: <sip:a@127.0.0.1>;tag=ta',
  'To: <sip:b@127.0.0.1>',
  'Call-ID: c1',
  'CSeq: 1 INVITE',
  'Contact: <sip:a@127.0.0.1:5070>',
  'Max-Forwards: 70',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

function setup(policy: 'reject' | 'app' = 'reject') {
  const clock = new ManualClock();
  const app = fakeConn();
  const responses: SipResponse[] = [];
  const clientReqs: SipRequest[] = [];
  const st: ServerTxn = { id: 's1', request: undefined as never, respond: (r) => responses.push(r) };
  const ua = new UserAgent({
    clock,
    timers: { t1: 500, t2: 4000 },
    router: { select: (m: string) => (m === 'INVITE' || m === 'BYE' || m === 'INFO' ? app.conn : undefined) },
    transactions: {
      sendRequest: (req: SipRequest, _d: Dest, _u: ClientTxnUser) => { clientReqs.push(req); return { id: 'c', request: req, cancel: () => undefined }; },
      findInviteForCancel: () => undefined,
    },
    sendRaw: () => {},
    local: () => ({ host: '127.0.0.1', port: 5060 }),
    unknownDialogPolicy: policy,
  });
  const info = { transport: 'udp' as const, remote: { address: '127.0.0.1', port: 5070 }, local: { address: '127.0.0.1', port: 5060 } };
  return { clock, app, responses, clientReqs, st, ua, info };
}

function txnIdOf(payload: string): string {
  return payload.split('\r\n')[0]!.split('|')[7]!;
}

describe('UA core (ManualClock)', () => {
  it('new INVITE: no 100 Trying from the UA core (the server transaction sends it "unless it knows that the TU will generate a provisional or final response within 200 ms"), forwarded to the app with a transaction id and no dialog id', () => {
    const { app, responses, st, ua, info } = setup();
    ua.onRequest(parseMessage(Buffer.from(INVITE)) as SipRequest, st, info);
    expect(responses.map((r) => r.status)).toEqual([]);
    expect(app.sent).toHaveLength(1);
    const head = app.sent[0]!.split('\r\n')[0]!.split('|');
    expect(head.slice(0, 2)).toEqual(['sip', 'network']);
    expect(head[3]).toBe('udp');
    expect(head[8]).toBe('');
  });

  it('2xx is retransmitted with an interval that starts at T1 and doubles until T2, then BYE after 64*T1 without ACK', async () => {
    const { clock, app, responses, st, ua, info, clientReqs } = setup();
    ua.onRequest(parseMessage(Buffer.from(INVITE)) as SipRequest, st, info);
    const txnId = txnIdOf(app.sent[0]!);
    ua.onAppSip(app.conn, 'm1', txnId, '', '', 'SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n');
    expect(app.replies[0]).toMatch(/^m1\|OK\|application\|/);
    expect(app.replies[0]!.split('\r\n')[0]!.split('|')[9]).toBe('c1;from-tag=ta');
    const ok = responses[0]!;
    expect(ok.status).toBe(200);
    expect(ok.headers.find((h) => h.name === 'Contact')?.value).toBe('<sip:127.0.0.1:5060>');
    expect(ok.headers.find((h) => h.name === 'To')?.value).toMatch(/;tag=/);
    expect(ua.stats().dialogs).toBe(1);
    const at = (ms: number) => { clock.advance(ms); return responses.length - 1; };
    expect(at(499)).toBe(0);
    expect(at(1)).toBe(1); // T1
    expect(at(1000)).toBe(2); // +2*T1
    expect(at(2000)).toBe(3); // +4*T1
    expect(at(4000)).toBe(4); // capped at T2
    expect(at(4000)).toBe(5);
    clock.advance(64 * 500 - 11500);
    await new Promise((r) => setTimeout(r, 10));
    expect(clientReqs.map((r) => r.method)).toEqual(['BYE']);
    expect(clientReqs[0]!.headers.find((h) => h.name === 'Reason')?.value).toContain('ACK timeout');
    const unsolicited = app.sent.find((p) => p.includes('|unsolicited|'));
    expect(unsolicited).toMatch(/^sip\|application\|/);
    expect(ua.stats().dialogs).toBe(0);
    expect(ua.stats().ackTimeouts).toBe(1);
  });

  it('Response retransmissions cease when an ACK request for the response is received', () => {
    const { clock, app, responses, st, ua, info } = setup();
    ua.onRequest(parseMessage(Buffer.from(INVITE)) as SipRequest, st, info);
    ua.onAppSip(app.conn, 'm1', txnIdOf(app.sent[0]!), '', '', 'SIP/2.0 200 OK\r\n\r\n');
    const toTag = /tag=([^;]+)$/.exec(responses[0]!.headers.find((h) => h.name === 'To')!.value)![1];
    clock.advance(500);
    const n = responses.length;
    const ack = INVITE.replace('INVITE sip', 'ACK sip').replace('1 INVITE', '1 ACK').replace('To: <sip:b@127.0.0.1>', `To: <sip:b@127.0.0.1>;tag=${toTag}`);
    ua.onRequest(parseMessage(Buffer.from(ack)) as SipRequest, undefined, info);
    clock.advance(60_000);
    expect(responses.length).toBe(n);
    expect(app.sent.at(-1)).toMatch(/\r\nACK sip/);
    expect(app.sent.at(-1)!.split('\r\n')[0]!.split('|')[8]).toBe('c1;from-tag=ta');
  });

  it('unknown method: 501; unknown-dialog BYE: 481 under reject, to the app under app', () => {
    const s = setup();
    s.ua.onRequest(parseMessage(Buffer.from(INVITE.replace(/INVITE/g, 'FOO'))) as SipRequest, s.st, s.info);
    expect(s.responses.map((r) => r.status)).toEqual([501]);
    const bye = INVITE.replace(/INVITE/g, 'BYE').replace('To: <sip:b@127.0.0.1>', 'To: <sip:b@127.0.0.1>;tag=zz');
    s.ua.onRequest(parseMessage(Buffer.from(bye)) as SipRequest, s.st, s.info);
    expect(s.responses.map((r) => r.status)).toEqual([501, 481]);
    const t = setup('app');
    t.ua.onRequest(parseMessage(Buffer.from(bye)) as SipRequest, t.st, t.info);
    expect(t.responses).toHaveLength(0);
    expect(t.app.sent[0]).toMatch(/\r\nBYE sip/);
  });

  it('bad app input gets a clear NOK, never a crash', () => {
    const { app, ua } = setup();
    ua.onAppSip(app.conn, 'm9', 'nope', '', '', 'SIP/2.0 200 OK\r\n\r\n');
    ua.onAppSip(app.conn, 'm10', '', 'no-such-dialog', '', 'BYE sip:x SIP/2.0\r\n\r\n');
    ua.onAppSip(app.conn, 'm11', '', '', '', 'garbage');
    expect(app.replies.map((r) => r.split('|').slice(0, 2).join('|'))).toEqual(['m9|NOK', 'm10|NOK', 'm11|NOK']);
  });
});
