import { describe, expect, it } from 'vitest';
import { createResponse } from '../../src/messages/index.js';
import { NistState } from '../../src/transactions/index.js';
import { harness, method, request, tcpInfo, udpInfo } from './harness.js';

describe('non-INVITE server transaction (§17.2.2)', () => {
  it('"Once in the Trying state, any further request retransmissions are discarded"', () => {
    const h = harness();
    const req = request('REGISTER');
    h.layer.receive(req, udpInfo);
    h.layer.receive(structuredClone(req), udpInfo);
    expect(h.sent).toHaveLength(0);
    expect(h.requests).toHaveLength(1);
    h.clock.advance(1000);
    expect(h.sent).toHaveLength(0); // no automatic 100 for non-INVITE
  });

  it('"If a retransmission of the request is received while in the Proceeding state, the most recently sent provisional response MUST be passed to the transport layer for retransmission"', () => {
    const h = harness();
    const req = request('SUBSCRIBE');
    h.layer.receive(req, udpInfo);
    const st = h.requests[0]!.st!;
    st.respond(createResponse(req, 100));
    expect(st.state).toBe(NistState.Proceeding);
    h.layer.receive(structuredClone(req), udpInfo);
    expect(h.sent.map((s) => method(s.msg))).toEqual(['100', '100']);
  });

  it('"While in the Completed state, the server transaction MUST pass the final response to the transport layer for retransmission whenever a retransmission of the request is received"; Timer J = 64*T1', () => {
    const h = harness();
    const req = request('BYE');
    h.layer.receive(req, udpInfo);
    const st = h.requests[0]!.st!;
    let ended = 0;
    st.on('terminated', () => ended++);
    st.respond(createResponse(req, 200));
    h.layer.receive(structuredClone(req), udpInfo);
    h.layer.receive(structuredClone(req), udpInfo);
    expect(h.sent.map((s) => method(s.msg))).toEqual(['200', '200', '200']);
    expect(() => st.respond(createResponse(req, 500))).toThrowError(expect.objectContaining({ code: 'ERR_TRANSACTION_STATE' }));
    h.clock.advance(31_999);
    expect(st.state).toBe(NistState.Completed);
    h.clock.advance(1);
    expect(st.state).toBe(NistState.Terminated);
    expect(ended).toBe(1);
    expect(h.layer.size).toBe(0);
    expect(h.clock.pending).toBe(0);
    // after the transaction is gone, a late retransmission is a new request
    h.layer.receive(structuredClone(req), udpInfo);
    expect(h.requests).toHaveLength(2);
  });

  it('"Timer J ... zero seconds for reliable transports"', () => {
    const h = harness();
    const req = request('OPTIONS', { via: 'SIP/2.0/TCP 198.18.0.1:5070;branch=z9hG4bKtcpopt' });
    h.layer.receive(req, tcpInfo);
    const st = h.requests[0]!.st!;
    st.respond(createResponse(req, 200));
    expect(st.state).toBe(NistState.Terminated);
    expect(h.layer.size).toBe(0);
  });

  it('a send failure terminates the transaction and reports transportError', () => {
    const h = harness({ failSend: () => true });
    const req = request('INFO');
    h.layer.receive(req, udpInfo);
    const st = h.requests[0]!.st!;
    const errs: string[] = [];
    st.on('transportError', (e) => errs.push(e.message));
    st.respond(createResponse(req, 200));
    expect(errs).toEqual(['boom']);
    expect(st.state).toBe(NistState.Terminated);
    expect(h.layer.size).toBe(0);
  });

  it('many transactions all clean up (no leak)', () => {
    const h = harness();
    for (let i = 0; i < 500; i++) {
      const req = request(i % 2 ? 'OPTIONS' : 'INVITE');
      h.layer.receive(req, udpInfo);
      h.requests[i]!.st!.respond(createResponse(req, i % 2 ? 200 : 486));
    }
    expect(h.layer.size).toBe(500);
    h.clock.advance(64_000);
    expect(h.layer.size).toBe(0);
    expect(h.clock.pending).toBe(0);
  });

  it('a final response whose send fails through the callback before send() returns ends the transaction once (no Terminated -> Terminated throw)', () => {
    const h = harness({ failSendViaCallback: (m) => m.kind === 'response' });
    const req = request('BYE', { transport: 'TCP' });
    h.layer.receive(req, tcpInfo);
    const st = h.requests[0]!.st!;
    const errors: Error[] = [];
    let ended = 0;
    st.on('transportError', (e: Error) => errors.push(e));
    st.on('terminated', () => ended++);
    expect(() => st.respond(createResponse(req, 200))).not.toThrow();
    expect(st.state).toBe(NistState.Terminated);
    expect(ended).toBe(1);
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['ENOTRANSPORT']);
    expect(h.layer.size).toBe(0);
  });
});
