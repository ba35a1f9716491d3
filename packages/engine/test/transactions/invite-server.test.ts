import { describe, expect, it } from 'vitest';
import { createResponse, getHeader } from '../../src/messages/index.js';
import { IstState, NistState, TransactionLayer } from '../../src/transactions/index.js';
import { harness, method, request, tcpInfo, udpInfo } from './harness.js';

function ackFor(invite: ReturnType<typeof request>, toTag = 'srvtag') {
  const ack = structuredClone(invite);
  ack.method = 'ACK';
  ack.headers = ack.headers.map((h) =>
    h.name === 'CSeq' ? { name: 'CSeq', value: '7 ACK' } : h.name === 'To' ? { name: 'To', value: `${h.value};tag=${toTag}` } : h,
  );
  return ack;
}

const gaps = (ts: number[]) => ts.slice(1).map((t, i) => t - ts[i]!);

describe('INVITE server transaction (§17.2.1)', () => {
  it('"If the TU won\'t respond within 200ms, the server transaction MUST generate a 100 response"', () => {
    const h = harness();
    h.layer.receive(request('INVITE'), udpInfo);
    expect(h.requests).toHaveLength(1);
    h.clock.advance(199);
    expect(h.sent).toHaveLength(0);
    h.clock.advance(1);
    expect(h.sent.map((s) => method(s.msg))).toEqual(['100']);
    expect(getHeader(h.sent[0]!.msg, 'To')).toBe('<sip:bob@198.18.0.2>');
  });

  it('no automatic 100 when the TU answered within 200 ms', () => {
    const h = harness();
    const inv = request('INVITE');
    h.layer.receive(inv, udpInfo);
    h.requests[0]!.st!.respond(createResponse(inv, 180, undefined, { toTag: 'a' }));
    h.clock.advance(1000);
    expect(h.sent.map((s) => method(s.msg))).toEqual(['180']);
  });

  it('"If a request retransmission is received while in the Proceeding state, the most recent provisional response ... MUST be passed to the transport layer for retransmission"', () => {
    const h = harness();
    const inv = request('INVITE');
    h.layer.receive(inv, udpInfo);
    const st = h.requests[0]!.st!;
    st.respond(createResponse(inv, 180, undefined, { toTag: 'a' }));
    st.respond(createResponse(inv, 183, undefined, { toTag: 'a' }));
    h.layer.receive(structuredClone(inv), udpInfo);
    expect(h.sent.map((s) => method(s.msg))).toEqual(['180', '183', '183']);
    expect(h.requests).toHaveLength(1); // absorbed, never reaches the TU again
  });

  it('"timer G is set to fire in T1 seconds" and doubles up to T2; "If an ACK is received while the server transaction is in the Completed state, the server transaction MUST transition to the Confirmed state"; Timer I (T4) ends it', () => {
    const h = harness();
    const inv = request('INVITE');
    h.layer.receive(inv, udpInfo);
    const st = h.requests[0]!.st!;
    const acks: string[] = [];
    const terminated: number[] = [];
    st.on('ack', (a) => acks.push(a.method));
    st.on('terminated', () => terminated.push(h.clock.now()));
    st.respond(createResponse(inv, 486, undefined, { toTag: 'srvtag' }));
    expect(st.state).toBe(IstState.Completed);
    h.clock.advance(15_600);
    expect(gaps(h.sent.map((s) => s.at))).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
    // retransmitted INVITE in Completed: final response re-sent
    h.layer.receive(structuredClone(inv), udpInfo);
    expect(h.sent).toHaveLength(8);
    h.layer.receive(ackFor(inv), udpInfo);
    expect(st.state).toBe(IstState.Confirmed);
    expect(acks).toEqual(['ACK']);
    h.layer.receive(ackFor(inv), udpInfo); // absorbed in Confirmed
    expect(acks).toHaveLength(1);
    expect(h.requests).toHaveLength(1);
    h.clock.advance(4999);
    expect(h.sent).toHaveLength(8); // G stopped
    h.clock.advance(1);
    expect(st.state).toBe(IstState.Terminated);
    expect(terminated).toEqual([20_600]);
    expect(h.layer.size).toBe(0);
    expect(h.clock.pending).toBe(0);
  });

  it('"If timer H fires while in the Completed state, it implies that the ACK was never received ... MUST indicate to the TU that a transaction failure has occurred"', () => {
    const h = harness();
    const inv = request('INVITE');
    h.layer.receive(inv, udpInfo);
    const st = h.requests[0]!.st!;
    const events: string[] = [];
    st.on('timeout', () => events.push('timeout'));
    st.on('terminated', () => events.push('terminated'));
    st.respond(createResponse(inv, 603));
    h.clock.advance(31_999);
    expect(events).toEqual([]);
    h.clock.advance(1);
    expect(events).toEqual(['timeout', 'terminated']);
    expect(h.layer.size).toBe(0);
  });

  it('"The purpose of the Accepted state is to absorb retransmissions of an accepted INVITE request" (RFC 6026); an ACK on the INVITE branch goes to the TU; Timer L ends it', () => {
    const h = harness();
    const inv = request('INVITE');
    h.layer.receive(inv, udpInfo);
    const st = h.requests[0]!.st!;
    st.respond(createResponse(inv, 200, undefined, { toTag: 'srvtag' }));
    expect(st.state).toBe(IstState.Accepted);
    h.layer.receive(structuredClone(inv), udpInfo);
    expect(h.sent).toHaveLength(1); // not re-sent by the transaction
    expect(h.requests).toHaveLength(1);
    // "retransmissions of the 2xx response passed from the TU ... MUST be passed to the transport layer"
    st.respond(createResponse(inv, 200, undefined, { toTag: 'srvtag' }));
    expect(h.sent).toHaveLength(2);
    h.layer.receive(ackFor(inv), udpInfo);
    expect(h.requests.map((r) => [r.req.method, r.st === undefined])).toEqual([['INVITE', false], ['ACK', true]]);
    h.clock.advance(32_000);
    expect(st.state).toBe(IstState.Terminated);
    expect(h.layer.size).toBe(0);
  });

  it('an ACK for a 2xx with a new branch matches no transaction and goes to the TU without one', () => {
    const h = harness();
    const inv = request('INVITE');
    h.layer.receive(inv, udpInfo);
    h.requests[0]!.st!.respond(createResponse(inv, 200, undefined, { toTag: 'srvtag' }));
    const ack = ackFor(inv);
    ack.headers = ack.headers.map((x) => (x.name === 'Via' ? { name: 'Via', value: 'SIP/2.0/UDP 198.18.0.1:5070;branch=z9hG4bKnewack' } : x));
    h.layer.receive(ack, udpInfo);
    expect(h.requests[1]!.req.method).toBe('ACK');
    expect(h.requests[1]!.st).toBeUndefined();
    expect(h.layer.size).toBe(1);
  });

  it('over TCP: "timer G ... is not set to fire for reliable transports", and Timer I is zero', () => {
    const h = harness();
    const inv = request('INVITE', { transport: 'TCP', via: 'SIP/2.0/TCP 198.18.0.1:5070;branch=z9hG4bKtcp1' });
    h.layer.receive(inv, tcpInfo);
    const st = h.requests[0]!.st!;
    st.respond(createResponse(inv, 480));
    h.clock.advance(10_000);
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]!.dest).toEqual({ transport: 'tcp', address: '198.18.0.1', port: 40001, connectionId: 'tcp-9', connectPort: 5070 });
    h.layer.receive(ackFor(inv), tcpInfo);
    expect(st.state).toBe(IstState.Terminated);
    expect(h.layer.size).toBe(0);
  });

  it('respond() in a state that forbids it throws ERR_TRANSACTION_STATE', () => {
    const h = harness();
    const inv = request('INVITE');
    h.layer.receive(inv, udpInfo);
    const st = h.requests[0]!.st!;
    st.respond(createResponse(inv, 486));
    expect(() => st.respond(createResponse(inv, 200))).toThrowError(expect.objectContaining({ code: 'ERR_TRANSACTION_STATE' }));
    expect(st.state).toBe(IstState.Completed);
  });

  it('CANCEL gets its own server transaction and finds the INVITE it refers to (§9.2)', () => {
    const h = harness();
    const inv = request('INVITE', { branch: 'z9hG4bKcancelme' });
    h.layer.receive(inv, udpInfo);
    const cancel = request('CANCEL', { branch: 'z9hG4bKcancelme' });
    h.layer.receive(cancel, udpInfo);
    expect(h.requests.map((r) => r.req.method)).toEqual(['INVITE', 'CANCEL']);
    expect(h.requests[1]!.st!.state).toBe(NistState.Trying);
    expect(h.layer.findInviteForCancel(cancel)).toBe(h.requests[0]!.st);
    expect(h.layer.findInviteForCancel(request('CANCEL', { branch: 'z9hG4bKother' }))).toBeUndefined();
    expect(h.layer.size).toBe(2);
  });

  it('§18.2.1 stamps received/rport, and §18.2.2 / RFC 3581 pick the response port', () => {
    const h = harness();
    const natted = { ...udpInfo, remote: { address: '198.18.5.5', port: 33333 } };
    h.layer.receive(request('OPTIONS', { via: 'SIP/2.0/UDP 10.0.0.1:5070;rport;branch=z9hG4bKnat' }), natted);
    const st = h.requests[0]!.st!;
    expect(getHeader(st.request, 'Via')).toBe('SIP/2.0/UDP 10.0.0.1:5070;rport=33333;branch=z9hG4bKnat;received=198.18.5.5');
    expect(st.responseDestination).toEqual({ transport: 'udp', address: '198.18.5.5', port: 33333 });
    h.layer.receive(request('OPTIONS', { via: 'SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKnonat' }), natted);
    expect(h.requests[1]!.st!.responseDestination).toEqual({ transport: 'udp', address: '198.18.5.5', port: 5070 });
    h.layer.receive(request('OPTIONS', { via: 'SIP/2.0/UDP 198.18.0.1:5070;branch=z9hG4bKsame' }), udpInfo);
    expect(getHeader(h.requests[2]!.req, 'Via')).toBe('SIP/2.0/UDP 198.18.0.1:5070;branch=z9hG4bKsame');
  });

  it('§18.2.2 over TCP: the connection the request came on, else a new connection to the received address and the sent-by port', () => {
    const h = harness();
    // a phone that connected from an ephemeral port and listens on 5070
    const tcp = { transport: 'tcp' as const, remote: { address: '198.18.5.5', port: 40123 }, local: { address: '198.18.1.100', port: 5060 }, connectionId: 'tcp-7' };
    h.layer.receive(request('OPTIONS', { via: 'SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bKtcp' }), tcp);
    expect(h.requests[0]!.st!.responseDestination).toEqual({ transport: 'tcp', address: '198.18.5.5', port: 40123, connectionId: 'tcp-7', connectPort: 5070 });
    // no port in sent-by: "or the default port for that transport"
    h.layer.receive(request('OPTIONS', { via: 'SIP/2.0/TCP 198.18.5.5;branch=z9hG4bKtcpdefault' }), tcp);
    expect(h.requests[1]!.st!.responseDestination).toMatchObject({ connectionId: 'tcp-7', connectPort: 5060 });
    // sent-by port = source port: nothing to add
    h.layer.receive(request('OPTIONS', { via: 'SIP/2.0/TCP 198.18.5.5:40123;branch=z9hG4bKtcpsame' }), tcp);
    expect(h.requests[2]!.st!.responseDestination).toEqual({ transport: 'tcp', address: '198.18.5.5', port: 40123, connectionId: 'tcp-7' });
  });

  it('requests with the same branch from a different sent-by are different transactions (§17.2.3)', () => {
    const h = harness();
    h.layer.receive(request('INVITE', { via: 'SIP/2.0/UDP 198.18.0.1:5070;branch=z9hG4bKdup' }), udpInfo);
    h.layer.receive(request('INVITE', { via: 'SIP/2.0/UDP 198.18.0.9:5070;branch=z9hG4bKdup' }), udpInfo);
    expect(h.requests).toHaveLength(2);
    expect(h.layer.size).toBe(2);
  });

  it('a TU that throws in onRequest does not break the layer', () => {
    const h = harness();
    let calls = 0;
    const layer = new TransactionLayer({
      clock: h.clock,
      send: () => {},
      user: { onRequest: () => { calls++; throw new Error('bug'); }, onStrayResponse: () => {} },
    });
    const inv = request('INVITE');
    layer.receive(inv, udpInfo);
    layer.receive(structuredClone(inv), udpInfo);
    expect(calls).toBe(1);
    expect(layer.size).toBe(1);
  });
});
