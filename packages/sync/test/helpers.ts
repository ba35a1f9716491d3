import { RedisServer, type RedisServerOptions } from '../src/index.js';

/** Tracks every redis-server a test starts so afterEach/afterAll can always stop them. */
export class Servers {
  readonly list: RedisServer[] = [];
  async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const s = await RedisServer.start(opts);
    this.list.push(s);
    return s;
  }
  async restart(s: RedisServer, overrides: Partial<RedisServerOptions> = {}): Promise<RedisServer> {
    const n = await s.restart(overrides);
    this.list.push(n);
    return n;
  }
  async stopAll(): Promise<void> {
    await Promise.all(this.list.splice(0).map((s) => s.stop(2000)));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export function call(i: number, version: number, epoch = 1, extra: Record<string, unknown> = {}) {
  return {
    id: `call-${i}`,
    version,
    epoch,
    state: version > 3 ? 'connected' : 'ringing',
    legs: [
      { callId: `a${i}@198.18.0.1`, localTag: `t${i}`, remoteTag: `r${i}`, localCseq: version, remoteCseq: 1 },
      { callId: `b${i}@198.18.0.2`, localTag: `u${i}`, remoteTag: version > 1 ? `s${i}` : null, localCseq: 1, remoteCseq: version },
    ],
    sdp: `v=0\r\no=- ${i} ${version} IN IP4 198.18.0.1\r\n`,
    ...extra,
  };
}
