/**
 * UDP and TCP transports (RFC 3261 §18) behind one object: binds the listen
 * addresses, hands every datagram / framed stream message up as bytes, and sends
 * bytes to a Destination (reusing TCP connections).
 */
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import { StreamFramer } from '../messages/framer.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../messages/parser.js';
import { TypedEmitter } from './typed-emitter.js';
import type { Destination, ListenSpec, ReceiveInfo } from './types.js';

export class TransportError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransportError';
    this.code = code;
  }
}

export interface TransportLayerOptions {
  listen: ListenSpec[];
  /** UDP SO_RCVBUF / SO_SNDBUF request in bytes (default 16 MiB: at 800 calls/s a 4 MiB buffer overflowed during event-loop stalls on a loaded host; the kernel caps it at net.core.rmem_max/wmem_max). */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Largest SIP message accepted on a TCP stream (default 65,535). */
  maxMessageSize?: number;
  /** TCP connections with no traffic for this long are closed (default 120 s). */
  idleTimeoutMs?: number;
  /** Raise net.core.rmem_max/wmem_max to the buffer sizes when running as root and they are lower (default true). */
  tuneSysctl?: boolean;
  logger?: Logger;
  /** Called instead of logging when a TCP stream breaks SIP framing and is closed (the engine counts and rate-limits these). */
  onMalformedStream?: (err: Error, remote: { address: string; port: number }) => void;
}

export type TransportEvents = {
  message: (buf: Buffer, info: ReceiveInfo) => void;
  error: (err: Error) => void;
  connection: (connectionId: string, remote: { address: string; port: number }) => void;
  connectionClosed: (connectionId: string, reason: string) => void;
};

interface TcpConn {
  id: string;
  socket: net.Socket;
  framer: StreamFramer;
  remoteKey: string;
  remote: { address: string; port: number };
  local: { address: string; port: number };
  connected: boolean;
  /** error callbacks of sends made before the connection was up */
  pendingErrors: Array<(err: Error) => void>;
  closeReason?: string;
}

const DEFAULT_BUFFER = 16 * 1024 * 1024;
let connSeq = 0;

function remoteKey(address: string, port: number): string {
  return `${address.toLowerCase()}|${port}`;
}

/** 4 or 6 for an IP literal, 0 otherwise — without the regular expressions of net.isIP on every datagram. */
function ipFamily(a: string): 0 | 4 | 6 {
  if (a.includes(':')) return net.isIPv6(a) ? 6 : 0;
  let dots = 0;
  let digits = 0;
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (c === 46) {
      if (digits === 0) return 0;
      dots++;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) digits++;
    else return 0;
  }
  return dots === 3 && digits > 0 ? (net.isIPv4(a) ? 4 : 0) : 0;
}

const ipCache = new Map<string, 0 | 4 | 6>();
function familyOf(a: string): 0 | 4 | 6 {
  let f = ipCache.get(a);
  if (f === undefined) {
    f = ipFamily(a);
    if (ipCache.size > 10_000) ipCache.clear();
    ipCache.set(a, f);
  }
  return f;
}

/**
 * dgram resolves every destination through dns.lookup, which for an IP literal still defers the send to
 * the next tick behind a regular-expression check. Destinations here are always IP literals (the UA
 * resolves names before), so answer at once.
 */
function literalLookup(host: string, _opts: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  const f = familyOf(host);
  if (f === 0) cb(new TransportError('ERR_BAD_DESTINATION', `not an IP address: ${host}`), host, 4);
  else cb(null, host, f);
}

function stripV4Mapped(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export class TransportLayer extends TypedEmitter<TransportEvents> {
  private readonly opts: Required<Omit<TransportLayerOptions, 'logger' | 'onMalformedStream'>> & Pick<TransportLayerOptions, 'logger' | 'onMalformedStream'>;
  private readonly udp: Array<{ socket: dgram.Socket; local: { address: string; port: number }; family: 4 | 6 }> = [];
  private readonly tcpServers: Array<{ server: net.Server; local: { address: string; port: number } }> = [];
  private readonly conns = new Map<string, TcpConn>();
  private readonly byRemote = new Map<string, string>();
  private state: 'new' | 'starting' | 'started' | 'closing' | 'closed' = 'new';
  private closePromise: Promise<void> | undefined;
  private udpQueue: Array<{ socket: dgram.Socket; buf: Buffer; port: number; address: string; onError?: (err: Error) => void }> = [];
  /** set when UDP datagrams are queued or TCP sockets corked: flushUdp runs at the end of this loop turn */
  private udpFlushScheduled = false;
  private corked: net.Socket[] = [];

  constructor(opts: TransportLayerOptions) {
    super();
    if (!opts || !Array.isArray(opts.listen) || opts.listen.length === 0) {
      throw new TransportError('ERR_INVALID_ARGUMENT', 'TransportLayer needs at least one listen address');
    }
    for (const l of opts.listen) {
      if ((l.transport !== 'udp' && l.transport !== 'tcp') || net.isIP(l.address) === 0 || !Number.isInteger(l.port) || l.port < 0 || l.port > 65535) {
        throw new TransportError('ERR_INVALID_ARGUMENT', `bad listen spec ${JSON.stringify(l)} (transport udp|tcp, IP address, port 0-65535)`);
      }
    }
    this.opts = {
      listen: opts.listen,
      recvBufferSize: opts.recvBufferSize ?? DEFAULT_BUFFER,
      sendBufferSize: opts.sendBufferSize ?? DEFAULT_BUFFER,
      maxMessageSize: opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      idleTimeoutMs: opts.idleTimeoutMs ?? 120_000,
      tuneSysctl: opts.tuneSysctl ?? true,
      logger: opts.logger,
      onMalformedStream: opts.onMalformedStream,
    };
  }

  protected override onListenerError(err: unknown, event: string): void {
    this.opts.logger?.error({ err, event }, 'transport listener threw');
  }

  /** Binds every listen address. Rejects with a TransportError whose code is the OS error (EADDRINUSE ...). */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new TransportError('ERR_STATE', `start() called in state ${this.state}`);
    this.state = 'starting';
    if (this.opts.listen.some((l) => l.transport === 'udp')) this.tuneKernelBuffers();
    try {
      for (const l of this.opts.listen) {
        if (l.transport === 'udp') await this.bindUdp(l);
        else await this.listenTcp(l);
      }
    } catch (err) {
      this.destroy();
      throw err;
    }
    this.state = 'started';
  }

  private tuneKernelBuffers(): void {
    const want = { rmem_max: this.opts.recvBufferSize, wmem_max: this.opts.sendBufferSize };
    for (const [name, size] of Object.entries(want)) {
      const path = `/proc/sys/net/core/${name}`;
      try {
        const cur = Number(readFileSync(path, 'utf8').trim());
        if (cur >= size) continue;
        if (this.opts.tuneSysctl && process.getuid?.() === 0) {
          writeFileSync(path, String(size));
          this.opts.logger?.info({ sysctl: `net.core.${name}`, from: cur, to: size }, 'raised kernel socket buffer limit');
        } else {
          this.opts.logger?.warn({ sysctl: `net.core.${name}`, value: cur, wanted: size }, 'kernel caps UDP socket buffers below the requested size');
        }
      } catch (err) {
        this.opts.logger?.debug({ err, path }, 'cannot read or tune socket buffer sysctl');
      }
    }
  }

  private bindUdp(l: ListenSpec): Promise<void> {
    const family = net.isIPv6(l.address) ? 6 : 4;
    const socket = dgram.createSocket({
      type: family === 6 ? 'udp6' : 'udp4',
      recvBufferSize: this.opts.recvBufferSize,
      sendBufferSize: this.opts.sendBufferSize,
      ipv6Only: family === 6,
      lookup: literalLookup as unknown as dgram.SocketOptions['lookup'],
    });
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        socket.close();
        reject(new TransportError(err.code ?? 'ERR_BIND', `cannot bind udp ${l.address}:${l.port}: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.bind({ address: l.address, port: l.port, exclusive: true }, () => {
        socket.off('error', onError);
        const a = socket.address();
        const local = { address: a.address, port: a.port };
        const entry = { socket, local, family: family as 4 | 6 };
        this.udp.push(entry);
        this.opts.logger?.info(
          { transport: 'udp', ...local, rcvbuf: socket.getRecvBufferSize(), sndbuf: socket.getSendBufferSize() },
          'listening',
        );
        socket.on('error', (err) => {
          this.opts.logger?.warn({ err, ...local }, 'udp socket error');
          this.emit('error', err);
        });
        socket.on('message', (buf, rinfo) => {
          this.emit('message', buf, {
            transport: 'udp',
            remote: { address: stripV4Mapped(rinfo.address), port: rinfo.port },
            local,
          });
        });
        resolve();
      });
    });
  }

  private listenTcp(l: ListenSpec): Promise<void> {
    const server = net.createServer({ noDelay: true });
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.close();
        reject(new TransportError(err.code ?? 'ERR_LISTEN', `cannot listen on tcp ${l.address}:${l.port}: ${err.message}`, { cause: err }));
      };
      server.once('error', onError);
      server.listen({ host: l.address, port: l.port, exclusive: true, ipv6Only: net.isIPv6(l.address) }, () => {
        server.off('error', onError);
        const a = server.address() as net.AddressInfo;
        const local = { address: a.address, port: a.port };
        this.tcpServers.push({ server, local });
        this.opts.logger?.info({ transport: 'tcp', ...local }, 'listening');
        server.on('error', (err) => this.emit('error', err));
        server.on('connection', (socket) => {
          if (this.state === 'closing' || this.state === 'closed') {
            socket.destroy();
            return;
          }
          this.addConnection(socket, true);
        });
        resolve();
      });
    });
  }

  private addConnection(socket: net.Socket, connected: boolean, remote?: { address: string; port: number }): TcpConn {
    // unique across TransportLayer instances: the engine runs one per listen address
    const id = `tcp-${++connSeq}`;
    const r = remote ?? { address: stripV4Mapped(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
    const conn: TcpConn = {
      id,
      socket,
      framer: new StreamFramer({ maxSize: this.opts.maxMessageSize }),
      remoteKey: remoteKey(r.address, r.port),
      remote: r,
      local: { address: stripV4Mapped(socket.localAddress ?? ''), port: socket.localPort ?? 0 },
      connected,
      pendingErrors: [],
    };
    this.conns.set(id, conn);
    this.byRemote.set(conn.remoteKey, id);
    socket.setNoDelay(true);
    socket.setTimeout(this.opts.idleTimeoutMs, () => this.closeConnection(conn, 'idle timeout'));
    let closedReason = 'closed by peer';
    socket.on('data', (chunk: Buffer) => {
      let msgs: Buffer[];
      try {
        msgs = conn.framer.push(chunk);
      } catch (err) {
        conn.closeReason = `malformed stream: ${(err as Error).message}`;
        if (this.opts.onMalformedStream) this.opts.onMalformedStream(err as Error, conn.remote);
        else this.opts.logger?.warn({ err, connection: id, remote: conn.remote }, 'closing TCP connection: malformed SIP stream');
        socket.destroy();
        return;
      }
      const info: ReceiveInfo = { transport: 'tcp', remote: conn.remote, local: conn.local, connectionId: id };
      for (const m of msgs) this.emit('message', m, info);
    });
    socket.on('error', (err) => {
      closedReason = `error: ${err.message}`;
      const pending = conn.pendingErrors.splice(0);
      for (const cb of pending) cb(err);
      this.opts.logger?.debug({ err, connection: id }, 'tcp connection error');
    });
    socket.on('close', () => {
      this.conns.delete(id);
      if (this.byRemote.get(conn.remoteKey) === id) this.byRemote.delete(conn.remoteKey);
      this.emit('connectionClosed', id, conn.closeReason ?? closedReason);
    });
    if (connected) this.emit('connection', id, r);
    return conn;
  }

  private closeConnection(conn: TcpConn, reason: string): void {
    this.opts.logger?.debug({ connection: conn.id, reason }, 'closing tcp connection');
    conn.closeReason = reason;
    conn.socket.end();
    conn.socket.destroy();
  }

  /**
   * Sends bytes. UDP: from the first bound socket of the destination's address family. TCP: on connectionId if
   * still open, else on an open connection to address:port, else a new connection. Errors (also later ones such as
   * a refused connect) go to `onError`, or to the 'error' event when no callback is given; send() never throws.
   */
  send(buf: Buffer, dest: Destination, onError?: (err: Error) => void): void {
    const fail = (err: Error) => {
      if (onError) onError(err);
      else this.emit('error', err);
    };
    if (this.state !== 'started') {
      fail(new TransportError('ERR_NOT_STARTED', `transport is ${this.state}`));
      return;
    }
    if (dest.transport === 'udp') {
      const family = familyOf(dest.address);
      if (family === 0 || !Number.isInteger(dest.port) || dest.port <= 0 || dest.port > 65535) {
        fail(new TransportError('ERR_BAD_DESTINATION', `bad UDP destination ${dest.address}:${dest.port}`));
        return;
      }
      const entry = this.udp.length === 1 && this.udp[0]!.family === family ? this.udp[0] : this.udp.find((u) => u.family === family);
      if (!entry) {
        fail(new TransportError('ERR_NO_TRANSPORT', `no UDP socket for IPv${family} destination ${dest.address}`));
        return;
      }
      // Without a callback a datagram that leaves at once costs no completion callback; a later error
      // reaches the socket's 'error' event (logged and re-emitted above).
      this.udpQueue.push({ socket: entry.socket, buf, port: dest.port, address: dest.address, onError });
      if (!this.udpFlushScheduled) {
        this.udpFlushScheduled = true;
        setImmediate(this.flushUdp);
      }
      return;
    }
    if (dest.transport !== 'tcp') {
      fail(new TransportError('ERR_NO_TRANSPORT', `unsupported transport ${String(dest.transport)}`));
      return;
    }
    let conn = dest.connectionId !== undefined ? this.conns.get(dest.connectionId) : undefined;
    if (conn && conn.socket.destroyed) conn = undefined;
    if (!conn) {
      const id = this.byRemote.get(remoteKey(dest.address, dest.port));
      conn = id !== undefined ? this.conns.get(id) : undefined;
      if (conn && conn.socket.destroyed) conn = undefined;
    }
    // §18.2.2: "If the connection is no longer open, the server SHOULD open a connection to the IP address in the
    // received parameter, if present, using the port in the sent-by value" — connectPort; an open connection to
    // that address and port serves as well (e.g. the far end connected again after a takeover).
    const port = dest.connectPort ?? dest.port;
    if (!conn && port !== dest.port) {
      const id = this.byRemote.get(remoteKey(dest.address, port));
      conn = id !== undefined ? this.conns.get(id) : undefined;
      if (conn && conn.socket.destroyed) conn = undefined;
    }
    if (!conn) {
      if (net.isIP(dest.address) === 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
        fail(new TransportError('ERR_BAD_DESTINATION', `bad TCP destination ${dest.address}:${port}`));
        return;
      }
      // From the listening address (a floating IP on a pair) when it is a specific one, so the far end sees the
      // address it knows us by, not whichever address the routing table picks.
      const localAddress = this.tcpSourceAddress(dest.address);
      const socket = net.connect({ host: dest.address, port, noDelay: true, ...(localAddress ? { localAddress } : {}) });
      conn = this.addConnection(socket, false, { address: dest.address, port });
      const c = conn;
      socket.once('connect', () => {
        c.connected = true;
        c.pendingErrors.length = 0;
        c.local = { address: stripV4Mapped(socket.localAddress ?? ''), port: socket.localPort ?? 0 };
        this.emit('connection', c.id, c.remote);
      });
    }
    if (!conn.connected) conn.pendingErrors.push(fail);
    // Messages written to one connection in a turn of the event loop go out as one writev at its end.
    if (!conn.socket.writableCorked) {
      conn.socket.cork();
      this.corked.push(conn.socket);
      if (!this.udpFlushScheduled) {
        this.udpFlushScheduled = true;
        setImmediate(this.flushUdp);
      }
    }
    conn.socket.write(buf, (err) => {
      if (err && conn!.connected) fail(err);
    });
  }

  /** The TCP listening address to connect from toward `dest`: none for a wildcard listener or another address family. */
  private tcpSourceAddress(dest: string): string | undefined {
    const family = familyOf(dest);
    for (const t of this.tcpServers) {
      const a = t.local.address;
      if (a === '0.0.0.0' || a === '::' || familyOf(a) !== family) continue;
      return a;
    }
    return undefined;
  }

  /**
   * Datagrams queued (and TCP connections corked) during one turn of the event loop leave together at its end: the same syscalls, but
   * back to back, so a peer woken by the first is usually still awake for the rest (on this 2-core VM the
   * wake-ups, not the copies, made sendmsg the engine's largest cost). Order is kept.
   */
  private readonly flushUdp = (): void => {
    this.udpFlushScheduled = false;
    if (this.corked.length > 0) {
      const corked = this.corked;
      this.corked = [];
      for (const sock of corked) if (!sock.destroyed) sock.uncork();
    }
    const q = this.udpQueue;
    if (q.length === 0) return;
    this.udpQueue = [];
    for (const d of q) {
      try {
        if (d.onError) {
          const onError = d.onError;
          d.socket.send(d.buf, d.port, d.address, (err) => err && onError(err));
        } else d.socket.send(d.buf, d.port, d.address);
      } catch (err) {
        // socket closed meanwhile
        if (d.onError) d.onError(err as Error);
      }
    }
  };

  /** The bound addresses, with port 0 resolved. */
  listening(): ListenSpec[] {
    return [
      ...this.udp.map((u) => ({ transport: 'udp' as const, address: u.local.address, port: u.local.port })),
      ...this.tcpServers.map((t) => ({ transport: 'tcp' as const, address: t.local.address, port: t.local.port })),
    ];
  }

  /** The kernel's actual SO_RCVBUF/SO_SNDBUF per UDP socket (Linux reports twice the usable size). */
  udpBufferSizes(): Array<{ address: string; port: number; recv: number; send: number }> {
    return this.udp.map((u) => ({ ...u.local, recv: u.socket.getRecvBufferSize(), send: u.socket.getSendBufferSize() }));
  }

  /** True if the TCP connection `id` belongs to this layer and is open. */
  hasConnection(id: string): boolean {
    const c = this.conns.get(id);
    return c !== undefined && !c.socket.destroyed;
  }

  /** Open TCP connections. */
  get connectionCount(): number {
    return this.conns.size;
  }

  /** Stops listening, lets TCP connections flush and end, closes UDP sockets. Idempotent. */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.state = 'closing';
    const waits: Promise<void>[] = [];
    for (const t of this.tcpServers) waits.push(new Promise((r) => t.server.close(() => r())));
    for (const c of this.conns.values()) {
      waits.push(new Promise((r) => (c.socket.destroyed ? r() : c.socket.once('close', () => r()))));
      c.socket.end();
      c.socket.setTimeout(2000, () => c.socket.destroy());
    }
    this.flushUdp();
    for (const u of this.udp) waits.push(new Promise((r) => u.socket.close(() => r())));
    this.closePromise = Promise.all(waits).then(() => {
      this.state = 'closed';
    });
    return this.closePromise;
  }

  /** Aborts everything at once. Idempotent. */
  destroy(err?: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.udpQueue = [];
    this.corked = [];
    for (const c of this.conns.values()) c.socket.destroy();
    for (const t of this.tcpServers) t.server.close();
    for (const u of this.udp) {
      try {
        u.socket.close();
      } catch {
        /* already closed */
      }
    }
    this.closePromise ??= Promise.resolve();
    if (err) this.emit('error', err);
  }
}
