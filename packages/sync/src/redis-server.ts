import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyncError } from './errors.js';

export interface RedisServerOptions {
  /** Address to bind; loopback in tests, the sync address in a pair. Default 127.0.0.1. */
  bind?: string;
  /** TCP port; 0 or omitted picks a free one. */
  port?: number;
  /** Working dir; a fresh temp dir when omitted. */
  dir?: string;
  /** requirepass, and masterauth so that this server can also replicate a peer with the same password. */
  password?: string;
  /** Start as a replica of this address. */
  replicaOf?: { host: string; port: number };
  /** Extra redis-server arguments, e.g. ['--repl-timeout', '2']. */
  extraArgs?: string[];
  /** Binary; default /usr/bin/redis-server. */
  binary?: string;
  /** Keep persistence (--save/--appendonly) at redis defaults instead of turning it off. */
  persistence?: boolean;
  /** Milliseconds to wait for "Ready to accept connections". Default 10000. */
  startTimeoutMs?: number;
}

/** Ask the kernel for a free loopback TCP port. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A crashed test runner must not leave redis-servers behind.
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/**
 * A real redis-server child process. Used by tests, the benchmark, the CLI's pair mode
 * and the end-to-end harness.
 */
export class RedisServer {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  readonly options: Readonly<RedisServerOptions>;
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  #output = '';

  private constructor(child: ChildProcess, opts: RedisServerOptions, host: string, port: number, dir: string) {
    this.#child = child;
    this.options = opts;
    this.host = host;
    this.port = port;
    this.dir = dir;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        live.delete(child);
        resolve(code);
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** What the server printed (its log goes to stdout). */
  get output(): string {
    return this.#output;
  }

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const host = opts.bind ?? '127.0.0.1';
    const port = opts.port && opts.port > 0 ? opts.port : await freePort(host);
    const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'dualsip-redis-')));
    await mkdir(dir, { recursive: true });
    const args = ['--bind', host, '--port', String(port), '--dir', dir, '--daemonize', 'no', '--logfile', ''];
    args.push('--protected-mode', 'no');
    // Disk-based full sync: with Redis 7.0's diskless sync the primary holds the command
    // stream back until the replica's first periodic ACK, which stalled the mirror ~1 s
    // after every full sync (measured with bench/lag.ts). Later args (extraArgs) override.
    args.push('--repl-diskless-sync', 'no');
    if (!opts.persistence) args.push('--save', '', '--appendonly', 'no');
    if (opts.password !== undefined) args.push('--requirepass', opts.password, '--masterauth', opts.password);
    if (opts.replicaOf) args.push('--replicaof', opts.replicaOf.host, String(opts.replicaOf.port));
    if (opts.extraArgs) args.push(...opts.extraArgs);
    const child = spawn(opts.binary ?? '/usr/bin/redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    installExitHook();
    live.add(child);
    const srv = new RedisServer(child, { ...opts, port, dir, bind: host }, host, port, dir);
    const timeoutMs = opts.startTimeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          child.kill('SIGKILL');
          reject(err);
        } else resolve();
      };
      const onData = (b: Buffer) => {
        srv.#output += b.toString();
        if (srv.#output.length > 200_000) srv.#output = srv.#output.slice(-100_000);
        if (srv.#output.includes('Ready to accept connections')) finish();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (err) =>
        finish(new SyncError('SYNC_REDIS_START_FAILED', `redis-server failed to start: ${err.message}`, { cause: err })),
      );
      child.once('exit', (code) =>
        finish(
          new SyncError(
            'SYNC_REDIS_START_FAILED',
            `redis-server exited with ${code} before it was ready on ${host}:${port}: ${srv.#output.slice(-500)}`,
          ),
        ),
      );
      const timer = setTimeout(
        () => finish(new SyncError('SYNC_REDIS_START_FAILED', `redis-server not ready after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    return srv;
  }

  /** Send a signal (SIGKILL to crash it, SIGSTOP/SIGCONT to freeze it). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running) this.#child.kill(signal);
  }

  /** Resolves when the process has exited. */
  exited(): Promise<number | null> {
    return this.#exited;
  }

  /** Graceful stop (SIGTERM, then SIGKILL after timeoutMs). Idempotent. */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (!this.running) return this.#exited.then(() => undefined);
    this.#child.kill('SIGCONT');
    this.#child.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(t);
  }

  /** Start a new server with the same options (same port and dir). */
  restart(overrides: Partial<RedisServerOptions> = {}): Promise<RedisServer> {
    return RedisServer.start({ ...this.options, ...overrides });
  }
}
