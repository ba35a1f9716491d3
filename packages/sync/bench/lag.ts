/**
 * Sync lag benchmark: two real redis-servers on loopback (primary + replica), a SyncNode
 * publishing on the primary, the mirror tailing the replica, all in this one process
 * (so publisher and mirror share one event loop: a pessimistic set-up).
 *
 *   node --import tsx packages/sync/bench/lag.ts [--duration 3] [--rates 1000,10000] [--modes async,ack]
 *
 * For each (mode, rate): publishes `rate` record changes per second for `duration` seconds
 * (10 changes per call, like a call's life), and reports
 *   lag      publish timestamp (in the entry) → applied on the mirror, p50/p99/max
 *   commit   publish() call → promise resolved (async: local Redis has it; ack: replica has it)
 */
import { SyncNode, type SyncMode } from '../src/index.js';
import { RedisServer } from '../src/redis-server.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

const duration = Number(arg('duration', '3'));
const rates = arg('rates', '1000,10000').split(',').map(Number);
const modes = arg('modes', 'async,ack').split(',') as SyncMode[];
if (!(duration > 0) || rates.some((r) => !(r > 0)) || modes.some((m) => m !== 'async' && m !== 'ack')) {
  console.error('usage: lag.ts [--duration seconds] [--rates 1000,10000] [--modes async,ack]');
  process.exit(2);
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const f = (n: number) => n.toFixed(2);
const now = () => performance.timeOrigin + performance.now();

async function run(mode: SyncMode, rate: number) {
  const pw = 'bench';
  const a = await RedisServer.start({ password: pw });
  const b = await RedisServer.start({ password: pw });
  const na = new SyncNode({ redis: { host: a.host, port: a.port, password: pw }, mode, ackTimeoutMs: 1000 });
  const log = process.env.BENCH_LOG ? { debug: () => {}, info: (o: object, m?: string) => console.error(now().toFixed(1), m, JSON.stringify(o)), warn: (o: object, m?: string) => console.error(now().toFixed(1), m, JSON.stringify(o)), error: (o: object, m?: string) => console.error(m, o) } : undefined;
  const nb = new SyncNode({ redis: { host: b.host, port: b.port, password: pw }, peer: { host: a.host, port: a.port }, logger: log });
  try {
    await na.becomePrimary(1);
    await nb.becomeReplica();
    await nb.mirror!.waitReady(10_000);
    // Warm-up: the first WAIT after a replica link comes up can take until the replica's
    // first periodic ACK (~1 s); that is set-up cost, not per-change cost, so it is kept out.
    const warm = Date.now();
    await na.publish({ id: 'warm-up', version: 1, epoch: 1 });
    const warmMs = Date.now() - warm;
    let t0 = now();
    const lags: number[] = [];
    const commits: number[] = [];
    let failed = 0;
    nb.mirror!.on('applied', (_r, info) => {
      if (!info.fromSnapshot) lags.push(info.lagMs);
      if (log && info.lagMs > 100) console.error('slow', (now() - t0).toFixed(0), info.lagMs.toFixed(0));
    });
    const total = Math.round(rate * duration);
    t0 = now();
    if (log) console.error(t0.toFixed(1), 'start');
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((now() - t0) / 1000) * rate));
        while (sent < due) {
          const n = sent++;
          const callNo = Math.floor(n / 10);
          const start = now();
          na.publish({ id: `call-${callNo}`, version: (n % 10) + 1, epoch: 1, state: n % 10 < 3 ? 'ringing' : 'connected', cseq: n, ended: n % 10 === 9, sdp: 'v=0\r\no=- 1 1 IN IP4 198.18.0.1\r\n' })
            .then(() => commits.push(now() - start))
            .catch(() => failed++);
        }
        if (sent >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    const sendMs = now() - t0;
    await nb.mirror!.waitCaughtUp(20_000);
    await new Promise((r) => setTimeout(r, 50));
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
      loads: nb.mirror!.status().snapshotLoads,
      slowOver100: lags.filter((l) => l > 100).length,
    };
  } finally {
    await na.close().catch(() => undefined);
    await nb.close().catch(() => undefined);
    await a.stop();
    await b.stop();
  }
}

const rows = [];
for (const mode of modes) for (const rate of rates) rows.push(await run(mode, rate));
console.log(`sync lag, ${duration} s per run, node ${process.version}, one process (publisher + mirror)`);
console.log('| mode | target/s | achieved/s | changes | applied | lag p50 ms | lag p99 ms | lag max ms | commit p50 ms | commit p99 ms | failed | first publish ms | snapshot loads | applied >100 ms |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.mode} | ${r.rate} | ${r.achieved} | ${r.sent} | ${r.applied} | ${f(r.lagP50)} | ${f(r.lagP99)} | ${f(r.lagMax)} | ${f(r.commitP50)} | ${f(r.commitP99)} | ${r.failed} | ${r.warmMs} | ${r.loads} | ${r.slowOver100} |`,
  );
}
