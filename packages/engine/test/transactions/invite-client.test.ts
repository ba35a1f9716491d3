import { describe, expect, it } from 'vitest';
import { getHeader, getHeaders } from '../../src/messages/index.js';
import { IctState, NictState } from '../../src/transactions/index.js';
import { ctUser, harness, method, reply, request, tcpDest, udpDest, udpInfo } from './harness.js';

describe('INVITE client transaction (§17.1.1)', () => {
  it('"When timer A fires, the client transaction MUST retransmit the request ... and MUST reset the timer with a value of 2*T1" until Timer B informs the TU of a timeout', () => {
    const h = harness();
    const u = ctUser();
    const ct = h.layer.sendRequest(request('INVITE'), udpDest, u.user);
    expect(ct.state).toBe(IctState.Calling);
    h.clock.advance(40_000);
    expect(h.sent.map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(u.timeouts).toEqual([ct]);
    expect(ct.state).toBe(IctState.Terminated);
    expect(h.layer.size).toBe(0);
    expect(h.clock.pending).toBe(0);
  });

  it('over TCP: no retransmissions ("If an unreliable transport is being used..."), Timer B still fires at 64*T1', () => {
    const h = harness();
    const u = ctUser();
    h.layer.sendRequest(request('INVITE', { transport: 'TCP' }), tcpDest, u.user);
    h.clock.advance(31_999);
    expect(h.sent).toHaveLength(1);
    expect(u.timeouts).toHaveLength(0);
    h.clock.advance(1);
    expect(u.timeouts).toHaveLength(1);
    expect(h.layer.size).toBe(0);
  });

  it('"If the client transaction receives a provisional response while in the Calling state, it transitions to the Proceeding state": retransmissions and Timer B stop', () => {
    const h = harness();
    const u = ctUser();
    const req = request('INVITE');
    const ct = h.layer.sendRequest(req, udpDest, u.user);
    h.clock.advance(600);
    h.layer.receive(reply(req, 180), udpInfo);
    expect(ct.state).toBe(IctState.Proceeding);
    expect(u.responses.map((r) => r.res.status)).toEqual([180]);
    h.clock.advance(60_000);
    expect(h.sent).toHaveLength(2);
    expect(u.timeouts).toHaveLength(0);
    expect(h.layer.size).toBe(1);
  });

  it('"the client transaction MUST generate an ACK request, even if the transport is reliable": the ACK for a 3xx-6xx reuses the branch (§17.1.1.3)', () => {
    const h = harness();
    const u = ctUser();
    const req = request('INVITE', { extra: ['Via: SIP/2.0/UDP second.example;branch=z9hG4bKsecond'] });
    const ct = h.layer.sendRequest(req, udpDest, u.user);
    h.layer.receive(reply(req, 486), udpInfo);
    expect(ct.state).toBe(IctState.Completed);
    expect(u.responses.map((r) => r.res.status)).toEqual([486]);
    const ack = h.sent[1]!.msg;
    expect(method(ack)).toBe('ACK');
    expect(ack.kind === 'request' && ack.uri).toBe(req.uri);
    expect(getHeaders(ack, 'Via')).toEqual([getHeader(req, 'Via')]);
    expect(getHeader(ack, 'To')).toBe('<sip:bob@198.18.0.2>;tag=totag1');
    expect(getHeader(ack, 'From')).toBe(getHeader(req, 'From'));
    expect(getHeader(ack, 'Call-ID')).toBe(getHeader(req, 'Call-ID'));
    expect(getHeader(ack, 'CSeq')).toBe('7 ACK');
    expect(getHeaders(ack, 'Route')).toEqual(['<sip:proxy.example;lr>']);
    expect(h.sent[1]!.dest).toEqual(udpDest);
  });

  it('"Any retransmissions of the final response that are received while in the Completed state MUST cause the ACK to be re-passed ... but the newly received response MUST NOT be passed up to the TU"; Timer D ends it', () => {
    const h = harness();
    const u = ctUser();
    const req = request('INVITE');
    const ct = h.layer.sendRequest(req, udpDest, u.user);
    h.layer.receive(reply(req, 503), udpInfo);
    h.layer.receive(reply(req, 503), udpInfo);
    h.layer.receive(reply(req, 503), udpInfo);
    expect(h.sent.map((s) => method(s.msg))).toEqual(['INVITE', 'ACK', 'ACK', 'ACK']);
    expect(u.responses).toHaveLength(1);
    h.clock.advance(31_999);
    expect(ct.state).toBe(IctState.Completed);
    h.clock.advance(1);
    expect(ct.state).toBe(IctState.Terminated);
    expect(h.layer.size).toBe(0);
  });

  it('"Timer D ... a value of zero seconds for reliable transports": over TCP the ICT ends right after the ACK', () => {
    const h = harness();
    const u = ctUser();
    const req = request('INVITE', { transport: 'TCP' });
    const ct = h.layer.sendRequest(req, tcpDest, u.user);
    h.layer.receive(reply(req, 404), udpInfo);
    expect(h.sent.map((s) => method(s.msg))).toEqual(['INVITE', 'ACK']);
    expect(ct.state).toBe(IctState.Terminated);
    expect(h.layer.size).toBe(0);
  });

  it('"If a 2xx response is received while the client INVITE state machine is in the Calling or Proceeding states, it MUST transition to the Accepted state" (RFC 6026); 2xx retransmissions reach the TU, Timer M ends it', () => {
    const h = harness();
    const u = ctUser();
    const req = request('INVITE');
    const ct = h.layer.sendRequest(req, udpDest, u.user);
    h.layer.receive(reply(req, 200), udpInfo);
    expect(ct.state).toBe(IctState.Accepted);
    h.layer.receive(reply(req, 200), udpInfo);
    expect(u.responses.map((r) => r.res.status)).toEqual([200, 200]);
    expect(h.sent).toHaveLength(1); // no ACK from the transaction for a 2xx
    h.clock.advance(10_000);
    expect(h.sent).toHaveLength(1); // and no retransmissions in Accepted
    h.clock.advance(22_000);
    expect(ct.state).toBe(IctState.Terminated);
    expect(h.layer.size).toBe(0);
    h.layer.receive(reply(req, 200), udpInfo);
    expect(h.strays.map((r) => r.status)).toEqual([200]);
  });

  it('"If no provisional response has been received, the CANCEL request MUST NOT be sent" (§9.1): it is held until the 180, then sent with the INVITE branch as its own transaction', () => {
    const h = harness();
    const u = ctUser();
    const cu = ctUser();
    const req = request('INVITE');
    const ct = h.layer.sendRequest(req, udpDest, u.user);
    expect(ct.cancel(cu.user, [{ name: 'Reason', value: 'SIP;cause=200;text="done"' }])).toBeUndefined();
    expect(h.sent).toHaveLength(1);
    h.layer.receive(reply(req, 180), udpInfo);
    expect(h.sent.map((s) => method(s.msg))).toEqual(['INVITE', 'CANCEL']);
    const cancel = h.sent[1]!.msg;
    expect(getHeader(cancel, 'Via')).toBe(getHeader(req, 'Via'));
    expect(getHeader(cancel, 'CSeq')).toBe('7 CANCEL');
    expect(getHeader(cancel, 'To')).toBe(getHeader(req, 'To'));
    expect(getHeader(cancel, 'Reason')).toBe('SIP;cause=200;text="done"');
    expect(h.layer.size).toBe(2);
    // the 200 to the CANCEL goes to the CANCEL's transaction, the 487 to the INVITE's
    const cancelReq = { ...cancel, kind: 'request' as const } as typeof req;
    h.layer.receive(reply(cancelReq, 200), udpInfo);
    expect(cu.responses.map((r) => [r.res.status, r.ct.state])).toEqual([[200, NictState.Completed]]);
    h.layer.receive(reply(req, 487), udpInfo);
    expect(u.responses.map((r) => r.res.status)).toEqual([180, 487]);
    expect(ct.cancel(cu.user)).toBeUndefined(); // only once
    h.clock.advance(40_000);
    expect(h.layer.size).toBe(0);
  });

  it('cancel() after a provisional returns the CANCEL transaction at once', () => {
    const h = harness();
    const req = request('INVITE');
    const ct = h.layer.sendRequest(req, udpDest, ctUser().user);
    h.layer.receive(reply(req, 183), udpInfo);
    const c = ct.cancel(ctUser().user);
    expect(c?.request.method).toBe('CANCEL');
    expect(c?.branch).toBe(ct.branch);
  });

  it('"the client transaction SHOULD inform the TU that a transport failure has occurred, and ... SHOULD transition directly to the Terminated state" (§17.1.4)', () => {
    const h = harness({ failSend: (m) => m.kind === 'request' && m.method === 'INVITE' });
    const u = ctUser();
    const ct = h.layer.sendRequest(request('INVITE'), udpDest, u.user);
    expect(u.errors.map((e) => e.message)).toEqual(['boom']);
    expect(ct.state).toBe(IctState.Terminated);
    expect(h.layer.size).toBe(0);
    expect(h.clock.pending).toBe(0);
  });

  it('a throwing TU callback does not corrupt the transaction', () => {
    const h = harness();
    const req = request('INVITE');
    let calls = 0;
    const ct = h.layer.sendRequest(req, udpDest, {
      onResponse: () => {
        calls++;
        throw new Error('app bug');
      },
      onTimeout: () => {},
    });
    h.layer.receive(reply(req, 180), udpInfo);
    h.layer.receive(reply(req, 486), udpInfo);
    expect(calls).toBe(2);
    expect(ct.state).toBe(IctState.Completed);
  });

  it('rejects requests without a proper branch and duplicate transactions with stable codes', () => {
    const h = harness();
    expect(() => h.layer.sendRequest(request('INVITE', { branch: 'oldstyle1' }), udpDest, ctUser().user)).toThrowError(
      expect.objectContaining({ code: 'ERR_NO_BRANCH' }),
    );
    const r = request('OPTIONS');
    h.layer.sendRequest(r, udpDest, ctUser().user);
    expect(() => h.layer.sendRequest(r, udpDest, ctUser().user)).toThrowError(expect.objectContaining({ code: 'ERR_DUPLICATE_TRANSACTION' }));
    expect(() => h.layer.sendRequest(request('ACK'), udpDest, ctUser().user)).toThrowError(expect.objectContaining({ code: 'ERR_ACK_NOT_TRANSACTIONAL' }));
    h.layer.close();
    expect(h.layer.size).toBe(0);
    expect(h.clock.pending).toBe(0);
    expect(() => h.layer.sendRequest(request('OPTIONS'), udpDest, ctUser().user)).toThrowError(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });
});
