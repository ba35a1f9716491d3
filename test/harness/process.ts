// A child process the harness owns: output captured line by line into a ring
// buffer (for failure messages), log-line waits (pino JSON aware), and
// SIGTERM-then-SIGKILL stop. Every ManagedProcess is registered for cleanup.
import { spawn, type ChildProcess } from 'node:child_process';
import { registerCleanup } from './cleanup.js';

export interface SpawnOptions {
  /** Name used in messages; defaults to the command's basename. */
  name?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How many output lines to keep (both streams together). Default 400. */
  ringLines?: number;
  /** Run the command inside this network namespace (`ip netns exec`, which execs in place). */
  netns?: string;
  /** Grace period between SIGTERM and SIGKILL used by stop() and cleanup. Default 3000 ms. */
  stopTimeoutMs?: number;
}

export interface OutputLine {
  readonly stream: 'stdout' | 'stderr';
  readonly line: string;
  /** The line parsed as a JSON object (pino logs), when it is one. */
  readonly json?: Record<string, unknown>;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Also consider lines already in the ring buffer. Default true. */
  fromStart?: boolean;
}

export class HarnessError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HarnessError';
  }
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly command: string[];
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  private readonly child: ChildProcess;
  private readonly ring: OutputLine[] = [];
  private readonly ringSize: number;
  private readonly listeners = new Set<(l: OutputLine) => void>();
  private readonly stopTimeoutMs: number;
  private exitInfo: ExitInfo | undefined;
  private unregister: () => void;
  private totalLines = 0;

  static spawn(cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): ManagedProcess {
    return new ManagedProcess(cmd, args, opts);
  }

  private constructor(cmd: string, args: readonly string[], opts: SpawnOptions) {
    const argv = opts.netns ? ['ip', 'netns', 'exec', opts.netns, cmd, ...args] : [cmd, ...args];
    this.command = argv;
    this.name = opts.name ?? `${cmd.split('/').pop()}${opts.netns ? `@${opts.netns}` : ''}`;
    this.ringSize = opts.ringLines ?? 400;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 3000;
    // detached: own process group, so stop() reaches grandchildren too.
    this.child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    if (this.child.pid === undefined) {
      // spawn failures surface as an 'error' event; make the pid check explicit.
      this.pid = -1;
    } else {
      this.pid = this.child.pid;
    }
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('error', (err) => {
        this.push('stderr', `spawn error: ${err.message}`);
        if (!this.exitInfo) {
          this.exitInfo = { code: -1, signal: null };
          resolve(this.exitInfo);
        }
      });
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
    this.attach('stdout');
    this.attach('stderr');
    this.unregister = registerCleanup({
      label: `process ${this.name} (pid ${this.pid})`,
      sync: () => this.signalGroup('SIGKILL'),
      async: async () => {
        await this.stop();
      },
    });
    void this.exited.then(() => this.unregister());
  }

  private attach(stream: 'stdout' | 'stderr'): void {
    const s = this.child[stream];
    if (!s) return;
    s.setEncoding('utf8');
    let partial = '';
    s.on('data', (chunk: string) => {
      partial += chunk;
      let idx: number;
      while ((idx = partial.indexOf('\n')) >= 0) {
        this.push(stream, partial.slice(0, idx).replace(/\r$/, ''));
        partial = partial.slice(idx + 1);
      }
      if (partial.length > 65536) {
        this.push(stream, partial);
        partial = '';
      }
    });
    s.on('end', () => {
      if (partial) this.push(stream, partial);
      partial = '';
    });
  }

  private push(stream: 'stdout' | 'stderr', line: string): void {
    const entry: OutputLine = { stream, line, json: parseJson(line) };
    this.totalLines++;
    this.ring.push(entry);
    if (this.ring.length > this.ringSize) this.ring.shift();
    for (const l of this.listeners) {
      try {
        l(entry);
      } catch {
        // a listener's exception must not break capture
      }
    }
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  get exitStatus(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** The captured lines still in the ring buffer, oldest first. */
  lines(): readonly OutputLine[] {
    return [...this.ring];
  }

  /** The last `n` lines formatted for an error message. */
  tail(n = 40): string {
    const shown = this.ring.slice(-n);
    const dropped = this.totalLines - shown.length;
    const head = `--- ${this.name} (pid ${this.pid}${this.exitInfo ? `, exited code=${this.exitInfo.code} signal=${this.exitInfo.signal}` : ', running'}) last ${shown.length} lines${dropped > 0 ? ` (${dropped} earlier not shown)` : ''} ---`;
    return [head, ...shown.map((l) => (l.stream === 'stderr' ? `[err] ${l.line}` : l.line))].join('\n');
  }

  onLine(listener: (l: OutputLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for an output line matching `pred`; rejects on timeout or exit, with the output tail. */
  waitForLine(pred: (l: OutputLine) => boolean, opts: WaitOptions = {}): Promise<OutputLine> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    if (opts.fromStart ?? true) {
      const found = this.ring.find((l) => {
        try {
          return pred(l);
        } catch {
          return false;
        }
      });
      if (found) return Promise.resolve(found);
    }
    return new Promise<OutputLine>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | undefined, l?: OutputLine) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        off();
        if (err) reject(err);
        else resolve(l!);
      };
      const off = this.onLine((l) => {
        let ok = false;
        try {
          ok = pred(l);
        } catch {
          ok = false;
        }
        if (ok) finish(undefined, l);
      });
      const timer = setTimeout(
        () => finish(new HarnessError('ERR_WAIT_TIMEOUT', `${this.name}: no matching line within ${timeoutMs} ms\n${this.tail()}`)),
        timeoutMs,
      );
      void this.exited.then((e) => {
        // Give the stream readers a tick to flush the last lines.
        setTimeout(
          () =>
            finish(
              new HarnessError(
                'ERR_PROCESS_EXITED',
                `${this.name} exited (code=${e.code} signal=${e.signal}) before a matching line\n${this.tail()}`,
              ),
            ),
          50,
        );
      });
    });
  }

  /** Waits for a pino JSON log record matching `pred` (non-JSON lines are skipped). */
  async waitForLog(pred: (rec: Record<string, unknown>) => boolean, opts: WaitOptions = {}): Promise<Record<string, unknown>> {
    const l = await this.waitForLine((x) => x.json !== undefined && pred(x.json), opts);
    return l.json!;
  }

  /** Resolves with the exit info, or rejects after `timeoutMs`. */
  async waitForExit(timeoutMs = 10_000): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new HarnessError('ERR_WAIT_TIMEOUT', `${this.name} still running after ${timeoutMs} ms\n${this.tail()}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.pid <= 0 || this.exitInfo) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      try {
        process.kill(this.pid, signal);
      } catch {
        // gone already
      }
    }
  }

  /** Sends `signal` to the process group (default SIGTERM). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.signalGroup(signal);
  }

  /** SIGTERM (or `signal`), then SIGKILL after the grace period. Idempotent. */
  async stop(opts: { signal?: NodeJS.Signals; timeoutMs?: number } = {}): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.signalGroup(opts.signal ?? 'SIGTERM');
    const timeoutMs = opts.timeoutMs ?? this.stopTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.signalGroup('SIGKILL');
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return this.exited;
  }
}
