/**
 * Stepped call-rate benchmark: SIPp uac -> dualsip node (engine + core) -> SIPp uas,
 * zero hold, on loopback. Each step runs `rate` calls/s for `secs` seconds; the run
 * stops at the first step with a failed call (or fewer successes than attempted).
 *
 *   node --import tsx packages/engine/bench/callrate.ts [--steps 500,1000,1500,2000,2500] [--secs 5]
 *        [--transport udp|tcp] [--direct] [--cpu-prof DIR] [--engine-in-process]
 *
 * --direct measures SIPp uac -> SIPp uas with no node in between (the ceiling of the peers themselves).
 * --cpu-prof DIR writes .cpuprofile files of the node's main thread and of its engine worker.
 * Ports are random in 40000-60000 (other engineers run SIPp on this host too); `uptime` is printed
 * per step so the machine's other load is recorded next to each figure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '500,1000,1500,2000,2500' },
    secs: { type: 'string', default: '5' },
    transport: { type: 'string', default: 'udp' },
    direct: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'engine-in-process': { type: 'boolean', default: false },
    'keep-going': { type: 'boolean', default: false },
    /** extra node flags for the node under test, e.g. --node-flags=--max-semi-space-size=64 */
    'node-flags': { type: 'string', default: '' },
  },
});

const ROOT = resolve(import.meta.dirname, '../../..');
const rand = () => 40000 + Math.floor(Math.random() * 20000);
const tcp = values.transport === 'tcp';
const sippT = tcp ? ['-t', 't1'] : [];
const work = mkdtempSync(join(tmpdir(), 'dualsip-callrate-'));
const children: ChildProcess[] = [];
const stopAll = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
};
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

function load(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** Datagrams the kernel dropped per local UDP port (socket receive buffer full), from /proc/net/udp. */
function udpDrops(ports: number[]): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      const port = parseInt(f[1]!.split(':')[1]!, 16);
      if (ports.includes(port)) out.set(port, (out.get(port) ?? 0) + Number(f[f.length - 1]));
    }
  } catch {
    /* not Linux */
  }
  return out;
}

/** CPU seconds (user+sys) per thread of a process, from /proc. */
function threadCpu(pid: number | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (!pid) return out;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      out.set(`${tid === String(pid) ? 'main' : comm}:${tid}`, (Number(f[11]) + Number(f[12])) / 100);
      out.set(`sys:${tid}`, Number(f[12]) / 100);
    }
  } catch {
    /* gone */
  }
  return out;
}

function cpuDelta(a: Map<string, number>, b: Map<string, number>, secs: number, calls: number): string {
  return [...b]
    .map(([k, v]) => [k, v - (a.get(k) ?? 0)] as const)
    .filter(([k, v]) => v / secs >= 0.05 && !k.startsWith('sys:'))
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => {
      const tid = k.split(':')[1]!;
      const sys = (b.get(`sys:${tid}`) ?? 0) - (a.get(`sys:${tid}`) ?? 0);
      return `${k.split(':')[0]} ${((v / secs) * 100).toFixed(0)}% ${Math.round((v * 1e6) / calls)} µs/call (sys ${Math.round((sys * 1e6) / calls)})`;
    })
    .join(', ');
}

/** The last row of a SIPp -trace_stat CSV, by column name (cumulative counters). */
function statColumns(file: string): (name: string) => string | undefined {
  let head: string[] = [];
  let last: string[] = [];
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    head = lines[0]!.split(';');
    last = lines[lines.length - 1]!.split(';');
  } catch {
    /* no file: SIPp did not start */
  }
  return (name) => {
    const i = head.indexOf(name);
    return i === -1 ? undefined : last[i];
  };
}

async function waitForLine(p: ChildProcess, re: RegExp, ms: number): Promise<string> {
  return new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error(`timeout waiting for ${re}: ${buf.slice(-2000)}`)), ms);
    const on = (d: Buffer) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) {
        clearTimeout(t);
        res(m[0]);
      }
    };
    p.stdout?.on('data', on);
    p.stderr?.on('data', on);
    p.once('exit', (code) => rej(new Error(`exited ${code}: ${buf.slice(-2000)}`)));
  });
}

async function main(): Promise<void> {
  const uasPort = rand();
  const uas = spawn('sipp', [...sippT, '-sn', 'uas', '-i', '127.0.0.1', '-p', String(uasPort), '-buff_size', '4194304', '-nostdin'], {
    cwd: work,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(uas);
  let target = `127.0.0.1:${uasPort}`;
  let node: ChildProcess | undefined;
  let nodePort: number | undefined;
  if (!values.direct) {
    const sipPort = rand();
    nodePort = sipPort;
    const nodeArgs = ['--import', 'tsx', ...values['node-flags']!.split(' ').filter(Boolean)];
    const env = { ...process.env };
    if (values['cpu-prof']) {
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`);
      env['DUALSIP_ENGINE_CPU_PROF'] = values['cpu-prof'];
    }
    node = spawn(
      process.execPath,
      [
        ...nodeArgs, join(ROOT, 'packages/cli/src/main.ts'), 'node',
        '--sip-address', '127.0.0.1', '--sip-port', String(sipPort), '--sip-transports', tcp ? 'udp,tcp' : 'udp',
        '--drachtio-port', '0', '--route-default', `sip:127.0.0.1:${uasPort}${tcp ? ';transport=tcp' : ''}`,
        '--log-level', 'warn', '--drain-timeout', '2000', ...(values['engine-in-process'] ? ['--engine-in-process'] : []),
      ],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(node);
    await waitForLine(node, /node ready/, 20_000);
    let logged = 0;
    const countLog = (d: Buffer) => (logged += d.toString().split('\n').length - 1);
    node.stdout?.on('data', countLog);
    node.stderr?.on('data', countLog);
    process.on('exit', () => console.log(`node log lines (level warn): ${logged}`));
    target = `127.0.0.1:${sipPort}`;
  }
  await new Promise((r) => setTimeout(r, 500));
  const secs = Number(values.secs);
  console.log(`# ${values.direct ? 'SIPp -> SIPp (direct)' : 'SIPp -> node -> SIPp'} over ${values.transport}, ${secs} s per step, zero hold`);
  console.log('| rate (calls/s) | attempted | successful | failed | retransmissions | UDP drops (socket buffer full) | load avg before (1/5/15) | node CPU by thread (mean over the step) |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const rate of values.steps!.split(',').map(Number)) {
    const loadBefore = load();
    const calls = rate * secs;
    const cpu0 = threadCpu(node?.pid);
    const uacPort = rand();
    const watched = [uacPort, uasPort, ...(nodePort ? [nodePort] : [])];
    const drops0 = udpDrops(watched);
    const t0 = Date.now();
    const r = spawnSync(
      'sipp',
      [...sippT, '-sn', 'uac', '-i', '127.0.0.1', '-p', String(uacPort), '-r', String(rate), '-m', String(calls), '-d', '0',
        '-buff_size', '4194304', '-nostdin', '-recv_timeout', '8000', '-timeout', `${secs + 20}s`, '-trace_stat', '-stf', `stat-${rate}.csv`, '-trace_err', '-error_file', `errors-${rate}.log`,
        target],
      { cwd: work, encoding: 'utf8', timeout: (secs + 30) * 1000 },
    );
    const out = (r.stdout ?? '') + (r.stderr ?? '');
    const drops1 = udpDrops(watched);
    const d = (p: number) => (drops1.get(p) ?? 0) - (drops0.get(p) ?? 0);
    const dropText = tcp ? 'n/a (tcp)' : `uac ${d(uacPort)} / uas ${d(uasPort)}${nodePort ? ` / node ${d(nodePort)}` : ''}`;
    const col = statColumns(join(work, `stat-${rate}.csv`));
    const ok = Number(col('SuccessfulCall(C)') ?? /Successful call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(out)?.[1] ?? NaN);
    const failed = Number(col('FailedCall(C)') ?? /Failed call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(out)?.[1] ?? NaN);
    const cpu = node ? cpuDelta(cpu0, threadCpu(node.pid), (Date.now() - t0) / 1000, Math.max(1, ok)) : '';
    console.log(`| ${rate} | ${calls} | ${ok} | ${failed} | ${col('Retransmissions(C)') ?? '?'} | ${dropText} | ${loadBefore} | ${cpu} |`);
    if (failed > 0) {
      try {
        const errs = readFileSync(join(work, `errors-${rate}.log`), 'utf8').split('\n').filter((l) => /\S/.test(l) && !/^-+$/.test(l));
        console.log(`  first SIPp errors: ${errs.slice(0, 3).join(' / ').slice(0, 400)}`);
      } catch {
        /* none written */
      }
    }
    if (!values['keep-going'] && (failed > 0 || !(ok === calls))) break;
    await new Promise((res) => setTimeout(res, 1500));
  }
  if (node) {
    node.kill('SIGTERM');
    await new Promise((res) => node!.once('exit', res));
  }
  uas.kill('SIGTERM');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
