// Starting a dualsip node for end-to-end tests. The CLI invocation lives here
// and only here: when the CLI's flags change, this is the one place to adapt.
import { fileURLToPath } from 'node:url';
import { cpuTimeMs } from './cpu.js';
import { localHost, type HostLike } from './netns.js';
import { freePort } from './ports.js';
import type { ManagedProcess } from './process.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_MAIN = 'packages/cli/src/main.ts';

export interface NodeOptions {
  /** Namespace to run in; default the current one. */
  host?: HostLike;
  sipAddress: string;
  /** Default: 5060 in a namespace, a free port on loopback. */
  sipPort?: number;
  /** --route-default, e.g. 'sip:127.0.0.1:5080'. */
  routeDefault: string;
  /** --route PREFIX=URI rules: Request-URI user prefix → target URI. */
  routes?: Readonly<Record<string, string>>;
  /** --sip-transports, e.g. ['udp', 'tcp']. Omitted: the CLI's default. */
  transports?: readonly string[];
  /** Engine admin (drachtio protocol) port. Default: the CLI's in a namespace, a free port on sipAddress on loopback (other tests share the machine). */
  drachtioPort?: number;
  /** --log-level; default the CLI's. */
  logLevel?: string;
  /** More CLI flags, appended after the ones above. */
  extraArgs?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** How long to wait for {"msg":"node ready"}. Default 30 s (tsx compiles on first start). */
  readyTimeoutMs?: number;
  name?: string;
}

export interface StartedNode {
  readonly process: ManagedProcess;
  readonly pid: number;
  readonly sipAddress: string;
  readonly sipPort: number;
  /** 'ip:port' for SIPp's remote argument. */
  readonly sipTarget: string;
  /** The "node ready" log record. */
  readonly ready: Record<string, unknown>;
  /** CPU ms used so far by the node's process tree. */
  cpuMs(): number;
  stop(timeoutMs?: number): Promise<void>;
}

/** The argv (after `node`) that starts a node; exported so benchmarks can record it. */
export function nodeArgv(opts: NodeOptions & { sipPort: number; drachtioPort?: number }): string[] {
  return [
    '--import', 'tsx',
    CLI_MAIN,
    'node',
    '--sip-address', opts.sipAddress,
    '--sip-port', String(opts.sipPort),
    '--route-default', opts.routeDefault,
    ...Object.entries(opts.routes ?? {}).flatMap(([prefix, uri]) => ['--route', `${prefix}=${uri}`]),
    ...(opts.transports ? ['--sip-transports', opts.transports.join(',')] : []),
    ...(opts.drachtioPort !== undefined ? ['--drachtio-address', opts.sipAddress, '--drachtio-port', String(opts.drachtioPort)] : []),
    ...(opts.logLevel ? ['--log-level', opts.logLevel] : []),
    ...(opts.extraArgs ?? []),
  ];
}

/** Spawns `dualsip node …` and resolves once it logs {"msg":"node ready"}. */
export async function startNode(opts: NodeOptions): Promise<StartedNode> {
  const host = opts.host ?? localHost;
  const sipPort = opts.sipPort ?? (host.netns ? 5060 : await freePort(opts.sipAddress));
  const drachtioPort = opts.drachtioPort ?? (host.netns ? undefined : await freePort(opts.sipAddress, new Set([sipPort])));
  const argv = nodeArgv({ ...opts, sipPort, drachtioPort });
  const proc = host.spawn(process.execPath, argv, {
    name: opts.name ?? `dualsip node ${opts.sipAddress}:${sipPort}`,
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    ringLines: 500,
    stopTimeoutMs: 5000,
  });
  let ready: Record<string, unknown>;
  try {
    ready = await proc.waitForLog((r) => r['msg'] === 'node ready', { timeoutMs: opts.readyTimeoutMs ?? 30_000 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return {
    process: proc,
    pid: proc.pid,
    sipAddress: opts.sipAddress,
    sipPort,
    sipTarget: `${opts.sipAddress}:${sipPort}`,
    ready,
    cpuMs: () => cpuTimeMs(proc.pid),
    stop: async (timeoutMs?: number) => {
      await proc.stop({ timeoutMs });
    },
  };
}
