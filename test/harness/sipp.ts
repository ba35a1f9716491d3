// SIPp runner: built-in `uac`/`uas` or our own XML scenarios (test/scenarios),
// in a namespace or on loopback, foreground (`Sipp.run`) or background
// (`Sipp.start`, for the answering side). Final figures come from SIPp's own
// files, written into a private working directory: the `-trace_stat` CSV
// (cumulative counters, last row written at exit), the `-trace_counts` CSV
// (per scenario message: retransmissions, timeouts, unexpected), and
// optionally `-trace_rtt`. The `-trace_screen` file is kept as a fallback;
// it is empty when SIPp is killed, the CSVs are not.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, registerCleanup } from './cleanup.js';
import { localHost, type HostLike } from './netns.js';
import { freePort } from './ports.js';
import { HarnessError, type ManagedProcess } from './process.js';

export const SCENARIO_DIR = fileURLToPath(new URL('../scenarios/', import.meta.url));

export type SippTransport = 'u1' | 'un' | 't1' | 'tn';

export interface SippOptions {
  /** 'uac' | 'uas' (SIPp built-ins), a file name in test/scenarios (with or without .xml), or an absolute path. */
  scenario: string;
  /** Where to run; default: the current namespace. */
  host?: HostLike;
  /** -i: local address to bind. */
  localIp: string;
  /** -p: local port; default a free one on localIp (in a fresh namespace any port is free). */
  localPort?: number;
  /** 'ip:port' of the peer (the uac side). */
  remote?: string;
  /** -t, default 'u1'. */
  transport?: SippTransport;
  /** -r calls per -rp period (default period 1 s). */
  rate?: number;
  ratePeriodMs?: number;
  /** -l: cap on concurrent calls. */
  limit?: number;
  /** -m: stop after this many calls. */
  calls?: number;
  /** -timeout in seconds: SIPp quits after this long whatever happens. */
  timeoutSec?: number;
  /** -d: the default pause (call hold) in ms. */
  holdMs?: number;
  /** -recv_timeout in ms: a call waiting longer than this for a message fails. Default 10000. */
  recvTimeoutMs?: number;
  /** -s: the request-URI user part. */
  service?: string;
  /** -key name value, available in scenarios as [name]. */
  keys?: Readonly<Record<string, string>>;
  /** -trace_rtt: response times (rtd) per call. */
  traceRtt?: boolean;
  /** -trace_msg: every message sent and received (slow; debugging only). */
  traceMsg?: boolean;
  /** -buff_size, default 4194304 (below that SIPp loses calls near 1,000 calls/s). */
  buffSize?: number;
  extraArgs?: readonly string[];
  /** Name in messages. */
  name?: string;
  /** Keep the working directory after the run (it is printed in summary()). */
  keepDir?: boolean;
}

export interface RttStats {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface SippResult {
  readonly name: string;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Calls created (TotalCallCreated). */
  readonly created: number;
  readonly successful: number;
  readonly failed: number;
  /** Calls still open when SIPp stopped. */
  readonly current: number;
  readonly retransmissions: number;
  /** Messages that matched no expected step (FailedUnexpectedMessage plus per-message _Unexp counts). */
  readonly unexpected: number;
  /** Sum of per-message _Timeout counts. */
  readonly timeouts: number;
  readonly outOfCallMsgs: number;
  readonly deadCallMsgs: number;
  /** Non-zero cumulative Failed* counters, e.g. { FailedTimeoutOnRecv: 3 }. */
  readonly failures: Readonly<Record<string, number>>;
  /** Last row of the -trace_counts CSV, e.g. { '0_INVITE_Sent': 200, ... }. */
  readonly messages: Readonly<Record<string, number>>;
  readonly elapsedSec: number;
  /** Mean call length (CallLength(C)), seconds. */
  readonly avgCallLengthSec: number;
  readonly rtt?: RttStats;
  /** First lines of SIPp's error log (unexpected messages etc.). */
  readonly errorLog: string;
  /** stdout/stderr tail. */
  readonly tail: string;
  readonly workDir: string;
  /** Where the numbers came from: 'stat-csv' or 'screen'. */
  readonly source: 'stat-csv' | 'screen' | 'none';
}

function scenarioArgs(scenario: string): string[] {
  if (scenario === 'uac' || scenario === 'uas') return ['-sn', scenario];
  const file = isAbsolute(scenario) ? scenario : join(SCENARIO_DIR, scenario.endsWith('.xml') ? scenario : `${scenario}.xml`);
  if (!existsSync(file)) throw new HarnessError('ERR_SIPP_SCENARIO', `no SIPp scenario ${file}`);
  return ['-sf', file];
}

function lastCsvRow(file: string): Record<string, string> | undefined {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return undefined;
  const header = lines[0]!.split(';');
  const row = lines[lines.length - 1]!.split(';');
  const out: Record<string, string> = {};
  header.forEach((h, i) => {
    if (h) out[h] = row[i] ?? '';
  });
  return out;
}

function num(v: string | undefined): number {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

function durationSec(v: string | undefined): number {
  // hh:mm:ss or hh:mm:ss:uuuuuu
  if (!v) return 0;
  const p = v.split(':').map(Number);
  if (p.length < 3 || p.some((x) => !Number.isFinite(x))) return 0;
  return p[0]! * 3600 + p[1]! * 60 + p[2]! + (p[3] ?? 0) / 1e6;
}

function parseScreen(file: string): { successful: number; failed: number; created: number } | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  const grab = (label: string) => {
    const all = [...text.matchAll(new RegExp(`${label}\\s*\\|\\s*(\\d+)\\s*\\|\\s*(\\d+)`, 'g'))];
    const last = all[all.length - 1];
    return last ? Number(last[2]) : undefined;
  };
  const successful = grab('Successful call');
  const failed = grab('Failed call');
  if (successful === undefined || failed === undefined) return undefined;
  return { successful, failed, created: grab('Total Calls created') ?? successful + failed };
}

function parseRtt(dir: string): RttStats | undefined {
  const f = readdirSync(dir).find((n) => n.endsWith('_rtt.csv'));
  if (!f) return undefined;
  const values: number[] = [];
  for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
    const parts = line.split(';');
    const v = Number(parts[1]);
    if (parts.length >= 2 && Number.isFinite(v) && /\d/.test(parts[1] ?? '')) values.push(v);
  }
  if (values.length === 0) return undefined;
  values.sort((a, b) => a - b);
  const at = (q: number) => values[Math.min(values.length - 1, Math.floor(q * values.length))]!;
  return {
    count: values.length,
    meanMs: values.reduce((a, b) => a + b, 0) / values.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: values[values.length - 1]!,
  };
}

/** Reads SIPp's output files in `dir` into a SippResult. */
export function parseSippDir(dir: string, name: string, exit: { code: number | null; signal: NodeJS.Signals | null }, tail: string): SippResult {
  const stat = lastCsvRow(join(dir, 'stat.csv'));
  const countsFile = readdirSync(dir).find((n) => n.endsWith('_counts.csv'));
  const counts = countsFile ? lastCsvRow(join(dir, countsFile)) : undefined;
  const messages: Record<string, number> = {};
  let unexp = 0;
  let timeouts = 0;
  for (const [k, v] of Object.entries(counts ?? {})) {
    if (k === 'CurrentTime' || k === 'ElapsedTime') continue;
    messages[k] = num(v);
    if (k.endsWith('_Unexp')) unexp += num(v);
    if (k.endsWith('_Timeout')) timeouts += num(v);
  }
  const failures: Record<string, number> = {};
  for (const [k, v] of Object.entries(stat ?? {})) {
    const m = /^(Failed\w+)\(C\)$/.exec(k);
    if (m && num(v) > 0) failures[m[1]!] = num(v);
  }
  const errFile = join(dir, 'errors.log');
  const errorLog = existsSync(errFile) ? readFileSync(errFile, 'utf8').slice(0, 4000) : '';
  const screen = stat ? undefined : parseScreen(join(dir, 'screen.log'));
  return {
    name,
    exitCode: exit.code,
    signal: exit.signal,
    created: stat ? num(stat['TotalCallCreated']) : (screen?.created ?? 0),
    successful: stat ? num(stat['SuccessfulCall(C)']) : (screen?.successful ?? 0),
    failed: stat ? num(stat['FailedCall(C)']) : (screen?.failed ?? 0),
    current: num(stat?.['CurrentCall']),
    retransmissions: num(stat?.['Retransmissions(C)']),
    unexpected: num(stat?.['FailedUnexpectedMessage(C)']) + unexp,
    timeouts,
    outOfCallMsgs: num(stat?.['OutOfCallMsgs(C)']),
    deadCallMsgs: num(stat?.['DeadCallMsgs(C)']),
    failures,
    messages,
    elapsedSec: durationSec(stat?.['ElapsedTime(C)']),
    avgCallLengthSec: durationSec(stat?.['CallLength(C)']),
    rtt: parseRtt(dir),
    errorLog,
    tail,
    workDir: dir,
    source: stat ? 'stat-csv' : screen ? 'screen' : 'none',
  };
}

/** One line for assertion messages. */
export function summarize(r: SippResult): string {
  const f = Object.entries(r.failures)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const m = Object.entries(r.messages)
    .filter(([k, v]) => v > 0 && /_(Timeout|Unexp|Retrans)$/.test(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `${r.name}: exit=${r.exitCode}${r.signal ? `/${r.signal}` : ''} created=${r.created} ok=${r.successful} failed=${r.failed} current=${r.current} retrans=${r.retransmissions} unexpected=${r.unexpected} timeouts=${r.timeouts}${f ? ` [${f}]` : ''}${m ? ` {${m}}` : ''} (${r.source}, ${r.workDir})`;
}

/** summary + error log + output tail: what a failed assertion should show. */
export function explain(r: SippResult): string {
  return [summarize(r), r.errorLog ? `--- errors.log ---\n${r.errorLog}` : '', r.tail].filter(Boolean).join('\n');
}

/** A running SIPp instance. */
export class SippRun {
  private resultP: Promise<SippResult> | undefined;

  constructor(
    readonly name: string,
    readonly process: ManagedProcess,
    readonly workDir: string,
    readonly localIp: string,
    readonly localPort: number,
    readonly transport: SippTransport,
    private readonly keepDir: boolean,
    private readonly unregisterDir: () => void,
  ) {}

  /** 'ip:port' this SIPp listens on. */
  get address(): string {
    return `${this.localIp}:${this.localPort}`;
  }

  /** Waits for SIPp to exit by itself (-m reached, -timeout) and parses its files. */
  result(): Promise<SippResult> {
    this.resultP ??= this.process.exited.then((exit) => {
      // Streams may still flush after 'exit'.
      const r = parseSippDir(this.workDir, this.name, exit, this.process.tail(30));
      if (!this.keepDir && r.failed === 0 && r.successful > 0) {
        rmSync(this.workDir, { recursive: true, force: true });
        this.unregisterDir();
      }
      return r;
    });
    return this.resultP;
  }

  /** The latest periodic figures (the stat CSV is rewritten every second while SIPp runs). */
  snapshot(): SippResult {
    const exit = this.process.exitStatus ?? { code: null, signal: null };
    return parseSippDir(this.workDir, this.name, exit, this.process.tail(30));
  }

  /**
   * Waits until SIPp reports no open call (CurrentCall = 0 in the periodic CSV,
   * so up to a second late), e.g. before stop() so that calls in a timewait
   * step (SIPp's built-in uas keeps each call 4 s) are counted, not cut.
   */
  async waitIdle(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.process.running) {
      const s = this.snapshot();
      if (s.source === 'stat-csv' && s.current === 0) return true;
      await new Promise((r) => setTimeout(r, 250));
    }
    return !this.process.running;
  }

  /**
   * Lets open calls finish (waitIdle, up to `idleTimeoutMs`), then asks SIPp to
   * quit (SIGUSR1: final statistics are written), SIGKILL after `timeoutMs`.
   */
  async stop(opts: { idleTimeoutMs?: number; timeoutMs?: number } = {}): Promise<SippResult> {
    if (this.process.running) {
      await this.waitIdle(opts.idleTimeoutMs ?? 10_000);
      await this.process.stop({ signal: 'SIGUSR1', timeoutMs: opts.timeoutMs ?? 8000 });
    }
    return this.result();
  }
}

export const Sipp = {
  /** Builds the SIPp command line (exported for the benchmark's record of what it ran). */
  args(opts: SippOptions & { localPort: number; workDir: string }): string[] {
    const a = [
      ...scenarioArgs(opts.scenario),
      ...(opts.remote ? [opts.remote] : []),
      '-i', opts.localIp,
      '-p', String(opts.localPort),
      '-t', opts.transport ?? 'u1',
      '-buff_size', String(opts.buffSize ?? 4194304),
      '-nostdin',
      '-recv_timeout', String(opts.recvTimeoutMs ?? 10_000),
      '-trace_stat', '-stf', join(opts.workDir, 'stat.csv'), '-fd', '1',
      '-trace_counts',
      '-trace_screen', '-screen_file', join(opts.workDir, 'screen.log'),
      '-trace_err', '-error_file', join(opts.workDir, 'errors.log'),
    ];
    if (opts.rate !== undefined) a.push('-r', String(opts.rate));
    if (opts.ratePeriodMs !== undefined) a.push('-rp', String(opts.ratePeriodMs));
    if (opts.limit !== undefined) a.push('-l', String(opts.limit));
    if (opts.calls !== undefined) a.push('-m', String(opts.calls));
    if (opts.timeoutSec !== undefined) a.push('-timeout', `${opts.timeoutSec}s`);
    if (opts.holdMs !== undefined) a.push('-d', String(opts.holdMs));
    if (opts.service !== undefined) a.push('-s', opts.service);
    for (const [k, v] of Object.entries(opts.keys ?? {})) a.push('-key', k, v);
    if (opts.traceRtt) a.push('-trace_rtt', '-rtt_freq', '1');
    if (opts.traceMsg) a.push('-trace_msg', '-message_file', join(opts.workDir, 'messages.log'));
    a.push(...(opts.extraArgs ?? []));
    return a;
  },

  /** Starts SIPp and resolves once its SIP socket is bound. */
  async start(opts: SippOptions): Promise<SippRun> {
    const host = opts.host ?? localHost;
    const workDir = makeTempDir('sipp');
    // DSIP_KEEP_SIPP_DIRS=1 keeps every working directory (errors.log, CSVs) for a post-mortem.
    const keep = Boolean(process.env['DSIP_KEEP_SIPP_DIRS']);
    const unregisterDir = keep
      ? () => {}
      : registerCleanup({ label: `dir ${workDir}`, sync: () => rmSync(workDir, { recursive: true, force: true }) });
    const localPort = opts.localPort ?? (host.netns ? 5060 : await freePort(opts.localIp));
    const transport = opts.transport ?? 'u1';
    const name = opts.name ?? `sipp ${opts.scenario}@${opts.localIp}:${localPort}`;
    const args = Sipp.args({ ...opts, localPort, workDir });
    const proc = host.spawn('sipp', args, { name, cwd: workDir, ringLines: 200, stopTimeoutMs: 8000 });
    const run = new SippRun(name, proc, workDir, opts.localIp, localPort, transport, keep || (opts.keepDir ?? false), unregisterDir);
    // An answering SIPp (no remote) is ready once `ss` shows its socket.
    const proto = transport.startsWith('t') ? '-t' : '-u';
    const deadline = Date.now() + 10_000;
    while (!opts.remote) {
      if (!proc.running) break;
      const res = await host.exec(['ss', '-Hln', proto, 'src', `${opts.localIp}:${localPort}`], { allowFail: true });
      if (res.stdout.trim() !== '') break;
      if (Date.now() > deadline) {
        await proc.stop();
        throw new HarnessError('ERR_SIPP_START', `${name}: socket not bound within 10 s\n${proc.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return run;
  },

  /** Runs SIPp to completion (use calls/-m or timeoutSec) and returns its figures. */
  async run(opts: SippOptions): Promise<SippResult> {
    if (opts.calls === undefined && opts.timeoutSec === undefined) {
      throw new HarnessError('ERR_SIPP_OPTIONS', 'Sipp.run needs calls (-m) or timeoutSec so that it ends');
    }
    const r = await Sipp.start(opts);
    return r.result();
  },
};
