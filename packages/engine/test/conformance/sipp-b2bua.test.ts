import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SDP, connectSrf, disconnect, sipPort, startEngine } from './harness.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  s.close();
  return p;
}

async function freeTcpPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

function sipp(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => { // after stdio ended: 'exit' can come before the last output is read
      clearTimeout(t);
      resolve({ code, out });
    });
    cleanup.push(() => p.kill('SIGKILL'));
  });
}

describe('SIPp through the engine and a minimal srf B2BUA', () => {
  it.each(['udp', 'tcp'] as const)('200 calls at 50 calls/s over %s on both legs, 0 failed', async (transport) => {
    const e = await startEngine();
    if (transport === 'tcp') await e.addListen({ transport: 'tcp', address: '127.0.0.1', port: sipPort(e) });
    const tp = transport === 'tcp' ? ';transport=tcp' : '';
    const sippT = transport === 'tcp' ? ['-t', 't1'] : [];
    const freePort = transport === 'tcp' ? freeTcpPort : freeUdpPort;
    const { srf } = await connectSrf(e);
    cleanup.push(() => e.close(), () => disconnect(srf));
    const uasPort = await freePort();
    srf.invite((req: any, res: any) => {
      srf.createB2BUA(req, res, `sip:${req.calledNumber || 'service'}@127.0.0.1:${uasPort}${tp}`, { localSdpB: req.body })
        .then(({ uas, uac }: any) => {
          uas.on('destroy', () => uac.destroy().catch(() => {}));
          uac.on('destroy', () => uas.destroy().catch(() => {}));
        })
        .catch(() => {});
    });
    const uas = sipp([...sippT, '-sn', 'uas', '-i', '127.0.0.1', '-p', String(uasPort), '-m', '200', '-nostdin', '-buff_size', '4194304'], 60_000);
    void uas;
    const uacPort = await freePort();
    const r = await sipp(
      [...sippT, '-sn', 'uac', '-i', '127.0.0.1', '-p', String(uacPort), '-r', '50', '-m', '200', '-d', '100', '-nostdin', '-timeout', '40s', '-timeout_error',
        '-buff_size', '4194304', `127.0.0.1:${sipPort(e)}`],
      50_000,
    );
    const failed = /Failed call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(r.out);
    const success = /Successful call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(r.out);
    if (r.code !== 0) console.log(r.out.slice(-3000));
    expect(r.code).toBe(0);
    expect(success?.[1]).toBe('200');
    expect(failed?.[1]).toBe('0');
    await new Promise((res) => setTimeout(res, 300));
    expect(e.stats().dialogs).toBe(0);
    void SDP;
  }, 60_000);
});
