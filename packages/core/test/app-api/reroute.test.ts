// Application commands on a B2BCall (fake srf): transfer by re-routing the B leg, and INFO via sendRequest.
import { describe, expect, it } from 'vitest';
import { CallControl } from '../../src/call-control.js';
import type { CallRecord } from '../../src/records/call-record.js';
import { FakeSrf, flush } from '../fake-srf.js';

const SDP_A = 'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n';
const SDP_B = 'v=0\r\no=bob 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n';
const SDP_C = 'v=0\r\no=carol 3 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 8000 RTP/AVP 0\r\n';

async function answered() {
  const srf = new FakeSrf();
  const cc = new CallControl({ srf, routing: { rules: [], default: 'sip:127.0.0.1:5080' } });
  const ended: CallRecord[] = [];
  cc.on('callEnded', (r) => ended.push(r));
  await cc.start();
  srf.call({ body: SDP_A });
  await flush();
  const bDialog = srf.uacs[0]!.answer(SDP_B);
  await flush();
  const aDialog = srf.uasDialogs[0]!;
  const id = cc.calls()[0]!.id;
  return { srf, cc, ended, aDialog, bDialog, id, call: cc.liveCall(id)! };
}

describe('B2BCall.rerouteB (transfer by re-routing the B leg)', () => {
  it('calls the new target with the caller\'s SDP, re-INVITEs the caller with the new SDP, releases the old callee, and records the new B leg', async () => {
    const { srf, cc, aDialog, bDialog, id, call, ended } = await answered();
    const p = call.rerouteB({ target: 'sip:carol@127.0.0.1:5090', headers: { 'X-Transfer': 'yes' } });
    await flush();
    const uac2 = srf.uacs[1]!;
    expect(uac2.uri).toBe('sip:carol@127.0.0.1:5090');
    expect(uac2.opts.localSdp).toBe(SDP_A);
    expect(uac2.opts.headers).toMatchObject({ 'X-Transfer': 'yes', To: '<sip:carol@127.0.0.1:5090>', From: '"Alice" <sip:alice@127.0.0.1:5070>' });
    const cDialog = uac2.answer(SDP_C);
    await flush();
    expect(aDialog.sent.map((s) => [s.method, s.body])).toEqual([['INVITE', SDP_C]]);
    aDialog.sent[0]!.respond(200, 'OK', { body: SDP_A });
    await p;
    expect(bDialog.destroyed).toBe(1);
    const rec = cc.call(id)!;
    expect(rec).toMatchObject({ state: 'answered', route: { target: 'sip:carol@127.0.0.1:5090', rule: 'app-reroute' }, b: { callId: 'call-b-2', remoteTag: 'callee2', remoteSdp: SDP_C, state: 'confirmed' }, a: { localSdp: SDP_C } });
    // A BYE from the released callee does not end the call; the new callee's does.
    bDialog.bye();
    await flush();
    expect(cc.call(id)!.state).toBe('answered');
    cDialog.bye();
    await flush();
    expect(ended.map((r) => r.endReason)).toEqual(['callee-bye']);
    expect(aDialog.destroyed).toBe(1);
  });

  it('a new target that fails leaves the call with the old callee; the error carries the SIP status', async () => {
    const { srf, cc, bDialog, id, call } = await answered();
    const p = call.rerouteB({ target: 'sip:carol@127.0.0.1:5090' });
    await flush();
    srf.uacs[1]!.reject(486, 'Busy Here');
    await expect(p).rejects.toMatchObject({ status: 486 });
    expect(bDialog.destroyed).toBe(0);
    expect(cc.call(id)!.route.rule).toBe('default');
    // The call still relays: the re-route lock is released.
    const res = bDialog.incoming('modify', 'INVITE', SDP_B, 20);
    await flush();
    expect(res.statuses()).toEqual([]); // relayed to A (pending there), not refused 491 (RFC 3261 §14.2)
  });

  it('an unanswered call cannot be re-routed (ERR_CALL_STATE)', async () => {
    const srf = new FakeSrf();
    const cc = new CallControl({ srf, routing: { rules: [], default: 'sip:127.0.0.1:5080' } });
    await cc.start();
    srf.call({ body: SDP_A });
    await flush();
    const call = cc.liveCall(cc.calls()[0]!.id)!;
    await expect(call.rerouteB({ target: 'sip:x@127.0.0.1' })).rejects.toMatchObject({ code: 'ERR_CALL_STATE' });
    await expect(call.sendRequest('a', { method: 'INFO' })).rejects.toMatchObject({ code: 'ERR_CALL_STATE' });
  });
});
