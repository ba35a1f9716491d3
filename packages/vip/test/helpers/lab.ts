/**
 * A throw-away link: one bridge in its own namespace and N node namespaces, each with an
 * eth0 veth on that bridge. Names carry pid + random suffix; nothing is created in (or sent
 * from) the host's namespace. Addresses: 198.18.0.0/15 and fd00:198:18::/64 only.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 20_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number) ?? 1 : 0;
      if (err && !opts.allowFail) reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${stderr || err.message}`));
      else resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

export interface LabNode {
  ns: string;
  mac: string;
  ip4: string;
  ip6: string;
}

export interface Lab {
  tag: string;
  bridgeNs: string;
  nodes: Record<string, LabNode>;
  destroy(): Promise<void>;
}

/** nodes: name → host number on 198.18.<subnet>.0/24 and fd00:198:18:<subnet>::/64 */
export async function createLab(names: string[], subnet = 4): Promise<Lab> {
  const tag = `${process.pid % 100000}${randomBytes(2).toString('hex')}`;
  const bridgeNs = `vbr${tag}`;
  const created: string[] = [];
  const lab: Lab = {
    tag,
    bridgeNs,
    nodes: {},
    async destroy() {
      for (const ns of created.reverse()) await sh('ip', ['netns', 'del', ns], { allowFail: true });
    },
  };
  try {
    await sh('ip', ['netns', 'add', bridgeNs]);
    created.push(bridgeNs);
    await sh('ip', ['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await sh('ip', ['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    let host = 1;
    for (const name of names) {
      const ns = `v${name}${tag}`;
      await sh('ip', ['netns', 'add', ns]);
      created.push(ns);
      const port = `p${name}`;
      await sh('ip', ['-n', bridgeNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await sh('ip', ['-n', bridgeNs, 'link', 'set', port, 'master', 'br0', 'up']);
      // no DAD and no router solicitations: the link carries only what the test sends
      await sh('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.eth0.accept_dad=0']);
      const ip4 = `198.18.${subnet}.${host}`;
      const ip6 = `fd00:198:18:${subnet}::${host}`;
      await sh('ip', ['-n', ns, 'addr', 'add', `${ip4}/24`, 'dev', 'eth0']);
      await sh('ip', ['-n', ns, 'addr', 'add', `${ip6}/64`, 'dev', 'eth0', 'nodad']);
      await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      const link = JSON.parse((await sh('ip', ['-n', ns, '-j', 'link', 'show', 'eth0'])).stdout) as { address: string }[];
      lab.nodes[name] = { ns, mac: link[0]!.address, ip4, ip6 };
      host++;
    }
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  return lab;
}

/** The neighbour entry of `ip` on eth0 in `ns`: { lladdr, state } or undefined. */
export async function neighbour(ns: string, ip: string): Promise<{ lladdr?: string; state?: string[] } | undefined> {
  const r = await sh('ip', ['-n', ns, '-j', 'neigh', 'show', ip, 'dev', 'eth0']);
  return (JSON.parse(r.stdout || '[]') as { lladdr?: string; state?: string[] }[])[0];
}

/** A long-lived child in a namespace that prints JSON lines. */
export class JsonChild {
  readonly proc: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  #waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  #nextId = 1;

  constructor(ns: string, argv: string[], env: NodeJS.ProcessEnv = {}, prefix: string[] = []) {
    this.proc = spawn('ip', ['netns', 'exec', ns, ...prefix, process.execPath, '--import', 'tsx', ...argv], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc.stderr!.on('data', (d) => (this.stderr += d.toString()));
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line);
      } catch {
        return;
      }
      this.lines.push(obj);
      for (const w of [...this.#waiters]) {
        if (w.pred(obj)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(obj);
        }
      }
    });
  }

  waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs = 10_000, what = 'line'): Promise<Record<string, unknown>> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timeout waiting for ${what}; last lines: ${this.lines.slice(-6).map((l) => JSON.stringify(l)).join(' | ')}; stderr: ${this.stderr.slice(-500)}`)),
        timeoutMs,
      );
      this.#waiters.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
    });
  }

  /** sends {id, op} and resolves with the reply line */
  async call(op: string, timeoutMs = 15_000): Promise<{ ok: boolean; result?: any; error?: { code: string; message: string }; t0: number; t1: number }> {
    const id = this.#nextId++;
    this.proc.stdin!.write(JSON.stringify({ id, op }) + '\n');
    return (await this.waitFor((l) => l.id === id, timeoutMs, `reply to ${op}`)) as never;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin!.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}

export const AGENT = fileURLToPath(new URL('../../src/agent.ts', import.meta.url));
export const PROBER = fileURLToPath(new URL('./udp-prober.ts', import.meta.url));

/** tcpdump on eth0 of `ns`, writing a pcap; stop() returns the decoded lines (-nn -e). */
export async function startCapture(ns: string, file: string, filter: string): Promise<{ stop(): Promise<string[]> }> {
  const proc = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', 'eth0', '-nn', '-U', '--immediate-mode', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000);
    proc.stderr!.on('data', (d) => {
      err += d.toString();
      if (err.includes('listening on')) (clearTimeout(t), resolve());
    });
    proc.once('exit', (c) => (clearTimeout(t), reject(new Error(`tcpdump exited ${c}: ${err}`))));
  });
  return {
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGINT');
      await exited;
      const r = await sh('tcpdump', ['-nn', '-e', '-v', '-r', file]);
      // join tcpdump -v continuation lines onto their packet line
      if (process.env.VIP_DEBUG) console.log('capture', file, r.stderr, err);
      return r.stdout.replace(/\n\s+/g, ' ').split('\n').filter(Boolean);
    },
  };
}
