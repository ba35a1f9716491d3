/**
 * drachtio-srf apps on two engines that talk SIP to each other over TCP: the
 * engine's real transport layer (UDP + TCP on one port), Via/Contact carrying TCP,
 * connection reuse, and addListen/removeListen of a TCP address at run time.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { SDP, connectSrf, disconnect, startEngine, waitFor } from './harness.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** An engine listening on UDP and TCP, on the same (ephemeral) port. */
async function dualEngine(): Promise<Engine> {
  const e = await startEngine({ sip: { listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }] } });
  const udp = e.sipAddresses()[0]!;
  await e.addListen({ transport: 'tcp', address: '127.0.0.1', port: udp.port });
  return e;
}

function tcpPort(e: Engine): number {
  return e.sipAddresses().find((l) => l.transport === 'tcp')!.port;
}

async function pair() {
  const ea = await dualEngine();
  const eb = await dualEngine();
  const a = await connectSrf(ea);
  const b = await connectSrf(eb);
  cleanup.push(() => ea.close(), () => eb.close(), () => disconnect(a.srf), () => disconnect(b.srf));
  return { ea, eb, a: a.srf, b: b.srf, hostportA: a.hostport };
}

describe('drachtio-srf over TCP', () => {
  it('reports both hostports, udp and tcp', async () => {
    const { ea, hostportA } = await pair();
    const port = tcpPort(ea);
    expect(hostportA).toBe(`udp/127.0.0.1:${port},tcp/127.0.0.1:${port}`);
  });

  it('createUAC -> createUAS with ;transport=tcp: Via/Contact say TCP, re-INVITE and BYE go over the same connection', async () => {
    const { eb, a, b } = await pair();
    const invP = waitFor<{ req: any; uas: any }>((resolve) => {
      b.invite(async (req: any, res: any) => {
        const uas = await b.createUAS(req, res, { localSdp: SDP(20000) });
        resolve({ req, uas });
      });
    });
    let sentInvite = '';
    const uac = await a.createUAC(
      `sip:callee@127.0.0.1:${tcpPort(eb)};transport=tcp`,
      { localSdp: SDP(10000) },
      { cbRequest: (_err: unknown, req: any) => (sentInvite = req.msg?.raw ?? req.raw ?? String(req)) },
    );
    const { req, uas } = await invP;
    // what engine B received from engine A
    expect(req.protocol).toBe('tcp');
    expect(req.get('Via')).toMatch(/^SIP\/2\.0\/TCP /);
    expect(req.get('Contact')).toMatch(/;transport=tcp>/);
    // what engine A got back from engine B in the 200
    expect(uac.res.get('Contact')).toMatch(/;transport=tcp>/);
    expect(uac.remote.sdp).toContain('m=audio 20000');
    expect(sentInvite).toMatch(/Via: SIP\/2\.0\/TCP /);
    await waitFor<void>((r) => uas.once('ack', () => r()), 3000, 'ack');

    const modP = waitFor<any>((r) => uas.on('modify', (m: any, res: any) => { res.send(200, { body: SDP(20002) }); r(m); }));
    expect(await uac.modify(SDP(10002))).toContain('m=audio 20002');
    expect((await modP).protocol).toBe('tcp');

    const byeP = waitFor<any>((r) => uac.on('destroy', (bye: any) => r(bye)), 3000, 'BYE at the UAC');
    await uas.destroy();
    const bye = await byeP;
    expect(bye.protocol).toBe('tcp');
    await new Promise((r) => setTimeout(r, 50));
    expect(eb.stats().dialogs).toBe(0);
  });

  it('answers a request on the TCP connection it came on (raw client, no listener of its own)', async () => {
    const e = await dualEngine();
    cleanup.push(() => e.close());
    const { srf } = await connectSrf(e);
    cleanup.push(() => disconnect(srf));
    srf.options((_req: any, res: any) => res.send(200));
    const sock = net.connect({ host: '127.0.0.1', port: tcpPort(e) });
    cleanup.push(() => sock.destroy());
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const lp = sock.localPort!;
    let got = '';
    const resP = waitFor<string>((resolve) =>
      sock.on('data', (d) => {
        got += d.toString();
        if (/\r\n\r\n/.test(got)) resolve(got);
      }),
    );
    // the Via names a port nobody listens on: the answer must still come back on this connection
    sock.write(
      [
        'OPTIONS sip:engine@127.0.0.1 SIP/2.0',
        'Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-tcp-1',
        'Max-Forwards: 70',
        'From: <sip:probe@127.0.0.1>;tag=p1',
        'To: <sip:engine@127.0.0.1>',
        'Call-ID: tcp-options-1',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    const res = await resP;
    expect(res).toMatch(/^SIP\/2\.0 200 /);
    expect(res).toMatch(/\r\nVia: SIP\/2\.0\/TCP 127\.0\.0\.1:9;branch=z9hG4bK-tcp-1\r\n/);
    expect(sock.localPort).toBe(lp);
  });

  it('removeListen of the TCP address refuses new connections, addListen binds it again', async () => {
    const e = await dualEngine();
    cleanup.push(() => e.close());
    const port = tcpPort(e);
    expect(await e.removeListen({ transport: 'tcp', address: '127.0.0.1', port })).toBe(true);
    expect(e.sipAddresses().map((l) => l.transport)).toEqual(['udp']);
    const refused = await new Promise<string>((r) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); r('connected'); });
      s.once('error', (err: NodeJS.ErrnoException) => r(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    const bound = await e.addListen({ transport: 'tcp', address: '127.0.0.1', port });
    expect(bound).toEqual({ transport: 'tcp', address: '127.0.0.1', port });
    const ok = await new Promise<string>((r) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); r('connected'); });
      s.once('error', (err: NodeJS.ErrnoException) => r(err.code ?? 'error'));
    });
    expect(ok).toBe('connected');
  });
});
