import Srf from 'drachtio-srf';
import { Engine, type EngineOptions } from '../../src/engine.js';

export const SECRET = 'cymru';

export async function startEngine(extra: Partial<EngineOptions> = {}): Promise<Engine> {
  const e = new Engine({
    sip: { listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }] },
    admin: { address: '127.0.0.1', port: 0, secret: SECRET },
    ...extra,
  });
  await e.start();
  return e;
}

export function sipPort(e: Engine): number {
  return e.sipAddresses()[0]!.port;
}

export async function connectSrf(e: Engine, secret = SECRET): Promise<{ srf: any; hostport: string }> {
  const srf: any = new (Srf as any)();
  const { port } = e.adminAddress();
  const hostport = await new Promise<string>((resolve, reject) => {
    srf.on('connect', (err: Error | null, hp: string) => (err ? reject(err) : resolve(hp)));
    srf.on('error', reject);
    srf.connect({ host: '127.0.0.1', port, secret, reconnect: { maxAttempts: 1 } });
  });
  return { srf, hostport };
}

export function disconnect(srf: any): void {
  try {
    srf.disconnect();
  } catch {
    /* already gone */
  }
}

export const SDP = (port: number) =>
  ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=sendrecv', ''].join('\r\n');

export function waitFor<T>(fn: (resolve: (v: T) => void) => void, ms = 5000, what = 'event'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${what}`)), ms);
    fn((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}
