/**
 * Sync lag benchmark: two real redis-servers on loopback (primary + replica), a SyncNode
 * publishing on the primary, the mirror tailing the replica.
 *
 *   node --import tsx packages/sync/bench/lag.ts [--duration 3] [--rates 1000,10000] [--modes async,ack] [--split]
 *
 *   [--spread]: each call's ten changes 100 ms apart instead of back to back (see below).
 *
 * Without --split publisher and mirror run in this one process and share one event loop
 * (a pessimistic set-up). With --split the replica side (its SyncNode and mirror) runs in
 * a child process, as on a real pair where the passive is another host; both sides then
 * stamp and measure with the monotonic clock (CLOCK_MONOTONIC is the same for every
 * process on the machine), so cross-process lag has no wall-clock skew in it.
 *
 * For each (mode, rate): publishes `rate` record changes per second for `duration` seconds
 * (10 changes per call, like a call's life), and reports
 *   lag      publish timestamp (in the entry) → applied on the mirror, p50/p99/max
 *   commit   publish() call → promise resolved (async: local Redis has it; ack: replica has it)
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { SyncNode, type SyncMode } from '../src/index.js';
import type { Clock } from '../src/clock.js';
import { RedisServer } from '../src/redis-server.js';

/** Milliseconds on CLOCK_MONOTONIC: comparable across processes on one machine. */
const mono = (): number => Number(process.hrtime.bigint()) / 1e6;
const monoClock: Clock = {
  now: mono,
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(h) {
    if (h !== undefined && h !== null) clearTimeout(h as NodeJS.Timeout);
  },
};

// ---- the replica side, when run as the --split child ----
interface ChildStart { t: 'start'; host: string; port: number; peerHost: string; peerPort: number; password: string }
type ToParent = { t: 'ready' } | { t: 'lags'; lags: number[]; loads: number } | { t: 'error'; message: string };
if (process.argv.includes('--mirror-child')) {
  let node: SyncNode | undefined;
  const lags: number[] = [];
  const send = (m: ToParent) => process.send!(m);
  process.on('message', async (m: ChildStart | { t: 'collect' } | { t: 'stop' }) => {
    try {
      if (m.t === 'start') {
        node = new SyncNode({ redis: { host: m.host, port: m.port, password: m.password }, peer: { host: m.peerHost, port: m.peerPort }, clock: monoClock });
        await node.becomeReplica();
        await node.mirror!.waitReady(10_000);
        node.mirror!.on('applied', (_r, info) => {
          if (!info.fromSnapshot) lags.push(info.lagMs);
        });
        send({ t: 'ready' });
      } else if (m.t === 'collect') {
        await node!.mirror!.waitCaughtUp(20_000);
        await new Promise((r) => setTimeout(r, 50));
        send({ t: 'lags', lags: lags.splice(0), loads: node!.mirror!.status().snapshotLoads });
      } else {
        await node?.close().catch(() => undefined);
        process.exit(0);
      }
    } catch (err) {
      send({ t: 'error', message: String(err) });
    }
  });
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

const split = process.argv.includes('--split');
const spread = process.argv.includes('--spread');
const duration = Number(arg('duration', '3'));
const rates = arg('rates', '1000,10000').split(',').map(Number);
const modes = arg('modes', 'async,ack').split(',') as SyncMode[];
if (!(duration > 0) || rates.some((r) => !(r > 0)) || modes.some((m) => m !== 'async' && m !== 'ack')) {
  console.error('usage: lag.ts [--duration seconds] [--rates 1000,10000] [--modes async,ack] [--split] [--spread]');
  process.exit(2);
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const f = (n: number) => n.toFixed(2);
const now = split ? mono : () => performance.timeOrigin + performance.now();

function childRequest<T extends ToParent['t']>(child: ChildProcess, msg: object, want: T): Promise<Extract<ToParent, { t: T }>> {
  return new Promise((resolve, reject) => {
    const on = (m: ToParent) => {
      if (m.t === 'error') reject(new Error(`mirror child: ${m.message}`));
      else if (m.t === want) resolve(m as Extract<ToParent, { t: T }>);
      else return;
      child.off('message', on);
    };
    child.on('message', on);
    child.send(msg);
  });
}

async function run(mode: SyncMode, rate: number) {
  const pw = 'bench';
  const a = await RedisServer.start({ password: pw });
  const b = await RedisServer.start({ password: pw });
  const na = new SyncNode({ redis: { host: a.host, port: a.port, password: pw }, mode, ackTimeoutMs: 1000, ...(split ? { clock: monoClock } : {}) });
  const log = process.env.BENCH_LOG ? { debug: () => {}, info: (o: object, m?: string) => console.error(now().toFixed(1), m, JSON.stringify(o)), warn: (o: object, m?: string) => console.error(now().toFixed(1), m, JSON.stringify(o)), error: (o: object, m?: string) => console.error(m, o) } : undefined;
  const nb = split ? undefined : new SyncNode({ redis: { host: b.host, port: b.port, password: pw }, peer: { host: a.host, port: a.port }, logger: log });
  const child = split ? fork(fileURLToPath(import.meta.url), ['--mirror-child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }) : undefined;
  try {
    await na.becomePrimary(1);
    if (child) await childRequest(child, { t: 'start', host: b.host, port: b.port, peerHost: a.host, peerPort: a.port, password: pw } satisfies ChildStart, 'ready');
    else {
      await nb!.becomeReplica();
      await nb!.mirror!.waitReady(10_000);
    }
    // Warm-up: the first WAIT after a replica link comes up can take until the replica's
    // first periodic ACK (~1 s); that is set-up cost, not per-change cost, so it is kept out.
    const warm = Date.now();
    await na.publish({ id: 'warm-up', version: 1, epoch: 1 });
    const warmMs = Date.now() - warm;
    let t0 = now();
    let lags: number[] = [];
    const commits: number[] = [];
    let failed = 0;
    nb?.mirror!.on('applied', (_r, info) => {
      if (!info.fromSnapshot) lags.push(info.lagMs);
      if (log && info.lagMs > 100) console.error('slow', (now() - t0).toFixed(0), info.lagMs.toFixed(0));
    });
    if (child) await childRequest(child, { t: 'collect' }, 'lags'); // drop the warm-up's
    const total = Math.round(rate * duration);
    t0 = now();
    if (log) console.error(t0.toFixed(1), 'start');
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((now() - t0) / 1000) * rate));
        while (sent < due) {
          const n = sent++;
          // --spread: `rate / 10` calls live at once, each changing every 100 ms (ten
          // changes over a second, like a call set up and answered), so no two changes of
          // one call meet in a pipeline. Default: a call's ten changes back to back (the
          // publisher coalesces them, so fewer entries reach the mirror).
          const w = Math.max(1, Math.round(rate / 10));
          const callNo = spread ? Math.floor(n / (10 * w)) * w + (n % w) : Math.floor(n / 10);
          const k = spread ? Math.floor(n / w) % 10 : n % 10;
          const start = now();
          na.publish({ id: `call-${callNo}`, version: k + 1, epoch: 1, state: k < 3 ? 'ringing' : 'connected', cseq: n, ended: k === 9, sdp: 'v=0\r\no=- 1 1 IN IP4 198.18.0.1\r\n' })
            .then(() => commits.push(now() - start))
            .catch(() => failed++);
        }
        if (sent >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    const sendMs = now() - t0;
    let loads: number;
    if (child) {
      const got = await childRequest(child, { t: 'collect' }, 'lags');
      lags = got.lags;
      loads = got.loads;
    } else {
      await nb!.mirror!.waitCaughtUp(20_000);
      await new Promise((r) => setTimeout(r, 50));
      loads = nb!.mirror!.status().snapshotLoads;
    }
    lags.sort((x, y) => x - y);
    commits.sort((x, y) => x - y);
    return {
      mode,
      rate,
      sent: total,
      achieved: Math.round(total / (sendMs / 1000)),
      applied: lags.length,
      lagP50: pct(lags, 50),
      lagP99: pct(lags, 99),
      lagMax: lags[lags.length - 1] ?? NaN,
      commitP50: pct(commits, 50),
      commitP99: pct(commits, 99),
      failed,
      warmMs,
      loads,
      slowOver100: lags.filter((l) => l > 100).length,
    };
  } finally {
    await na.close().catch(() => undefined);
    await nb?.close().catch(() => undefined);
    if (child) {
      const gone = new Promise((r) => child.once('exit', r));
      child.send({ t: 'stop' });
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await a.stop();
    await b.stop();
  }
}

if (!process.argv.includes('--mirror-child')) {
const rows = [];
for (const mode of modes) for (const rate of rates) rows.push(await run(mode, rate));
console.log(`sync lag, ${duration} s per run, node ${process.version}, ${split ? 'mirror in its own process (--split)' : 'one process (publisher + mirror)'}${spread ? ', changes spread (--spread)' : ''}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log('| mode | target/s | achieved/s | changes | applied | lag p50 ms | lag p99 ms | lag max ms | commit p50 ms | commit p99 ms | failed | first publish ms | snapshot loads | applied >100 ms |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.mode} | ${r.rate} | ${r.achieved} | ${r.sent} | ${r.applied} | ${f(r.lagP50)} | ${f(r.lagP99)} | ${f(r.lagMax)} | ${f(r.commitP50)} | ${f(r.commitP99)} | ${r.failed} | ${r.warmMs} | ${r.loads} | ${r.slowOver100} |`,
  );
}
}
