/**
 * HeartbeatTransport over UDP: one dgram socket per path, bound to the path's local
 * address, sending to the peer's address on that network. Datagrams from any other
 * source address are dropped before decoding (the MAC check still follows).
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { HaError } from './errors.js';
import type { HeartbeatPathInfo, HeartbeatReceiver, HeartbeatTransport, PathNetwork } from './heartbeat.js';
import { HEARTBEAT_MAX_BYTES } from './heartbeat.js';
import { silentLogger, type HaLogger } from './emitter.js';

export interface UdpEndpoint {
  address: string;
  port: number;
}

export interface UdpPathOptions {
  name: string;
  network: PathNetwork;
  /** Local bind address and port (port 0 = ephemeral, read it back with localEndpoint()). */
  local: UdpEndpoint;
  /** The peer on this network; may be set later with setPeer() (tests with ephemeral ports). */
  peer?: UdpEndpoint;
}

interface PathSocket {
  opts: UdpPathOptions;
  socket: dgram.Socket;
  peer: UdpEndpoint | undefined;
  bound: boolean;
  /** Sends handed to Node whose callback has not run yet. */
  pending: number;
  drained: Array<() => void>;
}

/** How long close() lets in-flight heartbeats (the goodbye) leave before closing. */
const CLOSE_DRAIN_MS = 200;

export class UdpHeartbeatTransport implements HeartbeatTransport {
  readonly paths: readonly HeartbeatPathInfo[];
  private readonly sockets = new Map<string, PathSocket>();
  private readonly logger: HaLogger;
  private receiver: HeartbeatReceiver | undefined;
  private bindPromise: Promise<void> | undefined;
  private closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(opts: { paths: UdpPathOptions[]; logger?: HaLogger }) {
    if (opts.paths.length === 0) throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: 'at least one heartbeat path is required' });
    this.logger = opts.logger ?? silentLogger;
    for (const p of opts.paths) {
      if (this.sockets.has(p.name)) throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: `duplicate path name ${p.name}` });
      const socket = dgram.createSocket({ type: isIPv6(p.local.address) ? 'udp6' : 'udp4' });
      this.sockets.set(p.name, { opts: p, socket, peer: p.peer, bound: false, pending: 0, drained: [] });
    }
    this.paths = opts.paths.map((p) => ({ name: p.name, network: p.network }));
  }

  /** Binds every path's socket; idempotent. start() calls it too. */
  bind(): Promise<void> {
    if (this.closed) return Promise.reject(new HaError({ code: 'ERR_HA_CLOSED', message: 'transport is closed' }));
    this.bindPromise ??= Promise.all(
      [...this.sockets.values()].map(
        (ps) =>
          new Promise<void>((resolve, reject) => {
            const onError = (err: Error): void => {
              reject(new HaError({ code: 'ERR_HA_TRANSPORT', message: `cannot bind heartbeat path ${ps.opts.name} on ${ps.opts.local.address}:${ps.opts.local.port}: ${err.message}`, cause: err }));
            };
            ps.socket.once('error', onError);
            ps.socket.bind({ address: ps.opts.local.address, port: ps.opts.local.port, exclusive: true }, () => {
              ps.socket.off('error', onError);
              ps.bound = true;
              ps.socket.on('error', (err) => this.logger.warn({ path: ps.opts.name, err: err.message }, 'heartbeat socket error'));
              ps.socket.on('message', (data, rinfo) => this.onMessage(ps, data, rinfo));
              resolve();
            });
          }),
      ),
    ).then(() => undefined);
    return this.bindPromise;
  }

  /** The bound local address of a path (after bind()). */
  localEndpoint(path: string): UdpEndpoint {
    const ps = this.get(path);
    const a = ps.socket.address();
    return { address: a.address, port: a.port };
  }

  setPeer(path: string, peer: UdpEndpoint): void {
    this.get(path).peer = peer;
  }

  async start(receiver: HeartbeatReceiver): Promise<void> {
    await this.bind();
    this.receiver = receiver;
  }

  send(path: string, data: Buffer): void {
    if (this.closed) return;
    const ps = this.get(path);
    if (!ps.bound || !ps.peer) return;
    ps.pending++;
    ps.socket.send(data, ps.peer.port, ps.peer.address, (err) => {
      ps.pending--;
      if (ps.pending === 0) for (const fn of ps.drained.splice(0)) fn();
      // A path that is down shows up as a send error (ENETUNREACH...) or as silence:
      // either way it is just a missed heartbeat for the peer.
      if (err) this.logger.debug({ path, err: err.message }, 'heartbeat send failed');
    });
  }

  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.closed = true;
    this.receiver = undefined;
    this.closePromise = Promise.all(
      [...this.sockets.values()].map(
        (ps) =>
          new Promise<void>((resolve) => {
            // A send still in flight (the goodbye heartbeat, sent just before close) is
            // dropped by Node if the socket closes first: let it leave, for at most
            // CLOSE_DRAIN_MS.
            let shutDone = false;
            const shut = (): void => {
              if (shutDone) return;
              shutDone = true;
              clearTimeout(timer);
              try {
                ps.socket.close(() => resolve());
              } catch {
                resolve(); // never bound or already closed
              }
            };
            const timer = setTimeout(shut, ps.pending > 0 ? CLOSE_DRAIN_MS : 0);
            if (ps.pending > 0) ps.drained.push(shut);
            else shut();
          }),
      ),
    ).then(() => undefined);
    return this.closePromise;
  }

  private get(path: string): PathSocket {
    const ps = this.sockets.get(path);
    if (!ps) throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: `unknown heartbeat path ${path}` });
    return ps;
  }

  private onMessage(ps: PathSocket, data: Buffer, rinfo: dgram.RemoteInfo): void {
    const from = `${rinfo.address}:${rinfo.port}`;
    if (data.length > HEARTBEAT_MAX_BYTES) {
      this.logger.warn({ path: ps.opts.name, from, bytes: data.length }, 'oversized datagram on heartbeat path dropped');
      return;
    }
    if (!ps.peer || rinfo.address !== ps.peer.address || rinfo.port !== ps.peer.port) {
      this.logger.warn({ path: ps.opts.name, from }, 'datagram from unexpected source on heartbeat path dropped');
      return;
    }
    this.receiver?.(ps.opts.name, data, from);
  }
}
