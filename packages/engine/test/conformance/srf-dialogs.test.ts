import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { SDP, connectSrf, disconnect, sipPort, startEngine, waitFor } from './harness.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function pair(policyB: 'reject' | 'app' = 'reject') {
  const ea = await startEngine();
  const eb = await startEngine({ unknownDialogPolicy: policyB });
  const a = await connectSrf(ea);
  const b = await connectSrf(eb);
  cleanup.push(() => ea.close(), () => eb.close(), () => disconnect(a.srf), () => disconnect(b.srf));
  return { ea, eb, a: a.srf, b: b.srf, hostportA: a.hostport };
}

describe('drachtio-srf against the engine', () => {
  it('authenticates and reports the SIP hostports', async () => {
    const e = await startEngine();
    cleanup.push(() => e.close());
    const { srf, hostport } = await connectSrf(e);
    cleanup.push(() => disconnect(srf));
    expect(hostport).toBe(`udp/127.0.0.1:${sipPort(e)}`);
    expect(e.stats().apps).toBe(1);
  });

  it('refuses a wrong secret and closes the connection', async () => {
    const e = await startEngine();
    cleanup.push(() => e.close());
    const failed = waitFor<{ remote: string }>((r) => e.once('app-auth-failed', r));
    await expect(connectSrf(e, 'wrong')).rejects.toThrow(/authenticate/);
    expect((await failed).remote).toMatch(/^127\.0\.0\.1:\d+$/);
    await new Promise((r) => setTimeout(r, 50));
    expect(e.stats().apps).toBe(0);
  });

  it('createUAC -> createUAS, INFO, re-INVITE (modify) and BYE from the UAC side', async () => {
    const { eb, a, b } = await pair();
    const uasP = waitFor<any>((resolve) => {
      b.invite(async (req: any, res: any) => {
        resolve(await b.createUAS(req, res, { localSdp: SDP(20000) }));
      });
    });
    const uac = await a.createUAC(`sip:callee@127.0.0.1:${sipPort(eb)}`, { localSdp: SDP(10000) });
    const uas = await uasP;
    expect(uac.sip.callId).toBe(uas.sip.callId);
    expect(uac.remote.sdp).toContain('m=audio 20000');
    expect(uas.remote.sdp).toContain('m=audio 10000');
    await waitFor<void>((r) => uas.once('ack', () => r()), 3000, 'ack');

    const infoP = waitFor<any>((r) => uas.on('info', (req: any, res: any) => { res.send(200); r(req); }));
    const infoRes = await uac.request({ method: 'INFO', headers: { 'Content-Type': 'text/plain' }, body: 'hello' });
    expect(infoRes.status).toBe(200);
    expect((await infoP).body).toBe('hello');

    const modP = waitFor<any>((r) => uas.on('modify', (req: any, res: any) => { res.send(200, { body: SDP(20002) }); r(req); }));
    const newRemote = await uac.modify(SDP(10002));
    expect(newRemote).toContain('m=audio 20002');
    expect((await modP).body).toContain('m=audio 10002');

    const destroyed = waitFor<void>((r) => uas.on('destroy', () => r()), 3000, 'destroy');
    await uac.destroy();
    await destroyed;
    await new Promise((r) => setTimeout(r, 50));
    expect(eb.stats().dialogs).toBe(0);
  });

  it('BYE from the UAS side reaches the UAC app', async () => {
    const { ea, eb, a, b } = await pair();
    b.invite((req: any, res: any) => {
      b.createUAS(req, res, { localSdp: SDP(20000) }).then((uas: any) => setTimeout(() => uas.destroy(), 100));
    });
    const uac = await a.createUAC(`sip:callee@127.0.0.1:${sipPort(eb)}`, { localSdp: SDP(10000) });
    await waitFor<void>((r) => uac.on('destroy', () => r()), 3000, 'destroy');
    await new Promise((r) => setTimeout(r, 50));
    expect(ea.stats().dialogs).toBe(0);
    expect(eb.stats().dialogs).toBe(0);
  });

  it('a final failure reaches the createUAC rejection with .status', async () => {
    const { eb, a, b } = await pair();
    b.invite((_req: any, res: any) => res.send(486));
    const err = await a.createUAC(`sip:busy@127.0.0.1:${sipPort(eb)}`, { localSdp: SDP(10000) }).catch((e: any) => e);
    expect(err.status).toBe(486);
  });

  it('CANCEL of a pending UAC: far end gets cancel, UAC rejects with 487', async () => {
    const { eb, a, b } = await pair();
    const cancelled = waitFor<void>((r) => {
      b.invite((req: any, res: any) => {
        res.send(180);
        req.on('cancel', () => r());
      });
    });
    let sent: any;
    const p = a.createUAC(`sip:late@127.0.0.1:${sipPort(eb)}`, { localSdp: SDP(10000) }, { cbRequest: (_e: any, req: any) => (sent = req), cbProvisional: () => sent.cancel() });
    const err = await p.catch((e: any) => e);
    expect(err.status).toBe(487);
    await cancelled;
  });

  it('srf.request OPTIONS outside a dialog', async () => {
    const { eb, a, b } = await pair();
    b.options((req: any, res: any) => res.send(200, { headers: { 'X-Seen': req.get('X-Probe') } }));
    const res = await waitFor<any>((r) => {
      a.request(`sip:ping@127.0.0.1:${sipPort(eb)}`, { method: 'OPTIONS', headers: { 'X-Probe': 'p1' } }, (err: any, req: any) => {
        if (err) throw err;
        req.on('response', (resp: any) => r(resp));
      });
    });
    expect(res.status).toBe(200);
    expect(res.get('X-Seen')).toBe('p1');
  });

  it('no app route for the method: 503', async () => {
    const { eb, a } = await pair();
    const res = await waitFor<any>((r) => {
      a.request(`sip:x@127.0.0.1:${sipPort(eb)}`, { method: 'MESSAGE', headers: { 'Content-Type': 'text/plain' }, body: 'hi' }, (err: any, req: any) => {
        if (err) throw err;
        req.on('response', (resp: any) => r(resp));
      });
    });
    expect(res.status).toBe(503);
  });
});
