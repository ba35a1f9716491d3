// Memory benchmark: bytes per call, and a soak that shows whether anything grows.
//
// Plateaus (default): for each path
//   direct  SIPp uac -> SIPp uas              (the comparison: SIPp's own memory per call)
//   node    SIPp uac -> one dualsip node -> SIPp uas
//   pair    SIPp uac -> the active of a single-host HA pair (mirroring on) -> SIPp uas
// it opens calls up to each step of --steps (concurrent calls, held open: one more
// caller SIPp per step with a long hold) and at each plateau, after a forced GC of
// every V8 isolate of each node (inspector: HeapProfiler.collectGarbage in the main
// thread and in each worker, e.g. the engine's), records per node RSS (/proc VmRSS,
// whole process), V8 heap used and external memory (process.memoryUsage() in each
// isolate, summed), per redis-server INFO memory used_memory, and the callee SIPp's
// RSS. Bytes per call = slope between plateaus (and the least-squares slope over all
// of them), not total / N.
//
// Soak (--soak MINUTES): a steady call rate with short holds for that long (calls
// start and end continuously); every --sample seconds the same figures (after a
// forced GC) plus the sync stream length and the records hash size; at the end the
// least-squares trend (bytes/min) after --warmup minutes, and over the last half.
//
//   node --import tsx bench/memory.ts [--paths direct,node,pair] [--steps 0,1000,5000,10000] [--rate 500]
//   node --import tsx bench/memory.ts --soak 10 [--soak-rate 100] [--soak-hold 1] [--paths pair]
// See bench/README.md ("Memory").
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { linearFit, planeFit, stepSlopes } from './fit.js';
import {
  Sipp,
  cleanupAll,
  freePort,
  REPO_ROOT,
  localHost,
  makeTempDir,
  nodeArgv,
  randomLoopbackAddress,
  registerCleanup,
  type ManagedProcess,
  type NodeOptions,
  type SippRun,
} from '../test/harness/index.js';

const USAGE = `usage: node --import tsx bench/memory.ts [options]
  --paths LIST       direct,node,pair (default all three)
  --steps LIST       concurrent calls per plateau (default 0,1000,5000,10000)
  --rate N           calls/s while opening the calls of a plateau (default 500)
  --settle S         seconds to wait on a plateau before sampling (default 40: the engine keeps an INVITE
                     server transaction up to 64*T1 = 32 s after the answer)
  --soak MINUTES     soak mode instead of plateaus (paths default: pair; several paths run at once)
  --soak-rate N      soak call rate, calls/s (default 100)
  --soak-hold S      soak call hold, seconds (default 1)
  --sample S         soak sampling period, seconds (default 10)
  --warmup M         soak minutes left out of the trend (default 2)
  --heap-snapshots DIR  node path only: V8 heap snapshot of the node's main thread at each plateau, or (soak)
                     after the warm-up and 45 s after the last call (compare them in Chrome DevTools)
  --node-flags=FLAGS extra Node flags for the nodes (use =)
  --out FILE         JSON record (default bench/out/memory-<time>.json)`;

const { values: o } = parseArgs({
  options: {
    paths: { type: 'string' },
    steps: { type: 'string', default: '0,1000,5000,10000' },
    rate: { type: 'string', default: '500' },
    settle: { type: 'string', default: '40' },
    soak: { type: 'string' },
    'soak-rate': { type: 'string', default: '100' },
    'soak-hold': { type: 'string', default: '1' },
    sample: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    'heap-snapshots': { type: 'string' },
    'node-flags': { type: 'string', default: '' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (o.help) {
  console.log(USAGE);
  process.exit(0);
}
function usageError(msg: string): never {
  console.error(`${msg}\n${USAGE}`);
  process.exit(2);
}
function numbers(name: string, text: string): number[] {
  const list = text.split(',').filter((s) => s.trim() !== '').map(Number);
  if (list.length === 0 || list.some((n) => !Number.isFinite(n) || n < 0)) usageError(`--${name}: expected a comma-separated list of numbers (got ${JSON.stringify(text)})`);
  return list;
}
type PathKind = 'direct' | 'node' | 'pair';
const soakMin = o.soak !== undefined ? numbers('soak', o.soak)[0]! : undefined;
const paths = (o.paths ?? (soakMin !== undefined ? 'pair' : 'direct,node,pair')).split(',').filter(Boolean) as PathKind[];
if (paths.some((p) => !['direct', 'node', 'pair'].includes(p))) usageError(`--paths: a list of direct,node,pair (got ${JSON.stringify(o.paths)})`);
const steps = numbers('steps', o.steps!);
const rampRate = numbers('rate', o.rate!)[0]!;
const settleMs = numbers('settle', o.settle!)[0]! * 1000;
const soakRate = numbers('soak-rate', o['soak-rate']!)[0]!;
const soakHoldMs = numbers('soak-hold', o['soak-hold']!)[0]! * 1000;
const sampleMs = numbers('sample', o.sample!)[0]! * 1000;
const warmupMin = numbers('warmup', o.warmup!)[0]!;
const snapDir = o['heap-snapshots'] ? resolve(o['heap-snapshots']) : undefined;
const nodeFlags = o['node-flags']!.split(' ').filter(Boolean);

const exec = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const MB = (b: number) => (b / 1048576).toFixed(1);

// Ports in 40000-59999 only (other engineers' runs share this host), never one twice.
const excludedPorts = new Set<number>(Array.from({ length: 20000 }, (_, i) => 20000 + i));
async function port(ip: string): Promise<number> {
  const p = await freePort(ip, excludedPorts);
  excludedPorts.add(p);
  return p;
}

/** VmRSS of a process in bytes (0 when it is gone). */
function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------- inspector client

// The WebSocket client the app API already depends on (no new dependency).
const WebSocket = createRequire(join(REPO_ROOT, 'packages/core/package.json'))('ws') as new (url: string) => {
  on(ev: 'open' | 'close', cb: () => void): void;
  on(ev: 'message', cb: (data: Buffer) => void): void;
  on(ev: 'error', cb: (err: Error) => void): void;
  send(data: string): void;
  close(): void;
};

interface Isolate {
  /** undefined: the main thread; else the NodeWorker session. */
  sessionId?: string;
  title: string;
}

/**
 * A Chrome DevTools Protocol session with a node started with --inspect: forced GC and
 * process.memoryUsage() in the main thread and in every worker thread (NodeWorker domain),
 * heap snapshots. Attaching does not change what the node does.
 */
class Inspector {
  #ws!: InstanceType<typeof WebSocket>;
  #id = 0;
  readonly #pending = new Map<string, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  readonly #listeners = new Set<(method: string, params: any, sessionId?: string) => void>();
  readonly workers = new Map<string, Isolate>();

  static async connect(host: string, port: number): Promise<Inspector> {
    const list = (await (await fetch(`http://${host}:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
    const insp = new Inspector();
    await new Promise<void>((res, rej) => {
      insp.#ws = new WebSocket(list[0]!.webSocketDebuggerUrl);
      insp.#ws.on('open', res);
      insp.#ws.on('error', rej);
    });
    insp.#ws.on('message', (data) => insp.#onMessage(JSON.parse(String(data))));
    insp.#listeners.add((method, params) => {
      if (method === 'NodeWorker.attachedToWorker') insp.workers.set(params.sessionId, { sessionId: params.sessionId, title: params.workerInfo?.title ?? params.workerInfo?.url ?? 'worker' });
      if (method === 'NodeWorker.detachedFromWorker') insp.workers.delete(params.sessionId);
    });
    await insp.send('NodeWorker.enable', { waitForDebuggerOnStart: false });
    await sleep(300); // attachedToWorker events for the workers already running
    return insp;
  }

  #onMessage(msg: any, sessionId?: string): void {
    if (msg.method === 'NodeWorker.receivedMessageFromWorker') return this.#onMessage(JSON.parse(msg.params.message), msg.params.sessionId);
    if (msg.id !== undefined) {
      const key = `${sessionId ?? ''}:${msg.id}`;
      const p = this.#pending.get(key);
      this.#pending.delete(key);
      if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
      else p?.resolve(msg.result);
      return;
    }
    for (const l of this.#listeners) l(msg.method, msg.params, sessionId);
  }

  send(method: string, params: object = {}, sessionId?: string): Promise<any> {
    const id = ++this.#id;
    const p = new Promise((resolve, reject) => this.#pending.set(`${sessionId ?? ''}:${id}`, { resolve, reject }));
    const text = JSON.stringify({ id, method, params });
    this.#ws.send(sessionId === undefined ? text : JSON.stringify({ id: ++this.#id, method: 'NodeWorker.sendMessageToWorker', params: { sessionId, message: text } }));
    return p;
  }

  isolates(): Isolate[] {
    return [{ title: 'main' }, ...this.workers.values()];
  }

  /** Full GC (twice: weak callbacks and finalizers of the first free more) in every isolate. */
  async gc(): Promise<void> {
    for (let i = 0; i < 2; i++) await Promise.all(this.isolates().map((s) => this.send('HeapProfiler.collectGarbage', {}, s.sessionId)));
  }

  /** process.memoryUsage() of every isolate (heapUsed, external, arrayBuffers are per isolate). */
  async memory(): Promise<Array<{ title: string; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number }>> {
    return Promise.all(
      this.isolates().map(async (s) => {
        const r = await this.send('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true }, s.sessionId);
        return { title: s.title, ...JSON.parse(r.result.value) };
      }),
    );
  }

  /** Writes a .heapsnapshot of the main thread (open in Chrome DevTools > Memory, Comparison view). */
  async heapSnapshot(file: string): Promise<void> {
    mkdirSync(dirname(file), { recursive: true });
    const out = createWriteStream(file);
    const l = (method: string, params: any, sessionId?: string) => {
      if (method === 'HeapProfiler.addHeapSnapshotChunk' && sessionId === undefined) out.write(params.chunk);
    };
    this.#listeners.add(l);
    try {
      await this.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    } finally {
      this.#listeners.delete(l);
      await new Promise<void>((r) => out.end(r));
    }
  }

  close(): void {
    this.#ws.close();
  }
}

// ---------------------------------------------------------------- systems under test

interface MemNode {
  label: string;
  proc: ManagedProcess;
  admin: string;
  inspector: Inspector;
}
interface Sut {
  kind: PathKind;
  target: string;
  nodes: MemNode[];
  redis: Array<{ label: string; host: string; port: number }>;
  commands: string[];
  stop(): Promise<void>;
}

const TOKEN = `memory-bench-${process.pid}`;
const quote = (a: string) => (/^[\w./:=,@-]+$/.test(a) ? a : `'${a}'`);

async function launchNode(opts: NodeOptions & { sipPort: number; drachtioPort: number; name: string }, ip: string): Promise<{ node: MemNode; command: string }> {
  const inspectPort = await port(ip);
  const adminPort = await port(ip);
  const argv = [...nodeFlags, `--inspect=${ip}:${inspectPort}`, ...nodeArgv({ ...opts, extraArgs: [...(opts.extraArgs ?? []), '--admin-address', ip, '--admin-port', String(adminPort), '--admin-token', TOKEN] })];
  const proc = localHost.spawn(process.execPath, argv, { name: opts.name, cwd: REPO_ROOT, ringLines: 500, stopTimeoutMs: 8000 });
  try {
    await proc.waitForLog((r) => r['msg'] === 'node ready', { timeoutMs: 60_000 });
    const inspector = await Inspector.connect(ip, inspectPort);
    return { node: { label: opts.name, proc, admin: `http://${ip}:${adminPort}`, inspector }, command: [process.execPath, ...argv].map(quote).join(' ') };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

async function adminStatus(n: MemNode): Promise<{ role: string; calls: { connected: number; ringing: number; total: number } }> {
  const res = await fetch(`${n.admin}/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (!res.ok) throw new Error(`${n.label}: admin status ${res.status}`);
  return (await res.json()) as any;
}

async function startSut(kind: PathKind, ip: string, uasAddr: string): Promise<Sut> {
  if (kind === 'direct') return { kind, target: uasAddr, nodes: [], redis: [], commands: [], stop: async () => {} };
  const common = ['--drain-timeout', '2000'];
  if (kind === 'node') {
    const sipPort = await port(ip);
    const { node, command } = await launchNode({ sipAddress: ip, sipPort, drachtioPort: await port(ip), routeDefault: `sip:${uasAddr}`, logLevel: 'warn', extraArgs: common, name: 'node' }, ip);
    return {
      kind,
      target: `${ip}:${sipPort}`,
      nodes: [node],
      redis: [],
      commands: [command],
      stop: async () => {
        node.inspector.close();
        await node.proc.stop({ timeoutMs: 8000 });
      },
    };
  }
  // The single-host pair `dualsip pair` starts: one address and SIP port in port-ownership
  // mode, a redis-server per node, the passive mirroring the active's call records.
  const dir = makeTempDir('redis');
  registerCleanup({ label: `dir ${dir}`, sync: () => rmSync(dir, { recursive: true, force: true }) });
  const sipPort = await port(ip);
  const [hbA, hbB, redisA, redisB] = [await port(ip), await port(ip), await port(ip), await port(ip)];
  const ha = (id: 'a' | 'b') => {
    const [me, peer] = id === 'a' ? [{ hb: hbA, redis: redisA }, { hb: hbB, redis: redisB }] : [{ hb: hbB, redis: redisB }, { hb: hbA, redis: redisA }];
    mkdirSync(join(dir, `redis-${id}`), { recursive: true });
    return [
      '--ha', '--node-id', id, '--peer-id', id === 'a' ? 'b' : 'a', '--ha-secret', `bench-${process.pid}`,
      ...(id === 'a' ? ['--preferred'] : []),
      // The forced GCs of a sample stop a node's main loop for up to ~2 s on a loaded box: the
      // heartbeat thread keeps sending through that (main-stall limit 5 s, default 1.5 s), so
      // the measurement itself does not make the passive take over.
      '--hb', `sip=${ip}:${me.hb},${ip}:${peer.hb}`, '--hb-miss', '5', '--hb-main-stall', '5000',
      '--startup-wait', '1500', '--epoch-file', join(dir, `${id}.epoch`),
      '--redis-host', ip, '--redis-port', String(me.redis), '--redis-start', '--redis-dir', join(dir, `redis-${id}`),
      '--sync-peer', `${ip}:${peer.redis}`, '--vip-mode', 'port',
      ...common,
    ];
  };
  const start = async (id: 'a' | 'b') =>
    launchNode({ sipAddress: ip, sipPort, drachtioPort: await port(ip), routeDefault: `sip:${uasAddr}`, logLevel: 'info', extraArgs: ha(id), name: id }, ip);
  const started = await Promise.allSettled([start('a'), start('b')]);
  const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stopAll = async () => {
    for (const s of ok) s.node.inspector.close();
    await Promise.all(ok.map((s) => s.node.proc.stop({ timeoutMs: 8000 })));
  };
  try {
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    const [a, b] = ok.map((s) => s.node) as [MemNode, MemNode];
    const wait = (n: MemNode, what: string, pred: (r: Record<string, unknown>) => boolean) =>
      n.proc.waitForLog(pred, { timeoutMs: 30_000 }).catch((err: Error) => {
        throw new Error(`pair: ${n.label} never logged ${what}: ${err.message}`);
      });
    await wait(a, 'role active', (r) => r['msg'] === 'role' && r['role'] === 'active');
    await wait(b, 'role passive', (r) => r['msg'] === 'role' && r['role'] === 'passive');
    await wait(a, 'sync ready', (r) => r['msg'] === 'sync ready');
    await wait(b, 'sync ready', (r) => r['msg'] === 'sync ready');
  } catch (err) {
    await stopAll();
    throw err;
  }
  // Role changes after the start are printed (and mean the pair figures are not of a steady pair).
  for (const { node: n } of ok) {
    n.proc.onLine((l) => {
      const r = l.json;
      if (r && (r['msg'] === 'role' || r['msg'] === 'takeover finished' || r['msg'] === 'stepped down' || r['msg'] === 'sync not ready' || r['level'] === 50 || r['level'] === 40))
        console.log(`  [${n.label}] ${JSON.stringify(r).slice(0, 400)}`);
    });
  }
  return {
    kind,
    target: `${ip}:${sipPort}`,
    nodes: ok.map((s) => s.node),
    redis: [
      { label: 'redis-a', host: ip, port: redisA },
      { label: 'redis-b', host: ip, port: redisB },
    ],
    commands: ok.map((s) => s.command),
    stop: stopAll,
  };
}

// ---------------------------------------------------------------- sampling

type Sample = Record<string, number>;

async function redisInfo(host: string, p: number): Promise<{ used: number; rss: number; xlen: number; hlen: number }> {
  const cli = (...args: string[]) => exec('redis-cli', ['-h', host, '-p', String(p), ...args], { encoding: 'utf8' }).then((r) => r.stdout);
  const info = await cli('INFO', 'memory');
  const field = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  const [xlen, hlen] = await Promise.all([cli('XLEN', 'dualsip:changes'), cli('HLEN', 'dualsip:records')]);
  return { used: field('used_memory'), rss: field('used_memory_rss'), xlen: Number(xlen.trim()), hlen: Number(hlen.trim()) };
}

/** One sample of everything, after a forced GC in every isolate of every node. */
async function measure(sut: Sut, sipps: Array<{ label: string; run: SippRun }>, gc = true): Promise<Sample> {
  const s: Sample = {};
  if (gc) await Promise.all(sut.nodes.map((n) => n.inspector.gc()));
  for (const n of sut.nodes) {
    const iso = await n.inspector.memory();
    s[`${n.label}.rss`] = rssOf(n.proc.pid);
    s[`${n.label}.heap`] = iso.reduce((t, i) => t + i.heapUsed, 0);
    s[`${n.label}.heapMain`] = iso[0]!.heapUsed;
    s[`${n.label}.heapWorkers`] = iso.slice(1).reduce((t, i) => t + i.heapUsed, 0);
    s[`${n.label}.external`] = iso.reduce((t, i) => t + i.external, 0);
    const st = await adminStatus(n);
    s[`${n.label}.calls`] = st.calls.total;
    s[`${n.label}.active`] = st.role === 'active' || st.role === 'standalone' ? 1 : 0;
  }
  for (const r of sut.redis) {
    const i = await redisInfo(r.host, r.port);
    s[`${r.label}.used`] = i.used;
    s[`${r.label}.rss`] = i.rss;
    s[`${r.label}.xlen`] = i.xlen;
    s[`${r.label}.hlen`] = i.hlen;
  }
  for (const p of sipps) s[`${p.label}.rss`] = rssOf(p.run.process.pid);
  return s;
}

/** Metrics that are bytes (the others are counts). */
const isBytes = (k: string) => /\.(rss|heap|heapMain|heapWorkers|external|used)$/.test(k);

// ---------------------------------------------------------------- plateaus

interface Plateau {
  /** The step asked for. */
  calls: number;
  /** Calls held at the sample: the active node's calls (node, pair) or the callee's (direct). */
  held: number;
  /** Calls the callee SIPp held at the sample (x of the sipp-uas slope). */
  calleeHeld: number;
  load: string;
  callerFailed: number;
  calleeFailed: number;
  sample: Sample;
}

async function plateaus(kind: PathKind): Promise<{ kind: PathKind; plateaus: Plateau[]; commands: string[]; error?: string }> {
  const ip = randomLoopbackAddress();
  const uasPort = await port(ip);
  const total = Math.max(...steps);
  // Every call stays up until the series ends (its callers are then killed).
  const holdMs = Math.ceil((total / rampRate) * 3 + steps.length * 60 + 300) * 1000;
  const sut = await startSut(kind, ip, `${ip}:${uasPort}`);
  const uas = await Sipp.start({ scenario: 'uas-basic', localIp: ip, localPort: uasPort, recvTimeoutMs: holdMs + 60_000, name: 'callee' });
  const callers: SippRun[] = [];
  const out: Plateau[] = [];
  let error: string | undefined;
  try {
    let open = 0;
    for (const n of [...steps].sort((x, y) => x - y)) {
      const delta = n - open;
      if (delta > 0) {
        callers.push(
          await Sipp.start({ scenario: 'uac-basic', localIp: ip, localPort: await port(ip), remote: sut.target, rate: rampRate, calls: delta, limit: delta, holdMs, recvTimeoutMs: holdMs + 60_000, name: `caller ${n}` }),
        );
      }
      open = n;
      // Up: the callee holds n calls and (node, pair) the active node counts n connected calls;
      // or, when some calls failed (a loaded box), every call of this step is placed and the
      // counts have stopped moving. The slopes use the calls actually held at the sample.
      const deadline = Date.now() + (delta / rampRate) * 3000 + 60_000;
      let last = '';
      let still = 0;
      for (;;) {
        const callee = uas.snapshot();
        const nodeCalls = sut.nodes.length > 0 ? (await adminStatus(sut.nodes[0]!)).calls.connected : n;
        if (callee.current >= n && nodeCalls >= n) break;
        const placed = callers.length === 0 || callers.at(-1)!.snapshot().created >= delta;
        const now = `${callee.current}/${nodeCalls}`;
        still = now === last ? still + 1 : 0;
        last = now;
        if (placed && still >= 6) break;
        const failed = callers.reduce((t, c) => t + c.snapshot().failed, 0) + callee.failed;
        if (Date.now() > deadline || failed > n * 0.1 + 10) throw new Error(`${kind}: ${n} calls not up (callee holds ${callee.current}, node ${nodeCalls}, failed ${failed})`);
        await sleep(500);
      }
      await sleep(settleMs);
      const sample = await measure(sut, [{ label: 'sipp-uas', run: uas }]);
      if (snapDir && kind === 'node') await sut.nodes[0]!.inspector.heapSnapshot(join(snapDir, `plateau-${n}.heapsnapshot`));
      const calleeHeld = uas.snapshot().current;
      const held = sut.nodes.length > 0 ? sample[`${sut.nodes[0]!.label}.calls`]! : calleeHeld;
      const p: Plateau = { calls: n, held, calleeHeld, load: load(), callerFailed: callers.reduce((t, c) => t + c.snapshot().failed, 0), calleeFailed: uas.snapshot().failed, sample };
      out.push(p);
      console.log(`  ${kind} ${n} calls (held ${held}, callee ${calleeHeld}): ${Object.entries(sample).filter(([k]) => isBytes(k)).map(([k, v]) => `${k} ${MB(v)} MB`).join(', ')} (load ${p.load})`);
    }
  } catch (err) {
    error = (err as Error).message;
    console.error(error);
  } finally {
    await Promise.all(callers.map((c) => c.process.stop({ signal: 'SIGKILL', timeoutMs: 2000 }).catch(() => undefined)));
    await uas.process.stop({ signal: 'SIGKILL', timeoutMs: 2000 }).catch(() => undefined);
    await sut.stop().catch(() => undefined);
  }
  return { kind, plateaus: out, commands: sut.commands, ...(error ? { error } : {}) };
}

// ---------------------------------------------------------------- soak

interface SoakSeries {
  kind: PathKind;
  commands: string[];
  samples: Array<{ tSec: number; load: string; sample: Sample; callerOk: number; callerFailed: number; calleeFailed: number }>;
  /** 45 s after the last call ended. */
  idleAfter?: { tSec: number; load: string; sample: Sample };
  caller?: { created: number; successful: number; failed: number };
  callee?: { successful: number; failed: number };
  error?: string;
}

async function soak(kind: PathKind, minutes: number): Promise<SoakSeries> {
  const ip = randomLoopbackAddress();
  const uasPort = await port(ip);
  const sut = await startSut(kind, ip, `${ip}:${uasPort}`);
  const series: SoakSeries = { kind, commands: sut.commands, samples: [] };
  const uas = await Sipp.start({ scenario: 'uas-basic', localIp: ip, localPort: uasPort, recvTimeoutMs: soakHoldMs + 30_000, name: 'callee' });
  const durSec = minutes * 60;
  const calls = Math.round(soakRate * durSec);
  let uac: SippRun | undefined;
  try {
    uac = await Sipp.start({ scenario: 'uac-basic', localIp: ip, localPort: await port(ip), remote: sut.target, rate: soakRate, calls, limit: Math.max(1000, soakRate * 10), holdMs: soakHoldMs, recvTimeoutMs: soakHoldMs + 30_000, name: 'caller' });
    const t0 = Date.now();
    const warmEnd = t0 + warmupMin * 60_000;
    let snapped = false;
    while (uac.process.running) {
      const sample = await measure(sut, [
        { label: 'sipp-uac', run: uac },
        { label: 'sipp-uas', run: uas },
      ]);
      const c = uac.snapshot();
      const u = uas.snapshot();
      const row = { tSec: Math.round((Date.now() - t0) / 1000), load: load(), sample, callerOk: c.successful, callerFailed: c.failed, calleeFailed: u.failed };
      series.samples.push(row);
      console.log(
        `  ${kind} t=${row.tSec}s ok ${c.successful} failed ${c.failed}/${u.failed}: ${Object.entries(sample)
          .filter(([k]) => !k.endsWith('Main') && !k.endsWith('Workers'))
          .map(([k, v]) => `${k} ${isBytes(k) ? `${MB(v)}M` : v}`)
          .join(' ')} (load ${row.load})`,
      );
      // Not for the pair: a snapshot stops the main thread for seconds, longer than the
      // heartbeat's main-stall limit (1.5 s), and the passive would take over.
      if (snapDir && kind === 'node' && !snapped && Date.now() >= warmEnd) {
        snapped = true;
        for (const n of sut.nodes) await n.inspector.heapSnapshot(join(snapDir, `${kind}-${n.label}-warm.heapsnapshot`));
      }
      const next = t0 + series.samples.length * sampleMs;
      while (uac.process.running && Date.now() < next) await sleep(200);
    }
    // The calls have ended: one more sample once the ended-call retention (30 s) and the
    // transactions' timers (32 s) have passed: what is left is what no call needs.
    await sleep(45_000);
    series.idleAfter = { tSec: Math.round((Date.now() - t0) / 1000), load: load(), sample: await measure(sut, [{ label: 'sipp-uas', run: uas }]) };
    console.log(`  ${kind} idle t=${series.idleAfter.tSec}s: ${Object.entries(series.idleAfter.sample).map(([k, v]) => `${k} ${isBytes(k) ? `${MB(v)}M` : v}`).join(' ')}`);
    if (snapDir && kind === 'node') for (const n of sut.nodes) await n.inspector.heapSnapshot(join(snapDir, `${kind}-${n.label}-end.heapsnapshot`));
    const r = await uac.result();
    series.caller = { created: r.created, successful: r.successful, failed: r.failed };
  } catch (err) {
    series.error = (err as Error).message;
    console.error(series.error);
  } finally {
    await uac?.process.stop({ signal: 'SIGKILL', timeoutMs: 2000 }).catch(() => undefined);
    const u = await uas.stop({ idleTimeoutMs: 5000 }).catch(() => undefined);
    if (u) series.callee = { successful: u.successful, failed: u.failed };
    await sut.stop().catch(() => undefined);
  }
  return series;
}

// ---------------------------------------------------------------- output

const PATH_NAME: Record<PathKind, string> = { direct: 'SIPp → SIPp', node: 'SIPp → node → SIPp', pair: 'SIPp → pair (active, mirroring) → SIPp' };
const fmtB = (b: number) => (Number.isFinite(b) ? Math.round(b).toLocaleString('en-US') : '–');

function plateauReport(r: Awaited<ReturnType<typeof plateaus>>): string {
  const lines: string[] = [`### ${PATH_NAME[r.kind]}${r.error ? ` (stopped: ${r.error})` : ''}`, ''];
  if (r.plateaus.length === 0) return lines.join('\n');
  const keys = Object.keys(r.plateaus[0]!.sample).filter(isBytes);
  lines.push(`| calls asked | held (node / callee) | load | failed (caller/callee) | ${keys.map((k) => `${k} MB`).join(' | ')} |`, `|${'---|'.repeat(keys.length + 4)}`);
  for (const p of r.plateaus) lines.push(`| ${p.calls} | ${p.held} / ${p.calleeHeld} | ${p.load} | ${p.callerFailed}/${p.calleeFailed} | ${keys.map((k) => MB(p.sample[k]!)).join(' | ')} |`);
  lines.push('', 'Bytes per call (slope between plateaus over the calls held — the callee\'s for sipp-uas; least squares over all):', '', `| metric | ${r.plateaus.slice(1).map((p, i) => `${r.plateaus[i]!.calls}→${p.calls}`).join(' | ')} | fit | r² |`, `|${'---|'.repeat(r.plateaus.length + 2)}`);
  for (const k of keys) {
    const xs = r.plateaus.map((p) => (k.startsWith('sipp-') ? p.calleeHeld : p.held));
    const ys = r.plateaus.map((p) => p.sample[k]!);
    const f = xs.length >= 2 && new Set(xs).size > 1 ? linearFit(xs, ys) : undefined;
    lines.push(`| ${k} | ${stepSlopes(xs, ys).map(fmtB).join(' | ')} | ${f ? fmtB(f.slope) : '–'} | ${f ? f.r2.toFixed(3) : '–'} |`);
  }
  return lines.join('\n');
}

function soakReport(s: SoakSeries): string {
  const lines: string[] = [`### Soak: ${PATH_NAME[s.kind]}, ${soakRate} calls/s, hold ${soakHoldMs / 1000} s${s.error ? ` (stopped: ${s.error})` : ''}`, ''];
  lines.push(`caller ${s.caller ? `${s.caller.successful} ok / ${s.caller.failed} failed of ${s.caller.created}` : '?'}, callee ${s.callee ? `${s.callee.successful} ok / ${s.callee.failed} failed` : '?'}; load ${s.samples[0]?.load ?? '?'} → ${s.samples.at(-1)?.load ?? '?'}`, '');
  const after = s.samples.filter((x) => x.tSec >= warmupMin * 60);
  if (after.length < 3) return [...lines, 'too few samples after the warm-up for a trend'].join('\n');
  const half = s.samples.filter((x) => x.tSec >= s.samples.at(-1)!.tSec / 2);
  const callsPerMin = soakRate * 60;
  lines.push(
    `| metric | at ${s.samples[0]!.tSec} s | at ${after[0]!.tSec} s | at ${after.at(-1)!.tSec} s | idle, 45 s after the last call | trend after ${warmupMin} min (per min) | r² | per call | trend over the last half (per min) | trend at constant open calls (per min) | per open call |`,
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const k of Object.keys(after[0]!.sample)) {
    if (k.endsWith('.calls') || k.endsWith('.active')) continue;
    // A process that has exited (the caller SIPp at the end) reads 0: not a point of its trend.
    const pts = (list: typeof after) => list.filter((x) => !(isBytes(k) && x.sample[k] === 0));
    if (pts(after).length < 3) continue;
    const f = linearFit(pts(after).map((x) => x.tSec / 60), pts(after).map((x) => x.sample[k]!));
    const h = pts(half).length >= 3 ? linearFit(pts(half).map((x) => x.tSec / 60), pts(half).map((x) => x.sample[k]!)) : undefined;
    const v = (n: number) => (isBytes(k) ? `${MB(n)} MB` : fmtB(n));
    const idle = s.idleAfter?.sample[k];
    // Calls open at each sample (all nodes): when the node falls behind they pile up, and
    // memory with them; the plane fit separates that from a trend over time.
    const open = (x: (typeof after)[number]) => Object.entries(x.sample).reduce((t, [kk, vv]) => (kk.endsWith('.calls') ? t + vv : t), 0);
    let pf: ReturnType<typeof planeFit> | undefined;
    try {
      pf = planeFit(pts(after).map((x) => x.tSec / 60), pts(after).map(open), pts(after).map((x) => x.sample[k]!));
    } catch {
      pf = undefined;
    }
    lines.push(`| ${k}${isBytes(k) ? ' (bytes)' : ''} | ${v(s.samples[0]!.sample[k]!)} | ${v(after[0]!.sample[k]!)} | ${v(pts(after).at(-1)!.sample[k]!)} | ${idle !== undefined ? v(idle) : '–'} | ${fmtB(f.slope)} | ${f.r2.toFixed(2)} | ${(f.slope / callsPerMin).toFixed(isBytes(k) ? 1 : 4)} | ${h ? fmtB(h.slope) : '–'} | ${pf ? fmtB(pf.slope1) : '–'} | ${pf ? fmtB(pf.slope2) : '–'} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const started = new Date();
  const loadStart = load();
  const command = `node --import tsx bench/memory.ts ${process.argv.slice(2).join(' ')}`.trim();
  const machine = `${cpus().length} CPUs, ${cpus()[0]?.model ?? '?'}, ${MB(totalmem())} MB RAM, Node ${process.version}`;
  console.log(`# Memory ${soakMin !== undefined ? `soak ${soakMin} min` : `plateaus ${steps.join(',')}`} (${machine}; load ${loadStart})\n`);
  let record: object;
  let report: string[];
  if (soakMin === undefined) {
    const results = [];
    for (const kind of paths) results.push(await plateaus(kind));
    report = results.map(plateauReport);
    record = { results };
  } else {
    const results = await Promise.all(paths.map((k) => soak(k, soakMin)));
    report = results.map(soakReport);
    record = { results };
  }
  const loadEnd = load();
  console.log(['', `## ${started.toISOString()}, ${machine}, load ${loadStart} before, ${loadEnd} after`, '', `\`${command}\``, '', ...report.flatMap((r) => [r, '']), ''].join('\n'));
  const file = o.out ? resolve(o.out) : join(fileURLToPath(new URL('./out/', import.meta.url)), `memory-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify({ started: started.toISOString(), command, machine, loadBefore: loadStart, loadAfter: loadEnd, options: { paths, steps, rampRate, soakMin, soakRate, soakHoldMs, sampleMs, warmupMin, nodeFlags }, ...record }, null, 2)}\n`,
  );
  console.log(`JSON: ${file}`);
}

try {
  await main();
} finally {
  await cleanupAll();
}
