/**
 * In-memory heartbeat network for unit tests: endpoints per node, delivery through the
 * injected Clock after `latencyMs`, and cuts per path and direction to simulate lost
 * links, isolation and healing. Packets sent across a cut are lost (as on a real link).
 */
import type { Clock } from './clock.js';
import { HaError } from './errors.js';
import type { HeartbeatPathInfo, HeartbeatReceiver, HeartbeatTransport } from './heartbeat.js';

export class InMemoryHeartbeatNetwork {
  private readonly clock: Clock;
  private readonly latencyMs: number;
  private readonly endpoints = new Map<string, InMemoryHeartbeatTransport>();
  /** "from>to@path" entries that currently drop packets. */
  private readonly cuts = new Set<string>();
  /** Datagrams handed to a receiver, per "from>to@path". */
  readonly delivered = new Map<string, number>();

  constructor(opts: { clock: Clock; latencyMs?: number }) {
    this.clock = opts.clock;
    this.latencyMs = opts.latencyMs ?? 1;
  }

  /** The transport for `nodeId`, whose only peer is `peerId`. */
  endpoint(opts: { nodeId: string; peerId: string; paths: HeartbeatPathInfo[] }): InMemoryHeartbeatTransport {
    const t = new InMemoryHeartbeatTransport(this, opts.nodeId, opts.peerId, opts.paths);
    this.endpoints.set(opts.nodeId, t);
    return t;
  }

  /** Drops packets on `path` (both directions unless `from` is given). */
  cut(path: string, opts: { from?: string; to?: string } = {}): void {
    for (const [a, b] of this.pairs(opts)) this.cuts.add(`${a}>${b}@${path}`);
  }

  heal(path: string, opts: { from?: string; to?: string } = {}): void {
    for (const [a, b] of this.pairs(opts)) this.cuts.delete(`${a}>${b}@${path}`);
  }

  /** Cuts every path to and from `nodeId`. */
  isolate(nodeId: string, paths: string[]): void {
    for (const p of paths) {
      this.cut(p, { from: nodeId });
      this.cut(p, { to: nodeId });
    }
  }

  rejoin(nodeId: string, paths: string[]): void {
    for (const p of paths) {
      this.heal(p, { from: nodeId });
      this.heal(p, { to: nodeId });
    }
  }

  /** Delivers raw bytes to `to` on `path` as if sent by `from` (forgery tests). */
  inject(opts: { to: string; path: string; data: Buffer; from?: string }): void {
    const t = this.endpoints.get(opts.to);
    t?.deliver(opts.path, opts.data, opts.from ?? 'injected');
  }

  /** Called by an endpoint. */
  transmit(from: string, to: string, path: string, data: Buffer): void {
    const key = `${from}>${to}@${path}`;
    if (this.cuts.has(key)) return;
    const copy = Buffer.from(data);
    this.clock.setTimeout(() => {
      const t = this.endpoints.get(to);
      if (!t || this.cuts.has(key)) return;
      if (t.deliver(path, copy, from)) this.delivered.set(key, (this.delivered.get(key) ?? 0) + 1);
    }, this.latencyMs);
  }

  private pairs(opts: { from?: string; to?: string }): Array<[string, string]> {
    const ids = [...this.endpoints.keys()];
    const out: Array<[string, string]> = [];
    for (const a of ids) for (const b of ids) {
      if (a === b) continue;
      if (opts.from !== undefined && a !== opts.from) continue;
      if (opts.to !== undefined && b !== opts.to) continue;
      out.push([a, b]);
    }
    return out;
  }
}

export class InMemoryHeartbeatTransport implements HeartbeatTransport {
  readonly paths: readonly HeartbeatPathInfo[];
  private receiver: HeartbeatReceiver | undefined;
  private closed = false;

  constructor(
    private readonly net: InMemoryHeartbeatNetwork,
    readonly nodeId: string,
    readonly peerId: string,
    paths: HeartbeatPathInfo[],
  ) {
    this.paths = paths.map((p) => ({ ...p }));
  }

  async start(receiver: HeartbeatReceiver): Promise<void> {
    if (this.closed) throw new HaError({ code: 'ERR_HA_CLOSED', message: 'transport is closed' });
    this.receiver = receiver;
  }

  send(path: string, data: Buffer): void {
    if (this.closed) return;
    if (!this.paths.some((p) => p.name === path)) throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: `unknown heartbeat path ${path}` });
    this.net.transmit(this.nodeId, this.peerId, path, data);
  }

  /** Returns true when a receiver took the datagram. */
  deliver(path: string, data: Buffer, from: string): boolean {
    if (this.closed || !this.receiver) return false;
    this.receiver(path, data, from);
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.receiver = undefined;
  }
}
