// Hosts in network namespaces, wired to Linux bridges that live in a namespace
// of their own, so the host's root namespace (its interfaces, routes, bridges)
// is never touched. Every namespace is named `dsip-<creator pid>-<random>-…`;
// namespaces whose creator pid is gone are swept before a new topology is built.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ipSync, pidAlive, registerCleanup } from './cleanup.js';
import { HarnessError, ManagedProcess, type SpawnOptions } from './process.js';

const execFileP = promisify(execFile);

/** Every namespace the harness creates starts with this. */
export const NETNS_PREFIX = 'dsip-';
const NAME_RE = /^dsip-(\d+)-[0-9a-f]+[-_]/;

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Do not throw on a non-zero exit status. */
  allowFail?: boolean;
  timeoutMs?: number;
}

async function run(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  try {
    const { stdout, stderr } = await execFileP(argv[0]!, argv.slice(1), {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 15_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    const res = { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
    if (opts.allowFail) return res;
    throw new HarnessError('ERR_EXEC', `command failed (${res.code}): ${argv.join(' ')}\n${res.stderr.trim()}`);
  }
}

/** Something that can run commands and processes: a namespace, or the machine itself (loopback tests). */
export interface HostLike {
  /** Namespace name, or undefined for the current namespace. */
  readonly netns: string | undefined;
  /** A string runs through `sh -c`; an array runs as is. */
  exec(cmd: string | readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  spawn(cmd: string, args?: readonly string[], opts?: Omit<SpawnOptions, 'netns'>): ManagedProcess;
}

function toArgv(cmd: string | readonly string[]): string[] {
  return typeof cmd === 'string' ? ['sh', '-c', cmd] : [...cmd];
}

/** The current namespace (loopback tests and benchmarks). */
export const localHost: HostLike = {
  netns: undefined,
  exec: (cmd, opts) => run(toArgv(cmd), opts),
  spawn: (cmd, args = [], opts = {}) => ManagedProcess.spawn(cmd, args, opts),
};

/** One network namespace. */
export class Netns implements HostLike {
  private unregister: (() => void) | undefined;
  private deleted = false;

  private constructor(readonly netns: string) {}

  /** Creates the namespace with loopback up; registered for cleanup. */
  static async create(name: string): Promise<Netns> {
    if (!name.startsWith(NETNS_PREFIX)) throw new HarnessError('ERR_NETNS_NAME', `namespace ${name} lacks prefix ${NETNS_PREFIX}`);
    await run(['ip', 'netns', 'add', name]);
    const ns = new Netns(name);
    ns.unregister = registerCleanup({
      label: `netns ${name}`,
      sync: () => deleteNetnsSync(name),
      async: () => ns.delete(),
    });
    await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  exec(cmd: string | readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', this.netns, ...toArgv(cmd)], opts);
  }

  /** `ip -n <ns> <args>` */
  ip(args: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return run(['ip', '-n', this.netns, ...args], opts);
  }

  spawn(cmd: string, args: readonly string[] = [], opts: Omit<SpawnOptions, 'netns'> = {}): ManagedProcess {
    return ManagedProcess.spawn(cmd, args, { ...opts, netns: this.netns });
  }

  /** Kills whatever still runs inside, then deletes the namespace. Idempotent. */
  async delete(): Promise<void> {
    if (this.deleted) return;
    this.deleted = true;
    deleteNetnsSync(this.netns);
    this.unregister?.();
  }
}

/** Kills every process inside `name` and deletes it; never throws. */
export function deleteNetnsSync(name: string): void {
  const pids = ipSync(['netns', 'pids', name])
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  ipSync(['netns', 'del', name]);
}

export function listNetns(): string[] {
  return ipSync(['netns', 'list'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Deletes harness namespaces whose creator process no longer exists. Returns the names removed. */
export function sweepStaleNetns(): string[] {
  const removed: string[] = [];
  for (const name of listNetns()) {
    const m = NAME_RE.exec(name);
    if (!m) continue;
    if (pidAlive(Number(m[1]))) continue;
    deleteNetnsSync(name);
    removed.push(name);
  }
  return removed;
}

/** A fresh unique prefix `dsip-<pid>-<hex>`. */
export function uniquePrefix(): string {
  return `${NETNS_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
}

export interface TopologyOptions {
  /** Short label for messages; not part of the namespace name. */
  name?: string;
  /** Bridge names (≤ 12 chars, [a-z0-9]); each becomes an interface of that name in every host attached to it. */
  bridges: readonly string[];
  /** host name → { bridge name → 'address/prefix' }. Host names: [a-z][a-z0-9]{0,11}. */
  hosts: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** sysctls set in every host namespace after its interfaces exist, e.g. { 'net.ipv4.conf.all.arp_accept': '1' }. */
  sysctls?: Readonly<Record<string, string>>;
}

export interface Link {
  readonly host: string;
  readonly bridge: string;
  /** Interface name inside the host namespace (= bridge name). */
  readonly ifname: string;
  /** Peer interface name inside the bridge namespace. */
  readonly peer: string;
  readonly cidr: string;
  readonly address: string;
}

const IFNAME_RE = /^[a-z][a-z0-9]{0,11}$/;

export class Topology {
  private readonly hostsByName = new Map<string, Netns>();
  private readonly links = new Map<string, Link>();
  private destroyed = false;
  private unregister: (() => void) | undefined;

  private constructor(
    readonly prefix: string,
    readonly label: string,
    readonly bridgeNs: Netns,
  ) {}

  static async create(opts: TopologyOptions): Promise<Topology> {
    for (const b of opts.bridges) {
      if (!IFNAME_RE.test(b)) throw new HarnessError('ERR_TOPOLOGY', `bridge name ${JSON.stringify(b)} must match ${IFNAME_RE}`);
    }
    for (const [h, ifs] of Object.entries(opts.hosts)) {
      if (!IFNAME_RE.test(h)) throw new HarnessError('ERR_TOPOLOGY', `host name ${JSON.stringify(h)} must match ${IFNAME_RE}`);
      for (const b of Object.keys(ifs)) {
        if (!opts.bridges.includes(b)) throw new HarnessError('ERR_TOPOLOGY', `host ${h} uses unknown bridge ${b}`);
      }
    }
    sweepStaleNetns();
    const prefix = uniquePrefix();
    const bridgeNs = await Netns.create(`${prefix}_br`);
    const topo = new Topology(prefix, opts.name ?? 'topology', bridgeNs);
    // Registered after the bridge namespace, so it is undone before it.
    topo.unregister = registerCleanup({ label: `topology ${topo.label} (${prefix})`, sync: () => topo.destroySync(), async: () => topo.destroy() });
    try {
      for (const b of opts.bridges) {
        await bridgeNs.ip(['link', 'add', `br${opts.bridges.indexOf(b)}`, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
        await bridgeNs.ip(['link', 'set', `br${opts.bridges.indexOf(b)}`, 'up']);
      }
      let h = 0;
      for (const [hostName, ifs] of Object.entries(opts.hosts)) {
        const ns = await Netns.create(`${prefix}-${hostName}`);
        topo.hostsByName.set(hostName, ns);
        for (const [bridge, cidr] of Object.entries(ifs)) {
          const bi = opts.bridges.indexOf(bridge);
          const peer = `v${h}b${bi}`;
          await bridgeNs.ip(['link', 'add', peer, 'type', 'veth', 'peer', 'name', bridge, 'netns', ns.netns]);
          await bridgeNs.ip(['link', 'set', peer, 'master', `br${bi}`]);
          await bridgeNs.ip(['link', 'set', peer, 'up']);
          await ns.ip(['addr', 'add', cidr, 'dev', bridge]);
          await ns.ip(['link', 'set', bridge, 'up']);
          topo.links.set(`${hostName}/${bridge}`, { host: hostName, bridge, ifname: bridge, peer, cidr, address: cidr.split('/')[0]! });
        }
        for (const [key, value] of Object.entries(opts.sysctls ?? {})) {
          await ns.exec(['sysctl', '-qw', `${key}=${value}`]);
        }
        h++;
      }
    } catch (err) {
      await topo.destroy();
      throw err;
    }
    return topo;
  }

  host(name: string): Netns {
    const ns = this.hostsByName.get(name);
    if (!ns) throw new HarnessError('ERR_TOPOLOGY', `no host ${name} in ${this.label}`);
    return ns;
  }

  hostNames(): string[] {
    return [...this.hostsByName.keys()];
  }

  /** All namespace names this topology owns (hosts and the bridge namespace). */
  namespaces(): string[] {
    return [this.bridgeNs.netns, ...[...this.hostsByName.values()].map((n) => n.netns)];
  }

  link(host: string, bridge: string): Link {
    const l = this.links.get(`${host}/${bridge}`);
    if (!l) throw new HarnessError('ERR_TOPOLOGY', `host ${host} is not on bridge ${bridge}`);
    return l;
  }

  /** The host's address on a bridge, without prefix length. */
  addr(host: string, bridge: string): string {
    return this.link(host, bridge).address;
  }

  /** Pulls the cable: the bridge-side end goes down, the host sees NO-CARRIER but keeps its addresses. */
  async cut(host: string, bridge: string): Promise<void> {
    await this.bridgeNs.ip(['link', 'set', this.link(host, bridge).peer, 'down']);
  }

  /** Plugs the cable back in. */
  async heal(host: string, bridge: string): Promise<void> {
    await this.bridgeNs.ip(['link', 'set', this.link(host, bridge).peer, 'up']);
  }

  /** True when `address` answers an ARP request sent from `host` on `bridge` (layer-2 reachability; no ping needed). */
  async arping(host: string, bridge: string, address: string, timeoutSec = 1): Promise<boolean> {
    const res = await this.host(host).exec(['arping', '-c', '1', '-w', String(timeoutSec), '-I', this.link(host, bridge).ifname, address], {
      allowFail: true,
    });
    return res.code === 0;
  }

  /** The host interface's MAC address on `bridge`. */
  async mac(host: string, bridge: string): Promise<string> {
    const res = await this.host(host).ip(['-j', 'link', 'show', 'dev', this.link(host, bridge).ifname]);
    const parsed = JSON.parse(res.stdout) as Array<{ address: string }>;
    return parsed[0]!.address;
  }

  /** Stops the hosts' processes and deletes every namespace. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroySync();
  }

  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const ns of this.hostsByName.values()) void ns.delete();
    void this.bridgeNs.delete();
    this.unregister?.();
  }
}
