import Srf from 'drachtio-srf';
import { afterEach, describe, expect, it } from 'vitest';
import { SDP, connectSrf, disconnect, sipPort, startEngine, waitFor } from './harness.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function node(policy: 'reject' | 'app' = 'reject') {
  const e = await startEngine({ unknownDialogPolicy: policy });
  const { srf } = await connectSrf(e);
  cleanup.push(() => e.close(), () => disconnect(srf));
  return { e, srf };
}

function send(srf: any, uri: string, opts: any): Promise<{ req: any; res: any; ack: any }> {
  return waitFor((r) => {
    srf.request(uri, opts, (err: any, req: any) => {
      if (err) throw err;
      req.on('response', (res: any, ack: any) => {
        if (res.status >= 200) r({ req, res, ack });
      });
    });
  }, 5000, `${opts.method} response`);
}

const strayHeaders = (method: string) => ({
  'Call-ID': `stray-${Math.random()}`,
  From: '<sip:a@127.0.0.1>;tag=aaa1',
  To: '<sip:b@127.0.0.1>;tag=bbb1',
  CSeq: `5 ${method}`,
  Contact: '<sip:a@127.0.0.1>',
});

describe("unknownDialogPolicy 'reject' (stock drachtio-server behaviour)", () => {
  it('in-dialog BYE for an unknown dialog is answered 481 by the engine', async () => {
    const a = await node();
    const b = await node('reject');
    let appSaw = false;
    b.srf.bye((_req: any, res: any) => { appSaw = true; res.send(200); });
    const { res } = await send(a.srf, `sip:b@127.0.0.1:${sipPort(b.e)}`, { method: 'BYE', headers: strayHeaders('BYE') });
    expect(res.status).toBe(481);
    expect(appSaw).toBe(false);
    expect(b.e.stats().rejected481).toBe(1);
  });

  it('in-dialog INFO for an unknown dialog reaches the app as a new request', async () => {
    const a = await node();
    const b = await node('reject');
    b.srf.info((_req: any, res: any) => res.send(200));
    const { res } = await send(a.srf, `sip:b@127.0.0.1:${sipPort(b.e)}`, { method: 'INFO', headers: strayHeaders('INFO') });
    expect(res.status).toBe(200);
  });
});

describe("unknownDialogPolicy 'app'", () => {
  it('in-dialog BYE for an unknown dialog reaches the app, and its answer goes back', async () => {
    const a = await node();
    const b = await node('app');
    const seen = waitFor<any>((r) => b.srf.bye((req: any, res: any) => { res.send(200); r(req); }));
    const { res } = await send(a.srf, `sip:b@127.0.0.1:${sipPort(b.e)}`, { method: 'BYE', headers: strayHeaders('BYE') });
    expect(res.status).toBe(200);
    const req = await seen;
    expect(req.stackDialogId).toBeFalsy();
    expect(b.e.stats().rejected481).toBe(0);
  });

  it('an app continues a dialog it never created: re-INVITE with its own tags/CSeq, then the far end BYE arrives in-dialog', async () => {
    // A calls B normally, then "A's node dies": a fresh engine C takes the call over.
    const a = await node();
    const b = await node();
    const uasP = waitFor<any>((r) => b.srf.invite(async (req: any, res: any) => r(await b.srf.createUAS(req, res, { localSdp: SDP(20000) }))));
    const uac = await a.srf.createUAC(`sip:callee@127.0.0.1:${sipPort(b.e)}`, { localSdp: SDP(10000) });
    const uas = await uasP;
    await waitFor<void>((r) => uas.once('ack', () => r()), 3000, 'ack');

    const c = await node('app');
    const from = uac.req.get('From');
    const to = uac.res.get('To');
    const { req, res, ack } = await send(c.srf, uac.remote.uri, {
      method: 'INVITE',
      headers: {
        'Call-ID': uac.sip.callId,
        From: from,
        To: to,
        CSeq: '10 INVITE',
        Contact: `<sip:takeover@127.0.0.1:${sipPort(c.e)}>`,
        'Content-Type': 'application/sdp',
      },
      body: SDP(30000),
    });
    expect(res.status).toBe(200);
    expect(res.stackDialogId).toBe(`${uac.sip.callId};from-tag=${uac.sip.localTag}`);
    ack();
    expect(c.e.stats().dialogs).toBe(1);
    const dlg = new (Srf as any).Dialog(c.srf, 'uac', { req, res });
    c.srf.addDialog(dlg);
    expect(uas.remote.sdp).toContain('m=audio 30000');

    // the far end hangs up: the BYE goes to C (the new remote target) and arrives in the dialog
    const destroyed = waitFor<any>((r) => dlg.on('destroy', (bye: any) => r(bye)), 3000, 'destroy on C');
    await uas.destroy();
    const bye = await destroyed;
    expect(bye.get('CSeq')).toMatch(/BYE/);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.e.stats().dialogs).toBe(0);
  });
});
