// A throwaway redis-server for end-to-end tests: no persistence, bound to one
// address (a sync-network address inside a namespace, or loopback), password
// protected. (@dualsip/sync has its own RedisServer for the product; this one
// only serves tests.)
import { rmSync } from 'node:fs';
import { makeTempDir, registerCleanup } from './cleanup.js';
import { localHost, type HostLike } from './netns.js';
import type { ManagedProcess } from './process.js';

export interface RedisOptions {
  host?: HostLike;
  bind: string;
  port?: number;
  password?: string;
  /** e.g. ['--replicaof', '198.18.2.1', '6379', '--masterauth', 'pw'] */
  extraArgs?: readonly string[];
  readyTimeoutMs?: number;
}

export class TestRedis {
  private constructor(
    readonly process: ManagedProcess,
    readonly bind: string,
    readonly port: number,
    readonly password: string | undefined,
    readonly dir: string,
  ) {}

  static async start(opts: RedisOptions): Promise<TestRedis> {
    const host = opts.host ?? localHost;
    const port = opts.port ?? 6379;
    const dir = makeTempDir('redis');
    const unregisterDir = registerCleanup({ label: `dir ${dir}`, sync: () => rmSync(dir, { recursive: true, force: true }) });
    const args = [
      '--bind', opts.bind,
      '--port', String(port),
      '--save', '',
      '--appendonly', 'no',
      '--dir', dir,
      '--daemonize', 'no',
      '--protected-mode', 'no',
      ...(opts.password ? ['--requirepass', opts.password, '--masterauth', opts.password] : []),
      ...(opts.extraArgs ?? []),
    ];
    const proc = host.spawn('redis-server', args, { name: `redis@${opts.bind}:${port}` });
    void proc.exited.then(() => {
      rmSync(dir, { recursive: true, force: true });
      unregisterDir();
    });
    await proc.waitForLine((l) => /Ready to accept connections/.test(l.line), { timeoutMs: opts.readyTimeoutMs ?? 10_000 });
    return new TestRedis(proc, opts.bind, port, opts.password, dir);
  }

  get url(): string {
    return `redis://${this.password ? `:${encodeURIComponent(this.password)}@` : ''}${this.bind}:${this.port}`;
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
