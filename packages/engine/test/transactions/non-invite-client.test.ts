import { describe, expect, it } from 'vitest';
import { NictState } from '../../src/transactions/index.js';
import { ctUser, harness, reply, request, tcpDest, udpDest, udpInfo } from './harness.js';

const gaps = (ts: number[]) => ts.slice(1).map((t, i) => t - ts[i]!);

describe('non-INVITE client transaction (§17.1.2)', () => {
  it('"If timer E fires while still in this state, the timer is reset, but this time with a value of MIN(2*T1, T2)" and Timer F times out at 64*T1', () => {
    const h = harness();
    const u = ctUser();
    const ct = h.layer.sendRequest(request('OPTIONS'), udpDest, u.user);
    expect(ct.state).toBe(NictState.Trying);
    h.clock.advance(40_000);
    expect(gaps(h.sent.map((s) => s.at))).toEqual([500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000, 4000]);
    expect(u.timeouts).toEqual([ct]);
    expect(h.layer.size).toBe(0);
    expect(h.clock.pending).toBe(0);
  });

  it('"If Timer E fires while in the Proceeding state, the request MUST be passed to the transport layer for retransmission, and Timer E MUST be reset with a value of T2"', () => {
    const h = harness();
    const u = ctUser();
    const req = request('BYE');
    const ct = h.layer.sendRequest(req, udpDest, u.user);
    h.clock.advance(100);
    h.layer.receive(reply(req, 100), udpInfo);
    expect(ct.state).toBe(NictState.Proceeding);
    h.clock.advance(12_000);
    // E was armed for t=500 before the 100 arrived; after it fires, every T2
    expect(h.sent.map((s) => s.at)).toEqual([0, 500, 4500, 8500]);
    h.clock.advance(30_000);
    expect(u.timeouts).toHaveLength(1);
  });

  it('"If a final response (status codes 200-699) is received while in the Trying state, the response MUST be passed to the TU"; retransmissions are absorbed until Timer K (T4)', () => {
    const h = harness();
    const u = ctUser();
    const req = request('INFO');
    const ct = h.layer.sendRequest(req, udpDest, u.user);
    h.layer.receive(reply(req, 200), udpInfo);
    h.layer.receive(reply(req, 200), udpInfo);
    expect(u.responses.map((r) => r.res.status)).toEqual([200]);
    expect(ct.state).toBe(NictState.Completed);
    h.clock.advance(4999);
    expect(ct.state).toBe(NictState.Completed);
    expect(h.sent).toHaveLength(1); // no retransmissions in Completed
    h.clock.advance(1);
    expect(ct.state).toBe(NictState.Terminated);
    expect(h.layer.size).toBe(0);
    expect(h.strays).toHaveLength(0);
  });

  it('over TCP: no Timer E and "zero seconds for reliable transports" for Timer K', () => {
    const h = harness();
    const u = ctUser();
    const req = request('MESSAGE', { transport: 'TCP' });
    const ct = h.layer.sendRequest(req, tcpDest, u.user);
    h.clock.advance(10_000);
    expect(h.sent).toHaveLength(1);
    h.layer.receive(reply(req, 202), udpInfo);
    expect(ct.state).toBe(NictState.Terminated);
    expect(h.layer.size).toBe(0);
  });

  it('a response for another method with the same branch does not match (§17.1.3 CSeq method)', () => {
    const h = harness();
    const u = ctUser();
    const req = request('OPTIONS');
    h.layer.sendRequest(req, udpDest, u.user);
    const wrong = reply(req, 200);
    wrong.headers = wrong.headers.map((x) => (x.name === 'CSeq' ? { name: 'CSeq', value: '7 INVITE' } : x));
    h.layer.receive(wrong, udpInfo);
    expect(u.responses).toHaveLength(0);
    expect(h.strays).toHaveLength(1);
  });
});
