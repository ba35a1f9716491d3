// Call-rate benchmark, the one command: the highest call rate with zero failed
// calls (caller side and callee side) for
//   direct  SIPp uac -> SIPp uas (the ceiling of the load generator itself),
//   node    SIPp uac -> one dualsip node -> SIPp uas,
//   pair    SIPp uac -> the active node of a single-host HA pair (mirroring to
//           the passive through Redis on) -> SIPp uas   (--pair),
// each with zero call hold and with a long hold (all the calls of a step open at
// once, up to --cap), in the same run, on loopback (a random 127/8 address per
// series, random ports in 40000-59999). The rate steps up until a step fails: a
// failed or incomplete call on either side, SIPp not placing the calls at the
// rate asked, the node exiting, or (pair) a role change during the step.
//
// Per step: SIPp's counters (test/harness Sipp runner), the kernel's per-socket
// UDP drops (/proc/net/udp), the load average, CPU time per call of the nodes'
// process trees (test/harness cpuTimeMs: all threads, redis-server children
// included) and per thread (/proc/PID/task), and SIPp's first errors when the
// step fails. See bench/README.md.
//
//   node --import tsx bench/callrate.ts [--quick] [--steps 500,1000,...] [--secs 5] [--holds 0,30]
//     [--transport udp|tcp] [--direct-only | --node-only | --paths direct,node,pair] [--pair]
//     [--cap 20000] [--cpu-prof DIR] [--node-flags=...] [--engine-in-process] [--keep-going]
//     [--log-level warn] [--out FILE]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  Sipp,
  cleanupAll,
  cpuTimeMs,
  freePort,
  REPO_ROOT,
  localHost,
  makeTempDir,
  nodeArgv,
  randomLoopbackAddress,
  registerCleanup,
  startNode,
  summarize,
  type SippResult,
  type NodeOptions,
  type SippTransport,
  type StartedNode,
} from '../test/harness/index.js';

const USAGE = `usage: node --import tsx bench/callrate.ts [options]
  --quick               smoke run: steps 100,300; 2 s per step; holds 0 and 2 s
  --steps LIST          call rates to step through, calls/s (default 500,1000,1500,2000,2500,3000,4000,5000,6000,8000,10000)
  --secs N              seconds of calls per step: rate x secs calls (default 5)
  --holds LIST          call hold times in seconds, one series each (default 0,30)
  --cap N               long hold: at most N calls per step, all open at once (default 20000)
  --transport udp|tcp   SIP transport on both legs (default udp)
  --direct-only         only SIPp -> SIPp
  --node-only           no SIPp -> SIPp series
  --pair                add the SIPp -> HA pair (active, mirroring on) -> SIPp series
  --paths LIST          explicit list of direct,node,pair (overrides the three above)
  --cpu-prof DIR        .cpuprofile files of every node thread (main and engine worker), written at node exit
  --node-flags=FLAGS    extra Node flags for the nodes under test (before the script), e.g. --node-flags=--max-semi-space-size=64
  --engine-in-process   run the engine in the node's main thread (CLI --engine-in-process)
  --keep-going          do not stop a series at its first failing step
  --log-level LEVEL     the nodes' log level (default warn)
  --out FILE            JSON record of the run (default bench/out/callrate-<time>.json)`;

const { values: o } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    steps: { type: 'string' },
    secs: { type: 'string' },
    holds: { type: 'string' },
    cap: { type: 'string', default: '20000' },
    transport: { type: 'string', default: 'udp' },
    'direct-only': { type: 'boolean', default: false },
    'node-only': { type: 'boolean', default: false },
    pair: { type: 'boolean', default: false },
    paths: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'node-flags': { type: 'string', default: '' },
    'engine-in-process': { type: 'boolean', default: false },
    'keep-going': { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'warn' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function usageError(msg: string): never {
  console.error(`${msg}\n${USAGE}`);
  process.exit(2);
}
function numbers(name: string, text: string): number[] {
  const list = text.split(',').filter((s) => s.trim() !== '').map(Number);
  if (list.length === 0 || list.some((n) => !Number.isFinite(n) || n < 0)) usageError(`--${name}: expected a comma-separated list of numbers (got ${JSON.stringify(text)})`);
  return list;
}

if (o.help) {
  console.log(USAGE);
  process.exit(0);
}
type PathKind = 'direct' | 'node' | 'pair';
const quick = o.quick!;
const rates = numbers('steps', o.steps ?? (quick ? '100,300' : '500,1000,1500,2000,2500,3000,4000,5000,6000,8000,10000'));
const secs = numbers('secs', o.secs ?? (quick ? '2' : '5'))[0]!;
const holdsMs = numbers('holds', o.holds ?? (quick ? '0,2' : '0,30')).map((s) => Math.round(s * 1000));
const cap = numbers('cap', o.cap!)[0]!;
if (o.transport !== 'udp' && o.transport !== 'tcp') usageError(`--transport: udp or tcp (got ${JSON.stringify(o.transport)})`);
const tcp = o.transport === 'tcp';
if (o['direct-only'] && o['node-only']) usageError('--direct-only and --node-only exclude each other');
let paths: PathKind[];
if (o.paths !== undefined) {
  paths = o.paths.split(',').filter(Boolean) as PathKind[];
  if (paths.length === 0 || paths.some((p) => !['direct', 'node', 'pair'].includes(p))) usageError(`--paths: a list of direct,node,pair (got ${JSON.stringify(o.paths)})`);
} else {
  paths = o['direct-only'] ? ['direct'] : o['node-only'] ? ['node'] : ['direct', 'node'];
  if (o.pair && !o['direct-only']) paths.push('pair');
}
const cpuProfDir = o['cpu-prof'] ? resolve(o['cpu-prof']) : undefined;

// ---------------------------------------------------------------- ports, /proc

// Ports in 40000-59999 only (other engineers' SIPp runs share this host): the
// harness's freePort draws from 20000-59999, so the lower half is excluded, and
// so is every port this run has handed out already.
const excludedPorts = new Set<number>(Array.from({ length: 20000 }, (_, i) => 20000 + i));
async function port(ip: string): Promise<number> {
  const p = await freePort(ip, excludedPorts);
  excludedPorts.add(p);
  return p;
}

/** Datagrams the kernel dropped per local UDP port (receive buffer full), summed over the sockets on that port. */
function udpDrops(ports: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      const p = parseInt(f[1]!.split(':')[1]!, 16);
      if (ports.includes(p)) out.set(p, (out.get(p) ?? 0) + Number(f[f.length - 1]));
    }
  } catch {
    /* not Linux */
  }
  return out;
}

let clkTck: number | undefined;
function ticks(): number {
  try {
    clkTck ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    clkTck = 100;
  }
  return clkTck;
}

interface ThreadCpu {
  name: string;
  ms: number;
  sysMs: number;
}
/** CPU ms (user+sys, and sys alone) of each thread of a process, keyed by tid. */
function threadCpu(pid: number): Map<string, ThreadCpu> {
  const out = new Map<string, ThreadCpu>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const k = 1000 / ticks();
      out.set(tid, { name: tid === String(pid) ? 'main' : comm, ms: (Number(f[11]) + Number(f[12])) * k, sysMs: Number(f[12]) * k });
    }
  } catch {
    /* gone */
  }
  return out;
}

interface ThreadStep {
  proc: string;
  thread: string;
  tid: string;
  /** Share of one core over the step. */
  cpuPct: number;
  usPerCall: number;
  sysUsPerCall: number;
}
function threadDelta(proc: string, a: Map<string, ThreadCpu>, b: Map<string, ThreadCpu>, wallSec: number, calls: number): ThreadStep[] {
  const out: ThreadStep[] = [];
  for (const [tid, t] of b) {
    const ms = t.ms - (a.get(tid)?.ms ?? 0);
    const sysMs = t.sysMs - (a.get(tid)?.sysMs ?? 0);
    if (ms / 1000 / wallSec < 0.05) continue; // idle helper threads
    out.push({ proc, thread: t.name, tid, cpuPct: Math.round((ms / 10 / wallSec) * 10) / 10, usPerCall: Math.round((ms * 1000) / calls), sysUsPerCall: Math.round((sysMs * 1000) / calls) });
  }
  return out.sort((x, y) => y.usPerCall - x.usPerCall);
}

// ---------------------------------------------------------------- systems under test

/** What the caller calls: nothing (direct), one node, or a pair. */
interface Sut {
  target: string;
  /** The node processes (label, pid) whose threads are reported. */
  procs: Array<{ label: string; node: StartedNode }>;
  /** Local UDP ports whose drops are reported besides the SIPps'. */
  ports: number[];
  /** Role changes logged since the series started (pair). */
  roleChanges(): string[];
  stop(): Promise<void>;
  commands: string[];
}

// Node flags for the nodes under test go on their command line, before the script
// (--cpu-prof is not allowed in NODE_OPTIONS). Every thread, the engine worker included,
// writes its own profile at exit.
const nodeFlags = [...o['node-flags']!.split(' ').filter(Boolean), ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [])];
if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });

/**
 * The harness's startNode, or, with node flags, the same start (nodeArgv, ready line,
 * cpuTimeMs) with the flags in front: startNode has no place for them.
 */
async function launchNode(opts: NodeOptions & { sipPort: number; drachtioPort: number; name: string }): Promise<StartedNode> {
  if (nodeFlags.length === 0) return startNode(opts);
  const proc = localHost.spawn(process.execPath, [...nodeFlags, ...nodeArgv(opts)], { name: opts.name, cwd: REPO_ROOT, ringLines: 500, stopTimeoutMs: 8000 });
  let ready: Record<string, unknown>;
  try {
    ready = await proc.waitForLog((r) => r['msg'] === 'node ready', { timeoutMs: opts.readyTimeoutMs ?? 60_000 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  const sipTarget = `${opts.sipAddress}:${opts.sipPort}`;
  return { process: proc, pid: proc.pid, sipAddress: opts.sipAddress, sipPort: opts.sipPort, sipTarget, ready, cpuMs: () => cpuTimeMs(proc.pid), stop: async (t) => void (await proc.stop({ timeoutMs: t })) };
}
const commonNodeArgs = ['--drain-timeout', '2000', ...(o['engine-in-process'] ? ['--engine-in-process'] : [])];
const transports = tcp ? ['udp', 'tcp'] : ['udp'];
const routeTo = (uas: string) => `sip:${uas}${tcp ? ';transport=tcp' : ''}`;
const commandOf = (n: StartedNode) => `${n.process.command.map((a) => (/^[\w./:=,@-]+$/.test(a) ? a : `'${a}'`)).join(' ')}`;

async function startSut(kind: PathKind, ip: string, uasAddr: string): Promise<Sut> {
  if (kind === 'direct') return { target: uasAddr, procs: [], ports: [], roleChanges: () => [], stop: async () => {}, commands: [] };
  if (kind === 'node') {
    const node = await launchNode({
      sipAddress: ip,
      sipPort: await port(ip),
      drachtioPort: await port(ip),
      routeDefault: routeTo(uasAddr),
      transports,
      logLevel: o['log-level'],
      extraArgs: commonNodeArgs,
      readyTimeoutMs: 60_000,
      name: 'node',
    });
    return { target: node.sipTarget, procs: [{ label: 'node', node }], ports: [node.sipPort], roleChanges: () => [], stop: () => node.stop(8000), commands: [commandOf(node)] };
  }
  // pair: the CLI's single-host HA set-up (as `dualsip pair` starts it): both nodes on one
  // address and SIP port in port-ownership mode (only the active binds it), each with its own
  // redis-server, the passive mirroring the active's call records.
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
      '--hb', `sip=${ip}:${me.hb},${ip}:${peer.hb}`, '--hb-miss', '5',
      '--startup-wait', '1500', '--epoch-file', join(dir, `${id}.epoch`),
      '--redis-host', ip, '--redis-port', String(me.redis), '--redis-start', '--redis-dir', join(dir, `redis-${id}`),
      '--sync-peer', `${ip}:${peer.redis}`, '--vip-mode', 'port',
      ...commonNodeArgs,
    ];
  };
  const start = async (id: 'a' | 'b') =>
    launchNode({
      sipAddress: ip,
      sipPort,
      drachtioPort: await port(ip),
      routeDefault: routeTo(uasAddr),
      transports,
      // info: the role, 'ha ready' and 'sync ready' lines are at info level.
      logLevel: 'info',
      extraArgs: ha(id),
      readyTimeoutMs: 60_000,
      name: `node ${id}`,
    });
  const started = await Promise.allSettled([start('a'), start('b')]);
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stopAll = async () => void (await Promise.all(nodes.map((n) => n.stop(8000))));
  try {
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    const [a, b] = nodes as [StartedNode, StartedNode];
    const wait = (n: StartedNode, what: string, pred: (r: Record<string, unknown>) => boolean) =>
      n.process.waitForLog(pred, { timeoutMs: 30_000 }).catch((err: Error) => {
        throw new Error(`pair: ${n.process.name} never logged ${what}: ${err.message}`);
      });
    await wait(a, 'role active', (r) => r['msg'] === 'role' && r['role'] === 'active');
    await wait(b, 'role passive', (r) => r['msg'] === 'role' && r['role'] === 'passive');
    await wait(a, 'sync ready', (r) => r['msg'] === 'sync ready');
    await wait(b, 'sync ready', (r) => r['msg'] === 'sync ready');
  } catch (err) {
    await stopAll();
    throw err;
  }
  const changes: string[] = [];
  for (const n of nodes) {
    n.process.onLine((l) => {
      const r = l.json;
      if (r && (r['msg'] === 'role' || r['msg'] === 'takeover finished' || r['msg'] === 'stepped down' || r['msg'] === 'sync not ready'))
        changes.push(`${n.process.name}: ${String(r['msg'])}${r['role'] ? ` ${String(r['role'])}` : ''}${r['reason'] ? ` (${String(r['reason'])})` : ''}${r['reasons'] ? ` ${JSON.stringify(r['reasons'])}` : ''}`);
    });
  }
  return {
    target: `${ip}:${sipPort}`,
    procs: nodes.map((n, i) => ({ label: i === 0 ? 'a' : 'b', node: n })),
    ports: [sipPort],
    roleChanges: () => [...changes],
    stop: stopAll,
    commands: nodes.map(commandOf),
  };
}

// ---------------------------------------------------------------- one step

interface StepResult {
  path: PathKind;
  transport: string;
  holdMs: number;
  targetRate: number;
  calls: number;
  limit: number;
  ok: boolean;
  reason: string;
  callerOk: number;
  callerFailed: number;
  calleeOk: number;
  calleeFailed: number;
  retransmissions: number;
  /** Kernel drops per socket during the step (UDP only). */
  udpDrops?: { uac: number; uas: number; node?: number };
  loadBefore: string;
  elapsedSec: number;
  /** calls / (wall time - hold): the rate SIPp actually placed calls at. */
  achievedRate: number;
  /** CPU ms per successful call of the nodes' process trees (threads, redis-server children). */
  nodeCpuMsPerCall?: number;
  threads?: ThreadStep[];
  sippErrors?: string[];
  events?: string[];
  caller: string;
  callee: string;
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

/** SIPp's first error entries ("<date>\t<time>\t<epoch>: message"), without its start-up warning about open files. */
function firstErrors(r: SippResult, n = 3): string[] {
  const entries = [...r.errorLog.matchAll(/^\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: (.*)$/gm)].map((m) => m[1]!).filter((l) => !/^Maximum number of open sockets/.test(l));
  return entries.slice(0, n).map((l) => `${r.name}: ${l.slice(0, 200)}`);
}

async function step(kind: PathKind, sut: Sut, ip: string, uasPort: number, holdMs: number, rate: number): Promise<StepResult> {
  const transport: SippTransport = tcp ? 't1' : 'u1';
  const calls = holdMs > 0 ? Math.min(rate * secs, cap) : rate * secs;
  // Zero hold: a generous cap that only an overloaded system reaches. Long hold: every call of the step open at once.
  const limit = holdMs > 0 ? calls : Math.max(1000, rate * 5);
  // The callee waits the whole hold for the BYE: the receive timeout must outlast it.
  const recvTimeoutMs = 10_000 + holdMs;
  const loadBefore = load();
  const events0 = sut.roleChanges().length;
  const uas = await Sipp.start({ scenario: 'uas-basic', localIp: ip, localPort: uasPort, transport, recvTimeoutMs, name: 'callee' });
  const uacPort = await port(ip);
  const watched = [uacPort, uasPort, ...sut.ports];
  const drops0 = udpDrops(watched);
  const cpu0 = sut.procs.map((p) => cpuTimeMs(p.node.pid));
  const thr0 = sut.procs.map((p) => threadCpu(p.node.pid));
  const t0 = performance.now();
  const caller = await Sipp.run({
    scenario: 'uac-basic',
    localIp: ip,
    localPort: uacPort,
    remote: sut.target,
    transport,
    rate,
    calls,
    limit,
    holdMs,
    recvTimeoutMs,
    timeoutSec: Math.ceil(calls / rate) * 3 + Math.ceil(holdMs / 1000) + 30,
    name: 'caller',
  });
  const wallSec = (performance.now() - t0) / 1000;
  const callee = await uas.stop({ idleTimeoutMs: recvTimeoutMs + 2000 });
  // CPU up to the callee going idle: the last BYEs' work is in.
  const cpuWallSec = (performance.now() - t0) / 1000;
  const drops1 = udpDrops(watched);
  const cpu1 = sut.procs.map((p) => cpuTimeMs(p.node.pid));
  const perCall = Math.max(1, caller.successful);
  const threads = sut.procs.flatMap((p, i) => threadDelta(p.label, thr0[i]!, threadCpu(p.node.pid), cpuWallSec, perCall));
  const d = (p: number) => (drops1.get(p) ?? 0) - (drops0.get(p) ?? 0);
  const events = sut.roleChanges().slice(events0);

  // Verdict.
  const placing = Math.max(0.001, wallSec - holdMs / 1000);
  const achievedRate = caller.created / placing;
  let reason = '';
  const dead = sut.procs.find((p) => !p.node.process.running);
  if (dead) reason = `${dead.node.process.name} exited`;
  else if (caller.failed > 0 || callee.failed > 0) reason = `failed calls (caller ${caller.failed}, callee ${callee.failed})`;
  else if (caller.successful !== calls || callee.successful !== calls) reason = `incomplete (caller ${caller.successful}/${calls}, callee ${callee.successful}/${calls})`;
  // SIPp throttles silently when it cannot keep up: the calls must be placed within 20 % (+1 s) of the plan.
  else if (placing > (calls / rate) * 1.2 + 1) reason = `rate not kept: ${achievedRate.toFixed(0)}/s placed`;
  else if (events.length > 0) reason = `HA event during the step: ${events.join('; ')}`;
  const ok = reason === '';
  return {
    path: kind,
    transport: o.transport!,
    holdMs,
    targetRate: rate,
    calls,
    limit,
    ok,
    reason,
    callerOk: caller.successful,
    callerFailed: caller.failed,
    calleeOk: callee.successful,
    calleeFailed: callee.failed,
    retransmissions: caller.retransmissions + callee.retransmissions,
    ...(tcp ? {} : { udpDrops: { uac: d(uacPort), uas: d(uasPort), ...(sut.ports[0] !== undefined ? { node: d(sut.ports[0]) } : {}) } }),
    loadBefore,
    elapsedSec: Math.round(wallSec * 1000) / 1000,
    achievedRate: Math.round(achievedRate),
    ...(sut.procs.length > 0 ? { nodeCpuMsPerCall: cpu1.reduce((s, v, i) => s + v - cpu0[i]!, 0) / perCall, threads } : {}),
    ...(ok ? {} : { sippErrors: [...firstErrors(caller), ...firstErrors(callee)] }),
    ...(events.length > 0 ? { events } : {}),
    caller: summarize(caller),
    callee: summarize(callee),
  };
}

// ---------------------------------------------------------------- the run

const PATH_NAME: Record<PathKind, string> = { direct: 'SIPp → SIPp', node: 'SIPp → node → SIPp', pair: 'SIPp → pair (active, mirroring) → SIPp' };
const fmtDrops = (s: StepResult) => (s.udpDrops ? `${s.udpDrops.uac} / ${s.udpDrops.uas}${s.udpDrops.node !== undefined ? ` / ${s.udpDrops.node}` : ''}` : 'n/a (tcp)');
const fmtThreads = (s: StepResult) =>
  (s.threads ?? []).map((t) => `${t.proc === 'node' ? '' : `${t.proc}:`}${t.thread} ${t.cpuPct.toFixed(0)}% ${t.usPerCall} µs (sys ${t.sysUsPerCall})`).join(', ');
const STEP_HEAD = [
  '| path | hold | rate/s | calls | result | caller ok/failed | callee ok/failed | retrans | achieved/s | UDP drops uac / uas / node | load before | node CPU ms/call | per thread: % of a core, CPU µs/call |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
].join('\n');
const stepRow = (s: StepResult) =>
  `| ${s.path} | ${s.holdMs / 1000} s | ${s.targetRate} | ${s.calls} | ${s.ok ? 'clean' : `FAIL: ${s.reason.replace(/\|/g, '¦')}`} | ${s.callerOk}/${s.callerFailed} | ${s.calleeOk}/${s.calleeFailed} | ${s.retransmissions} | ${s.achievedRate} | ${fmtDrops(s)} | ${s.loadBefore} | ${s.nodeCpuMsPerCall?.toFixed(3) ?? '–'} | ${fmtThreads(s) || '–'} |${s.sippErrors?.length ? `\n  first SIPp errors: ${s.sippErrors.join(' / ')}` : ''}`;

async function main(): Promise<void> {
  const started = new Date();
  const loadStart = load();
  const command = `node --import tsx bench/callrate.ts ${process.argv.slice(2).join(' ')}`.trim();
  const steps: StepResult[] = [];
  const commands: Record<string, string[]> = {};
  const best: Array<{ path: PathKind; holdMs: number; maxCleanRate: number | null; firstFailure: string; nodeCpuMsPerCall?: number }> = [];
  console.log(`# Call rate, ${o.transport}, ${secs} s per step, steps ${rates.join(',')}, holds ${holdsMs.map((h) => h / 1000).join(',')} s (${cpus().length} CPUs, load ${loadStart})\n`);
  console.log(STEP_HEAD);
  for (const kind of paths) {
    for (const holdMs of holdsMs) {
      let maxClean: number | null = null;
      let firstFailure = 'none up to the highest rate tried';
      let cpuAtBest: number | undefined;
      let sut: Sut | undefined;
      try {
        // One address, callee port and node (or pair) per series; a fresh callee per step.
        const ip = randomLoopbackAddress();
        const uasPort = await port(ip);
        sut = await startSut(kind, ip, `${ip}:${uasPort}`);
        if (sut.commands.length > 0) commands[kind] ??= sut.commands;
        for (const rate of rates) {
          const r = await step(kind, sut, ip, uasPort, holdMs, rate);
          steps.push(r);
          console.log(stepRow(r));
          if (!r.ok && firstFailure.startsWith('none')) firstFailure = `${rate}/s: ${r.reason}`;
          if (r.ok && firstFailure.startsWith('none')) {
            maxClean = rate;
            cpuAtBest = r.nodeCpuMsPerCall;
          }
          if (!r.ok && !o['keep-going']) break;
          if (sut.procs.some((p) => !p.node.process.running)) break;
          await new Promise((res) => setTimeout(res, 1500));
        }
      } catch (err) {
        // e.g. the node did not start: the series is recorded as failed and the run goes on.
        const msg = (err as Error).message;
        console.log(`| ${kind} | ${holdMs / 1000} s | ERROR: ${msg.split('\n')[0]} |`);
        console.error(msg);
        if (firstFailure.startsWith('none')) firstFailure = `error: ${msg.split('\n')[0]}`;
      } finally {
        await sut?.stop().catch(() => undefined);
      }
      best.push({ path: kind, holdMs, maxCleanRate: maxClean, firstFailure, nodeCpuMsPerCall: cpuAtBest });
    }
  }
  const loadEnd = load();
  console.log(
    [
      '',
      `## Highest clean rate (${started.toISOString()}, ${cpus().length} CPUs, ${cpus()[0]?.model ?? '?'}, load average ${loadStart} before, ${loadEnd} after)`,
      '',
      `\`${command}\``,
      '',
      '| path | transport | hold | highest clean rate (calls/s) | first failing step | node CPU ms/call at that rate |',
      '|---|---|---|---|---|---|',
      ...best.map(
        (b) =>
          `| ${PATH_NAME[b.path]} | ${o.transport} | ${b.holdMs / 1000} s | ${b.maxCleanRate ?? `< ${rates[0]}`} | ${b.firstFailure.replace(/\|/g, '¦')} | ${b.nodeCpuMsPerCall !== undefined ? b.nodeCpuMsPerCall.toFixed(3) : '–'} |`,
      ),
      '',
    ].join('\n'),
  );
  const file = o.out ? resolve(o.out) : join(fileURLToPath(new URL('./out/', import.meta.url)), `callrate-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(file), { recursive: true });
  const record = {
    started: started.toISOString(),
    command,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadBefore: loadStart,
    loadAfter: loadEnd,
    options: { quick, paths, rates, secs, holdsMs, cap, transport: o.transport, cpuProf: cpuProfDir, nodeFlags: o['node-flags'], engineInProcess: o['engine-in-process'], keepGoing: o['keep-going'], logLevel: o['log-level'] },
    nodeCommands: commands,
    best,
    steps,
  };
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`JSON: ${file}${cpuProfDir ? `\nCPU profiles: ${cpuProfDir}` : ''}`);
}

try {
  await main();
} finally {
  await cleanupAll();
}
