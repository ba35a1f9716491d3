/**
 * HeartbeatTransport whose UDP sockets live in a dedicated worker thread, so that the
 * peer keeps hearing this node while the main event loop is busy (a burst of SIP work,
 * a GC pause) or starved of CPU by the engine thread. Measured under load: main-loop
 * stalls of 400–780 ms on a 2-core host, longer than the 500 ms miss window.
 *
 * A thread that says "alive" while the main loop is dead would hide a hung node, so the
 * worker carries the main loop's liveness: the main thread stamps a shared clock cell
 * every interval/2; the worker repeats the main thread's last heartbeat (fresh sequence
 * number, same role and epoch — those only change on the main thread) ONLY while that
 * stamp is younger than `mainStallLimitMs`. A main loop stuck longer goes silent and the
 * peer takes over after its miss window: detection of a hung node = limit + window; a
 * crashed process (worker included) is detected in the window as before.
 *
 * Received datagrams are checked against the path's peer address in the worker and
 * handed to the main thread, which decodes and verifies them as before.
 */
import { Worker } from 'node:worker_threads';
import { isIPv6 } from 'node:net';
import { HaError } from './errors.js';
import type { HeartbeatPathInfo, HeartbeatReceiver, HeartbeatSecret, HeartbeatTransport } from './heartbeat.js';
import { silentLogger, type HaLogger } from './emitter.js';
import type { UdpPathOptions } from './udp-transport.js';

export interface WorkerHeartbeatTransportOptions {
  paths: UdpPathOptions[];
  secret: HeartbeatSecret;
  /** The controller's heartbeat interval: the worker repeats at this pace. */
  intervalMs: number;
  /** The worker stops repeating when the main loop has not stamped for this long. Default 1500 ms. */
  mainStallLimitMs?: number;
  logger?: HaLogger;
}

// Plain JavaScript (the worker runs without the TypeScript loader). It re-signs the main
// thread's last heartbeat body with a new seq and sentAt: same wire format as heartbeat.ts
// ("DSHB" | version | HMAC-SHA256(secret, magic|version|body) | JSON body).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const { createHmac } = require('node:crypto');
const { paths, secret, intervalMs, mainStallLimitMs, stamp } = workerData;
const alive = new Float64Array(stamp);
const HEAD = 5, MAC = 32;
const socks = new Map();
let seq = 0;
let bound = 0;
function resign(data) {
  const head = data.subarray(0, HEAD);
  const body = JSON.parse(data.subarray(HEAD + MAC).toString('utf8'));
  body.s = ++seq;
  body.t = Date.now();
  const b = Buffer.from(JSON.stringify(body), 'utf8');
  const mac = createHmac('sha256', secret).update(head).update(b).digest();
  return Buffer.concat([head, mac, b]);
}
function send(ps, data) {
  if (!ps.peer || !ps.bound) return;
  ps.pending++;
  ps.socket.send(data, ps.peer.port, ps.peer.address, () => {
    if (--ps.pending === 0 && ps.onDrained) ps.onDrained();
  });
  ps.sentAt = Date.now();
}
for (const p of paths) {
  const socket = dgram.createSocket({ type: p.v6 ? 'udp6' : 'udp4' });
  const ps = { p, socket, peer: p.peer, bound: false, last: undefined, sentAt: 0, pending: 0, onDrained: undefined };
  socks.set(p.name, ps);
  socket.on('error', (err) => parentPort.postMessage({ t: 'error', path: p.name, message: err.message, bound: ps.bound }));
  socket.on('message', (data, r) => {
    if (data.length > 1024) return;
    if (!ps.peer || r.address !== ps.peer.address || r.port !== ps.peer.port) {
      parentPort.postMessage({ t: 'stray', path: p.name, from: r.address + ':' + r.port });
      return;
    }
    parentPort.postMessage({ t: 'rx', path: p.name, data, from: r.address + ':' + r.port });
  });
  socket.bind({ address: p.local.address, port: p.local.port, exclusive: true }, () => {
    ps.bound = true;
    const a = socket.address();
    parentPort.postMessage({ t: 'bound', path: p.name, address: a.address, port: a.port });
  });
}
parentPort.on('message', (m) => {
  const ps = socks.get(m.path);
  if (m.t === 'send' && ps) {
    const data = Buffer.from(m.data);
    ps.last = data;
    try { send(ps, resign(data)); } catch (err) { parentPort.postMessage({ t: 'error', path: m.path, message: String(err) }); }
  } else if (m.t === 'peer' && ps) {
    ps.peer = m.peer;
  } else if (m.t === 'close') {
    clearInterval(timer);
    let n = socks.size;
    // Node drops a send still in flight when its socket closes first; the last one is the
    // goodbye heartbeat (role Closed), so let it leave (for at most 200 ms).
    for (const s of socks.values()) {
      let done = false;
      const shut = () => {
        if (done) return;
        done = true;
        clearTimeout(t);
        s.socket.close(() => { if (--n === 0) parentPort.postMessage({ t: 'closed' }); });
      };
      const t = setTimeout(shut, s.pending > 0 ? 200 : 0);
      if (s.pending > 0) s.onDrained = shut; else shut();
    }
  }
});
const timer = setInterval(() => {
  const now = Date.now();
  // The main loop's liveness travels with the heartbeat: a stuck main loop goes silent.
  if (now - alive[0] > mainStallLimitMs) return;
  for (const ps of socks.values()) {
    if (ps.last && now - ps.sentAt >= intervalMs) {
      try { send(ps, resign(ps.last)); } catch {}
    }
  }
}, Math.max(5, Math.floor(intervalMs / 4)));
`;

export class WorkerHeartbeatTransport implements HeartbeatTransport {
  readonly paths: readonly HeartbeatPathInfo[];
  private readonly opts: WorkerHeartbeatTransportOptions;
  private readonly logger: HaLogger;
  private readonly stamp = new SharedArrayBuffer(8);
  private readonly alive = new Float64Array(this.stamp);
  private worker: Worker | undefined;
  private receiver: HeartbeatReceiver | undefined;
  private stampTimer: NodeJS.Timeout | undefined;
  private startPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  private readonly local = new Map<string, { address: string; port: number }>();

  constructor(opts: WorkerHeartbeatTransportOptions) {
    if (opts.paths.length === 0) throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: 'at least one heartbeat path is required' });
    if (!(opts.intervalMs > 0)) throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: 'intervalMs > 0 is required' });
    const names = new Set<string>();
    for (const p of opts.paths) {
      if (names.has(p.name)) throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: `duplicate path name ${p.name}` });
      names.add(p.name);
    }
    this.opts = opts;
    this.logger = opts.logger ?? silentLogger;
    this.paths = opts.paths.map((p) => ({ name: p.name, network: p.network }));
  }

  /** The bound local address of a path (after start()). */
  localEndpoint(path: string): { address: string; port: number } {
    const l = this.local.get(path);
    if (!l) throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: `heartbeat path ${path} is not bound` });
    return l;
  }

  setPeer(path: string, peer: { address: string; port: number }): void {
    this.worker?.postMessage({ t: 'peer', path, peer });
  }

  start(receiver: HeartbeatReceiver): Promise<void> {
    this.receiver = receiver;
    this.startPromise ??= new Promise<void>((resolve, reject) => {
      this.alive[0] = Date.now();
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          paths: this.opts.paths.map((p) => ({ name: p.name, local: p.local, peer: p.peer, v6: isIPv6(p.local.address) })),
          secret: this.opts.secret,
          intervalMs: this.opts.intervalMs,
          mainStallLimitMs: this.opts.mainStallLimitMs ?? 1500,
          stamp: this.stamp,
        },
      });
      w.unref();
      this.worker = w;
      let pending = this.opts.paths.length;
      w.on('message', (m: { t: string; path: string; data?: Uint8Array; from?: string; message?: string; bound?: boolean; address?: string; port?: number }) => {
        if (m.t === 'rx') this.receiver?.(m.path, Buffer.from(m.data!.buffer, m.data!.byteOffset, m.data!.byteLength), m.from!);
        else if (m.t === 'bound') {
          this.local.set(m.path, { address: m.address!, port: m.port! });
          if (--pending === 0) resolve();
        } else if (m.t === 'stray') this.logger.warn({ path: m.path, from: m.from }, 'datagram from unexpected source on heartbeat path dropped');
        else if (m.t === 'error') {
          if (m.bound === false) reject(new HaError({ code: 'ERR_HA_TRANSPORT', message: `cannot bind heartbeat path ${m.path}: ${m.message}` }));
          else this.logger.debug({ path: m.path, err: m.message }, 'heartbeat socket error');
        }
      });
      w.on('error', (err) => {
        this.logger.error({ err: err.message }, 'heartbeat worker failed');
        reject(new HaError({ code: 'ERR_HA_TRANSPORT', message: `heartbeat worker failed: ${err.message}`, cause: err }));
      });
      // The main loop's liveness: stamped from this thread's own timers only.
      this.stampTimer = setInterval(() => (this.alive[0] = Date.now()), Math.max(5, Math.floor(this.opts.intervalMs / 2)));
      this.stampTimer.unref();
    });
    return this.startPromise;
  }

  send(path: string, data: Buffer): void {
    if (!this.worker || this.closePromise) return;
    this.alive[0] = Date.now();
    this.worker.postMessage({ t: 'send', path, data });
  }

  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.receiver = undefined;
    if (this.stampTimer) clearInterval(this.stampTimer);
    const w = this.worker;
    this.closePromise = !w
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const done = () => {
            void w.terminate().finally(resolve);
          };
          const t = setTimeout(done, 1000);
          t.unref();
          w.on('message', (m: { t: string }) => {
            if (m.t === 'closed') {
              clearTimeout(t);
              done();
            }
          });
          w.postMessage({ t: 'close' });
        });
    return this.closePromise;
  }
}
